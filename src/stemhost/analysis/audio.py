"""Reading whole stems for analysis, and the per-stem figures: peak, loudness, active time."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import soxr

from stemhost.engine.sources import AudioInfo, check_finite, open_reader, probe
from stemhost.errors import AudioFileError
from stemhost.render.meter import LoudnessMeter

ANALYSIS_RATE = 22050  # Hz: key, tempo and pitch analysis run on mono audio at this rate
ACTIVE_WINDOW_S = 0.1  # seconds: the window active time is counted in
ACTIVE_GATE_DB = -50.0  # dBFS: a window whose RMS is above this is active


@dataclass(frozen=True)
class StemFigures:
    """Level figures of one stem file, measured as the file holds it (before fader, pan and chain).

    Attributes:
        name: the stem's name in the session.
        role: the stem's role.
        duration_s: the file's length in seconds.
        peak_dbfs: highest absolute sample over all channels in dBFS; -inf for digital silence.
        loudness_lufs: integrated loudness (ITU-R BS.1770, gated, pyebur128) in LUFS; -inf when silent
            or shorter than 400 ms. A mono file is measured as one channel, as the file is.
        active_s: seconds of 100 ms windows whose RMS over all channels is above -50 dBFS (a full-scale
            sine reads -3 dBFS RMS); the last, shorter window counts its own length.
    """

    name: str
    role: str
    duration_s: float
    peak_dbfs: float
    loudness_lufs: float
    active_s: float

    def to_dict(self) -> dict:
        """JSON-ready figures; -inf (silence) becomes None."""
        return {
            "name": self.name,
            "role": self.role,
            "duration_s": round(self.duration_s, 3),
            "peak_dbfs": _finite(self.peak_dbfs, 2),
            "loudness_lufs": _finite(self.loudness_lufs, 2),
            "active_s": round(self.active_s, 3),
        }


def measure_stem(
    path: Path, where: str, name: str, role: str, target_rate: int = ANALYSIS_RATE
) -> tuple[StemFigures, np.ndarray]:
    """Read a stem file once, front to back: its figures, and its mono mix at the analysis rate.

    Memory stays at one 10-second block plus the mono output (about 5 MB a minute at 22.05 kHz).

    Args:
        path: the file.
        where: the field that names it, for messages (``session.json: stems[0].file``).
        name: the stem's name.
        role: the stem's role.
        target_rate: the rate of the mono output in Hz.

    Returns:
        The figures and the ``(frames,)`` float32 mean of the channels at ``target_rate`` (soxr HQ).

    Raises:
        AudioFileError: the file is missing, unreadable, empty, not mono or stereo, or holds NaN or inf.
    """
    info: AudioInfo = probe(path, where)
    rate = info.sample_rate
    window = max(1, round(ACTIVE_WINDOW_S * rate))
    block = window * 100  # whole windows, so active time adds up across blocks
    meter = LoudnessMeter(info.channels, rate)
    resampler = (
        None if rate == target_rate else soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality="HQ")
    )
    mono_parts, active, done = [], 0, 0
    reader = open_reader(path)
    try:
        while True:
            try:
                data = np.ascontiguousarray(reader.read(block), dtype=np.float32)
            except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
                raise AudioFileError(f"{where}: {str(path)!r} cannot be decoded ({exc})") from exc
            last = data.shape[1] < block or done + data.shape[1] >= info.frames
            check_finite(data, done, rate, f"{where}: {str(path)!r}")
            meter.add(data)
            active += _active_frames(data, rate)
            mono = np.mean(data, axis=0, dtype=np.float32)
            mono_parts.append(mono if resampler is None else resampler.resample_chunk(mono, last=last))
            done += data.shape[1]
            if last:
                break
    finally:
        reader.close()
    figures = StemFigures(name, role, done / rate, meter.peak_dbfs, meter.integrated_lufs, active / rate)
    return figures, np.concatenate(mono_parts).astype(np.float32, copy=False)


def stem_figures(name: str, role: str, audio: np.ndarray, sample_rate: int) -> StemFigures:
    """Peak, integrated loudness and active time of ``(channels, frames)`` audio at ``sample_rate`` Hz."""
    meter = LoudnessMeter(audio.shape[0], sample_rate)
    meter.add(audio)
    return StemFigures(
        name=name,
        role=role,
        duration_s=audio.shape[1] / sample_rate,
        peak_dbfs=meter.peak_dbfs,
        loudness_lufs=meter.integrated_lufs,
        active_s=active_seconds(audio, sample_rate),
    )


def window_levels_db(audio: np.ndarray, sample_rate: int, window_s: float = ACTIVE_WINDOW_S) -> np.ndarray:
    """RMS level of consecutive windows in dBFS, over all channels of ``(channels, frames)`` audio.

    Returns:
        One level per window (the last may be shorter); -inf for digital silence.
    """
    audio = np.atleast_2d(audio)
    size = max(1, round(window_s * sample_rate))
    power = np.mean(np.square(audio, dtype=np.float64), axis=0)
    starts = np.arange(0, power.size, size)
    sums = np.add.reduceat(power, starts) if power.size else np.zeros(0)
    lengths = np.diff(np.append(starts, power.size))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(sums / lengths)


def active_seconds(audio: np.ndarray, sample_rate: int) -> float:
    """Seconds of ``(channels, frames)`` audio in 100 ms windows whose RMS is above -50 dBFS."""
    return _active_frames(audio, sample_rate) / sample_rate


def _active_frames(audio: np.ndarray, sample_rate: int) -> int:
    """Frames of audio in active windows; windows start at the first frame, the last may be shorter."""
    size = max(1, round(ACTIVE_WINDOW_S * sample_rate))
    levels = window_levels_db(audio, sample_rate)
    lengths = np.full(levels.size, size)
    if levels.size:
        lengths[-1] = audio.shape[-1] - size * (levels.size - 1)
    return int(np.sum(lengths[levels > ACTIVE_GATE_DB]))


def to_mono(audio: np.ndarray, sample_rate: int, target_rate: int = ANALYSIS_RATE) -> np.ndarray:
    """The mean of the channels of ``(channels, frames)`` audio, resampled to ``target_rate`` Hz (soxr HQ)."""
    mono = np.mean(np.atleast_2d(audio), axis=0, dtype=np.float32)
    if sample_rate == target_rate:
        return mono
    return soxr.resample(mono, sample_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None
