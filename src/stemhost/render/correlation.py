"""Stereo correlation of the master: one figure for the whole file and one per 400 ms window, −1..+1.

+1 is mono (left equals right), 0 unrelated channels (wide, or independent noise), −1 one channel the other
inverted (it cancels when summed to mono). Measured block by block: three running sums per window.
"""

from __future__ import annotations

import math

import numpy as np

WINDOW_S = 0.4


class Correlation:
    """Pearson's correlation of left and right (uncentred, as a phase meter reads it) per window and overall.

    A mono stream correlates +1; a window of silence has no figure (NaN).

    Args:
        sample_rate: Hz.
        window_s: the window in seconds.
    """

    def __init__(self, sample_rate: int, window_s: float = WINDOW_S) -> None:
        self.width = max(1, round(window_s * sample_rate))
        self.sample_rate = sample_rate
        self.frames = 0
        self._chunks: list[np.ndarray] = []  # (3, windows): sums of l·r, l², r² per window

    def add(self, block: np.ndarray) -> None:
        """Measure ``(channels, n)`` audio (one or two channels)."""
        n = block.shape[1]
        if n == 0:
            return
        left = block[0].astype(np.float64)
        right = block[-1].astype(np.float64)
        offset = self.frames % self.width
        index = (offset + np.arange(n)) // self.width
        count = int(index[-1]) + 1
        sums = np.stack([np.bincount(index, w, count) for w in (left * right, left * left, right * right)])
        if offset and self._chunks:  # the first window continues the last one
            self._chunks[-1][:, -1] += sums[:, 0]
            sums = sums[:, 1:]
        if sums.shape[1]:
            self._chunks.append(sums)
        self.frames += n

    def _sums(self) -> np.ndarray:
        return np.concatenate(self._chunks, axis=1) if self._chunks else np.zeros((3, 0))

    @property
    def windows(self) -> np.ndarray:
        """The correlation of each window, NaN in silence; the last window may be shorter."""
        lr, ll, rr = self._sums()
        energy = np.sqrt(ll * rr)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(energy > 1e-20, lr / np.maximum(energy, 1e-300), np.nan)

    @property
    def times_s(self) -> np.ndarray:
        """The centre of each window in seconds."""
        return (np.arange(self.windows.size) + 0.5) * self.width / self.sample_rate

    @property
    def overall(self) -> float:
        """The whole stream's correlation; NaN for silence."""
        lr, ll, rr = self._sums().sum(axis=1)
        energy = math.sqrt(ll * rr)
        return float(lr / energy) if energy > 1e-20 else math.nan
