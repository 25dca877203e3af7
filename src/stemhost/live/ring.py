"""A single-producer, single-consumer ring buffer of audio frames, safe without locks.

The render thread writes, the audio callback reads. Each side only moves its own counter, and a
counter moves only after the frames it covers are in place; under CPython a counter is read and
written whole, so neither side ever waits for the other or sees half-written frames.

The writer keeps the ring filled up to its :attr:`~FrameRing.target`, which it may raise (up to the
capacity, allocated once) to render further ahead after a stall.
"""

from __future__ import annotations

import numpy as np


class FrameRing:
    """Frames as ``(capacity, channels)`` float32, the layout sounddevice's ``outdata`` has.

    Args:
        capacity: frames it can hold.
        channels: channels per frame.
        target: frames the writer keeps in it (the capacity if None); the writer's own, raised by it only.
    """

    def __init__(self, capacity: int, channels: int, target: int | None = None) -> None:
        self.capacity = capacity
        self.channels = channels
        self.target = capacity if target is None else min(target, capacity)
        self._data = np.zeros((capacity, channels), dtype=np.float32)
        self.written = 0  # frames written since the start (the producer's counter)
        self.read = 0  # frames read since the start (the consumer's counter)

    @property
    def fill(self) -> int:
        """Frames waiting to be read."""
        return self.written - self.read

    @property
    def space(self) -> int:
        """Frames the writer may still add before the ring holds its target."""
        return self.target - self.fill

    def write(self, frames: np.ndarray) -> None:
        """Append ``(n, channels)`` frames; the caller checks :attr:`space` first."""
        n = frames.shape[0]
        start = self.written % self.capacity
        first = min(n, self.capacity - start)
        self._data[start : start + first] = frames[:first]
        self._data[: n - first] = frames[first:]
        self.written += n

    def read_into(self, out: np.ndarray) -> int:
        """Copy up to ``len(out)`` frames into ``out`` (the callback's outdata); returns how many.

        Copies into the caller's buffer only: no audio buffer is allocated.
        """
        n = min(out.shape[0], self.written - self.read)
        start = self.read % self.capacity
        first = min(n, self.capacity - start)
        np.copyto(out[:first], self._data[start : start + first])
        if n > first:
            np.copyto(out[first:n], self._data[: n - first])
        self.read += n
        return n
