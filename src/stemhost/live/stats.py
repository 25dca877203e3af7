"""Timings for statistics: the audio callback's and the render thread's time per block."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

TIMING_SLOTS = 1 << 16  # timings kept for statistics (a ring of the latest)


@dataclass
class CallbackStats:
    """Timings of the audio callback, in fractions of a block's duration."""

    calls: int
    median: float
    p99: float
    worst: float


class Timings:
    """The latest :data:`TIMING_SLOTS` durations of one kind of work, in nanoseconds.

    One thread adds (the callback, or the render thread); any thread may read :meth:`stats`,
    which may then miss the timing being added. :meth:`add` allocates nothing.
    """

    def __init__(self) -> None:
        self._ns = np.zeros(TIMING_SLOTS, dtype=np.int64)
        self.count = 0

    def add(self, ns: int) -> None:
        self._ns[self.count % TIMING_SLOTS] = ns
        self.count += 1

    def stats(self, budget_s: float) -> CallbackStats:
        """Median, 99th percentile and worst, as fractions of ``budget_s`` (a block's duration)."""
        count = self.count
        kept = min(count, TIMING_SLOTS)
        if kept == 0:
            return CallbackStats(0, math.nan, math.nan, math.nan)
        times = self._ns[:kept] / (budget_s * 1e9)
        return CallbackStats(count, float(np.median(times)), float(np.percentile(times, 99)), float(times.max()))
