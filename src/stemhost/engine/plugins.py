"""Effect models become pedalboard plugins and chains: the one place a session's effects turn into native code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pedalboard

from stemhost.engine.chain import AlignedChain
from stemhost.engine.plugin_stage import plugin_stage
from stemhost.engine.sources import read_impulse_response
from stemhost.errors import AudioFileError, SessionError
from stemhost.session.effects import Convolution, ThirdPartyPlugin, _Effect


def build_plugin(effect: _Effect, *, base_dir: Path, sample_rate: float, where: str) -> pedalboard.Plugin:
    """Instantiate the pedalboard plugin an effect model describes.

    Args:
        effect: a validated effect model.
        base_dir: the folder relative paths (impulse responses) are resolved against.
        sample_rate: the rate the plugin will run at, in Hz, for the Nyquist check.
        where: the effect's location for messages, e.g. ``session.json: stems[0].chain[1]``.
    """
    kwargs = effect.kwargs()
    cutoff = kwargs.get("cutoff_frequency_hz")
    if cutoff is not None and cutoff >= sample_rate / 2:
        raise SessionError(
            f"{where}.cutoff_frequency_hz: {cutoff!r} is at or above the Nyquist frequency "
            f"({sample_rate / 2:g} Hz at {sample_rate:g} Hz); choose a lower cutoff"
        )
    if isinstance(effect, Convolution):
        path = base_dir / effect.impulse_response_filename
        where = f"{where}.impulse_response_filename"
        impulse_response, rate = read_impulse_response(path, where)  # not by pedalboard: it trusts the header
        if impulse_response.shape[1] < 3:  # pedalboard takes a (2, 1) or (2, 2) array for mono: pad it with silence
            impulse_response = np.pad(impulse_response, ((0, 0), (0, 3 - impulse_response.shape[1])))
        try:
            return pedalboard.Convolution(impulse_response, mix=effect.mix, sample_rate=rate)
        except (RuntimeError, ValueError) as exc:
            raise AudioFileError(f"{where}: {str(path)!r} cannot be used as an impulse response ({exc})") from exc
    return getattr(pedalboard, type(effect).__name__)(**kwargs)


def build_chain(
    effects: Sequence[_Effect],
    channels: int,
    *,
    base_dir: Path,
    sample_rate: float,
    block_size: int,
    folders: Sequence[Path],
    where: str,
) -> AlignedChain:
    """A strip's chain, ready to stream: runs of built-in effects as one Pedalboard each, and each
    third-party plugin as its own stage (loaded from the plugin folders only, see :mod:`plugin_stage`).

    Args:
        effects: the strip's validated chain.
        channels: the channel count of the strip's audio (1 for a mono stem, 2 for buses).
        base_dir: the folder relative paths (impulse responses) are resolved against.
        sample_rate: Hz.
        block_size: frames per block the graph streams.
        folders: the resolved plugin folders third-party plugins may be loaded from.
        where: the strip's location (``session.json: stems[0]``).
    """
    parts: list = []
    board: list[pedalboard.Plugin] = []
    flowing = channels
    for k, effect in enumerate(effects):
        at = f"{where}.chain[{k}]"
        if isinstance(effect, ThirdPartyPlugin):
            if board:
                parts.append(pedalboard.Pedalboard(board))
                board = []
            stage = plugin_stage(effect, folders, sample_rate, flowing, block_size, at)
            stage.index = k  # its place in the session's chain, for live bypass
            parts.append(stage)
            flowing = stage.channels
        else:
            board.append(build_plugin(effect, base_dir=base_dir, sample_rate=sample_rate, where=at))
    if board:
        parts.append(pedalboard.Pedalboard(board))
    return AlignedChain(parts, sample_rate, channels, block_size)
