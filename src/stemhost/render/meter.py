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

    Args:
        channels: 1 or 2.
        sample_rate: Hz.
        true_peak: also measure the 4x-oversampled true peak.
        short_term_every: also read the short-term (3 s) loudness every this many frames into
            :attr:`short_term` (one float per reading: 10 a second at 100 ms); 0 for none.
    """

    def __init__(self, channels: int, sample_rate: int, true_peak: bool = False, short_term_every: int = 0) -> None:
        mode = pyebur128.MeasurementMode
        modes = mode.MODE_I | mode.MODE_SAMPLE_PEAK | mode.MODE_HISTOGRAM
        modes |= mode.MODE_TRUE_PEAK if true_peak else 0
        modes |= mode.MODE_S if short_term_every else 0
        self._state = pyebur128.R128State(channels, sample_rate, modes)
        self.true_peak = true_peak
        self.channels = channels
        self.sample_rate = sample_rate
        self.frames = 0
        self.every = short_term_every
        self.short_term: list[float] = []  # LUFS, -inf in silence; the reading at frame (i + 1) * every

    def add(self, block: np.ndarray) -> None:
        """Measure ``(channels, n)`` float audio."""
        if block.shape[1] == 0:
            return
        interleaved = np.ascontiguousarray(block.T, dtype=np.float32).ravel()
        # pyebur128 holds the GIL while it measures: feed it in short runs so the DSP threads get
        # the GIL back between them (measured: 6.7 s against 7.4 s for the 5-minute benchmark render).
        done, n = 0, block.shape[1]
        while done < n:
            take = min(n - done, FEED_FRAMES)
            if self.every:  # a run never crosses a reading
                take = min(take, self.every - (self.frames + done) % self.every)
            self._state.add_frames(interleaved[done * self.channels : (done + take) * self.channels], take)
            done += take
            if self.every and (self.frames + done) % self.every == 0:
                self.short_term.append(pyebur128.get_loudness_shortterm(self._state))
        self.frames += n

    @property
    def short_term_s(self) -> np.ndarray:
        """The time of each short-term reading (the end of its 3 s window) in seconds."""
        return np.arange(1, len(self.short_term) + 1) * self.every / self.sample_rate

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
