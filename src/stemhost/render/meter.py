"""Streaming loudness and peak measurement (ITU-R BS.1770 via pyebur128, libebur128's algorithm)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyebur128

from stemhost.units import SILENCE_DB, db

FEED_FRAMES = 4096


class LoudnessMeter:
    """Integrated loudness and sample peak of a stream of ``(channels, n)`` blocks.

    Memory stays flat whatever the length: the histogram mode keeps a fixed table, not every block.
    """

    def __init__(self, channels: int, sample_rate: int, true_peak: bool = False) -> None:
        mode = pyebur128.MeasurementMode
        modes = mode.MODE_I | mode.MODE_SAMPLE_PEAK | mode.MODE_HISTOGRAM
        self._state = pyebur128.R128State(channels, sample_rate, modes | mode.MODE_TRUE_PEAK if true_peak else modes)
        self.true_peak = true_peak
        self.channels = channels
        self.frames = 0

    def add(self, block: np.ndarray) -> None:
        """Measure ``(channels, n)`` float audio."""
        if block.shape[1] == 0:
            return
        interleaved = np.ascontiguousarray(block.T, dtype=np.float32).ravel()
        # pyebur128 holds the GIL while it measures: feed it in short runs so the DSP threads get
        # the GIL back between them (measured: 6.7 s against 7.4 s for the 5-minute benchmark render).
        step = FEED_FRAMES * self.channels
        for start in range(0, interleaved.size, step):
            run = interleaved[start : start + step]
            self._state.add_frames(run, run.size // self.channels)
        self.frames += block.shape[1]

    @property
    def integrated_lufs(self) -> float:
        """Gated integrated loudness in LUFS; -inf for silence or audio shorter than 400 ms."""
        if self.frames == 0:
            return SILENCE_DB
        value = pyebur128.get_loudness_global(self._state)
        return value if math.isfinite(value) else SILENCE_DB

    @property
    def true_peak_dbtp(self) -> float | None:
        """Highest 4x-oversampled peak in dBTP (None unless the meter was made with true_peak=True)."""
        if not self.true_peak:
            return None
        peak = max(pyebur128.get_true_peak(self._state, c) for c in range(self.channels))
        return db(peak)

    @property
    def peak_dbfs(self) -> float:
        """Highest absolute sample over all channels, in dBFS."""
        peak = max(pyebur128.get_sample_peak(self._state, c) for c in range(self.channels))
        return db(peak)


def measure_file(path: Path) -> LoudnessMeter:
    """Loudness, sample peak and true peak of an audio file as a player decodes it (lossy formats included)."""
    import soundfile

    from stemhost.engine.sources import open_reader

    info = soundfile.info(str(path))
    meter = LoudnessMeter(info.channels, int(info.samplerate), true_peak=True)
    reader = open_reader(path)
    try:
        while (block := reader.read(65536)).shape[1]:
            meter.add(block)
    finally:
        reader.close()
    return meter
