"""A first-in first-out buffer of multichannel samples, for delay lines and rate adapters."""

from __future__ import annotations

import numpy as np


class SampleFifo:
    """A growable FIFO of ``(channels, frames)`` float32 audio.

    Args:
        channels: the channel count of every block pushed and popped.
        prefill: frames of silence it starts with, i.e. the delay it adds.
    """

    def __init__(self, channels: int, prefill: int = 0) -> None:
        self._data = np.zeros((channels, max(1024, 2 * prefill)), dtype=np.float32)
        self._start = 0
        self._end = prefill

    def __len__(self) -> int:
        return self._end - self._start

    def push(self, block: np.ndarray) -> None:
        """Append ``(channels, n)`` samples."""
        n = block.shape[1]
        if self._end + n > self._data.shape[1]:
            live = len(self)
            size = max(self._data.shape[1], 2 * (live + n))
            grown = np.zeros((self._data.shape[0], size), dtype=np.float32)
            grown[:, :live] = self._data[:, self._start : self._end]
            self._data, self._start, self._end = grown, 0, live
        self._data[:, self._end : self._end + n] = block
        self._end += n

    def pop(self, n: int) -> np.ndarray:
        """Remove and return the oldest n frames, as a new array; the FIFO must hold them."""
        if n > len(self):
            raise RuntimeError(f"FIFO underflow: {n} frames asked, {len(self)} held")
        out = self._data[:, self._start : self._start + n].copy()
        self._start += n
        return out


class LatencyTrim:
    """Lines a part of the mix up with the master: drops its own latency at the start, then hands
    out as many frames as the master wrote for each block.

    Args:
        latency: frames the part is late by.
    """

    def __init__(self, latency: int) -> None:
        self._skip = latency
        self._fifo = SampleFifo(2)

    def take(self, block: np.ndarray | None, n: int, frames: int) -> np.ndarray:
        """Feed the part's next ``(2, n)`` block (None for silence); return its next ``frames`` frames."""
        block = np.zeros((2, n), np.float32) if block is None else block
        skip = min(self._skip, n)
        self._skip -= skip
        self._fifo.push(block[:, skip:])
        return self._fifo.pop(frames)
