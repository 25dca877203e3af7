"""Where a render's master went above 0 dBFS, and which stems were loudest there."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CLIP_GAP_S = 0.05  # clipped frames closer than this make one region
MAX_CLIP_REGIONS = 1000


@dataclass
class Clipping:
    """Where the master went above 0 dBFS, and which stems were loudest there.

    Attributes:
        regions: (start, end) in seconds of each clipped stretch (the first 1000; gaps under 50 ms joined).
        peak: the highest sample of the clipped blocks (linear), the mix's peak whenever it clipped.
        highest: the highest sample of every block (linear), clipped or not: the mix's peak before the output's clip.
    """

    samples: int = 0
    first_s: float = 0.0
    last_s: float = 0.0
    peak: float = 0.0
    highest: float = 0.0
    stem_peaks: dict[str, float] = field(default_factory=dict)
    regions: list[tuple[float, float]] = field(default_factory=list)

    def add(self, block: np.ndarray, start_s: float, sample_rate: int, stems: dict[str, np.ndarray | None]) -> None:
        """Note the clipped frames of a master block, and the peaks of the stems that made it."""
        high = max(float(np.max(block, initial=0.0)), -float(np.min(block, initial=0.0)))  # no |block| copy
        self.highest = max(self.highest, high)
        if high <= 1.0:
            return
        magnitude = np.abs(block)
        over = magnitude > 1.0
        frames = np.flatnonzero(over.any(axis=0))
        if self.samples == 0:
            self.first_s = start_s + frames[0] / sample_rate
        self.last_s = start_s + frames[-1] / sample_rate
        self.samples += int(over.sum())
        self.peak = max(self.peak, float(np.max(magnitude)))
        times = start_s + frames / sample_rate
        breaks = np.flatnonzero(np.diff(times) >= CLIP_GAP_S)
        for start, end in zip(times[np.r_[0, breaks + 1]], times[np.r_[breaks, -1]], strict=True):
            if self.regions and start - self.regions[-1][1] < CLIP_GAP_S:
                self.regions[-1] = (self.regions[-1][0], float(end))
            elif len(self.regions) < MAX_CLIP_REGIONS:
                self.regions.append((float(start), float(end)))
        for name, out in stems.items():
            peak = 0.0 if out is None else float(np.max(np.abs(out)))
            self.stem_peaks[name] = max(self.stem_peaks.get(name, 0.0), peak)

    def loudest_stems(self, count: int = 3) -> list[str]:
        ranked = sorted(self.stem_peaks.items(), key=lambda kv: -kv[1])
        return [name for name, peak in ranked[:count] if peak > 0]
