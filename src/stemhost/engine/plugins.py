"""Effect models become pedalboard plugins: the one place a session's effects turn into native code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pedalboard

from stemhost.engine.sources import read_impulse_response
from stemhost.errors import AudioFileError, SessionError
from stemhost.session.effects import Convolution, _Effect


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
