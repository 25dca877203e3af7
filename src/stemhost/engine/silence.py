"""Silence-aware processing: a chain whose input is digital silence and which has rung out stops running.

A :class:`SilenceGate` sits in front of a strip's :class:`~stemhost.engine.chain.AlignedChain`. While the
input is all zeros it keeps running the chain and watches its output; once the output has stayed below
:data:`QUIET` (−120 dBFS) for the chain's *hold* (its latency, one block and the tails of its effects, see
:func:`tail_seconds`), the gate sleeps: the chain is not run and the strip is silent. The zeros it stands for
differ from what the chain would have returned by less than :data:`QUIET`. When sound returns the chain is
reset, which is where a long silence would have left it, and runs again. A latent stage is then fed its
latency in silence and its output kept, as if it had run all along: the skipped blocks count as processed,
every frame stays where it was, and a lookahead's output ahead of the sound (a linear-phase filter's
pre-ringing) is there.

A fresh chain is in its reset state, so a gate starts asleep: a stem that is silent at the start costs nothing
until it sounds.

Effects whose state does not settle in silence are never put to sleep: Chorus and Phaser (their LFO runs on
through silence; a reset would restart it), a frozen Reverb, Convolution (its tail is its impulse response,
which the plugin does not tell) and third-party plugins (their tails and LFOs are unknown).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pedalboard

if TYPE_CHECKING:
    from stemhost.engine.chain import AlignedChain

QUIET = 1e-6  # linear: −120 dBFS; output below it for the whole hold counts as rung out
RING_S = 0.1  # seconds of quiet output every chain needs (filters' ringing, reverb's comb delays)
RELEASES = 3.0  # a dynamics processor's envelope falls below 1e-6 of its peak within ~2.2 release times
RINGING = (  # built-in effects whose state with silent input is a decaying ring (anything else not named: never)
    pedalboard.HighpassFilter,
    pedalboard.LowpassFilter,
    pedalboard.HighShelfFilter,
    pedalboard.LowShelfFilter,
    pedalboard.PeakFilter,
    pedalboard.LadderFilter,
    pedalboard.Gain,
    pedalboard.Distortion,
    pedalboard.Clipping,
    pedalboard.Invert,
)  # not Resample: its output depends on where in its cycle a sound starts, which a reset moves


def all_zeros(block: np.ndarray) -> bool:
    """Whether ``(channels, n)`` audio is digital silence. A sounding block mostly ends on a nonzero sample,
    which answers at once; only then is every sample looked at."""
    return block.shape[1] == 0 or not (block[:, -1].any() or block.any())


def tail_seconds(plugin: pedalboard.Plugin) -> float | None:
    """Seconds a built-in effect may keep state with silent input beyond its quiet output, or None when
    its state never settles (it must not be put to sleep)."""
    if isinstance(plugin, pedalboard.Compressor | pedalboard.Limiter):
        return RELEASES * plugin.release_ms / 1000
    if isinstance(plugin, pedalboard.NoiseGate):
        return RELEASES * (plugin.attack_ms + plugin.release_ms) / 1000
    if isinstance(plugin, pedalboard.Delay):
        return float(plugin.delay_seconds)
    if isinstance(plugin, pedalboard.Reverb):
        return None if plugin.freeze_mode >= 0.5 else 0.0
    if isinstance(plugin, RINGING):
        return 0.0  # their state rings down, which the output shows
    return None


def hold_frames(chain: AlignedChain, sample_rate: float, block_size: int) -> int | None:
    """Frames of silent input and quiet output after which the chain counts as rung out, or None if it never
    sleeps (an empty chain has nothing to skip)."""
    if not chain.stages:
        return None
    tail = 0.0
    for stage in chain.stages:
        board = getattr(stage, "board", None)
        if board is None:  # a third-party plugin
            return None
        for plugin in board:
            seconds = tail_seconds(plugin)
            if seconds is None:
                return None
            tail += seconds
    return chain.latency + block_size + math.ceil((tail + RING_S) * sample_rate)


class SilenceGate:
    """Runs a chain only when its output can differ from silence (see the module's notes).

    Args:
        chain: the chain it runs.
        block_size: frames per block.

    Attributes:
        asleep: the chain is not running (its output is taken as silence).
        skipped: blocks not run, for figures.
    """

    def __init__(self, chain: AlignedChain, block_size: int) -> None:
        self.chain = chain
        self.hold = hold_frames(chain, chain.sample_rate, block_size)
        self.asleep = self.hold is not None
        self.skipped = 0
        self._quiet = 0  # frames of silent input with quiet output, in a row

    def process(self, block: np.ndarray, silent: bool | None = None) -> np.ndarray | None:
        """Run the chain on ``(channels, n)`` audio; None when it is asleep (its output is silence).

        Args:
            block: the input.
            silent: whether the block is all zeros, if the caller knows; else it is checked here.
        """
        if self.hold is None:
            return self.chain.process(block)
        if silent is None:
            silent = all_zeros(block)
        if silent and self.asleep:
            self.skipped += 1
            return None
        if self.asleep:
            self.chain.reset()
            self.asleep = False
        out = self.chain.process(block)
        if not silent or np.abs(out).max(initial=0.0) >= QUIET:
            self._quiet = 0
        else:
            self._quiet += block.shape[1]
            self.asleep = self._quiet >= self.hold
        return out
