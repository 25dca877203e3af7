"""``--report FILE.html`` or ``.png``: what a mixing engineer looks at after a render.

The master's waveform with its clipped regions marked, its short-term loudness against the target,
its long-term average spectrum, and a table of every stem's peak and loudness. The stems are
measured while the mix renders (:class:`StemMeters`, a mix tap); the master is read back from the
written file (:func:`analyse_output`), so its figures are what a player decodes. Memory stays flat
in the song's length. An HTML report is one self-contained file, its plots embedded as a PNG; the drawing
and the page are in :mod:`stemhost.render.report_page`.
"""

from __future__ import annotations

import base64
import io
import math
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile

from stemhost.engine.sources import open_reader
from stemhost.errors import AudioFileError, OutputError
from stemhost.ownership import replaced_atomically
from stemhost.render.clips import MAX_CLIP_REGIONS, Clipping
from stemhost.render.correlation import Correlation
from stemhost.render.meter import LoudnessMeter
from stemhost.render.report_meters import HOT_DBFS, StemMeters, StemRow
from stemhost.render.report_page import figure_text, html_page, report_figure
from stemhost.units import db, format_time

__all__ = ["HOT_DBFS", "OutputAnalysis", "StemMeters", "StemRow", "analyse_output", "check_report_path", "write_report"]

REPORT_FORMATS = (".html", ".png")
ENVELOPE_COLUMNS = 2000
SHORT_TERM_STEP_S = 0.1  # one short-term (3 s) loudness reading every 100 ms
FFT_SIZE = 8192  # long-term average spectrum: Hann windows of this many frames, half overlapping
READ_FRAMES = 65536


@dataclass(frozen=True)
class OutputAnalysis:
    """The master as the report shows it, read back from the written file.

    Attributes:
        sample_rate: Hz.
        frames: frames read from the file.
        column_s: the width of one waveform column in seconds.
        envelope_min: lowest sample of each column over all channels (full scale ±1), shape ``(columns,)``.
        envelope_max: highest sample of each column, shape ``(columns,)``.
        short_term_s: end of each short-term window in seconds, one every 100 ms.
        short_term_lufs: loudness of the 3 s ending there in LUFS (-inf in silence; the first 3 s count silence
            before the start).
        integrated_lufs: gated integrated loudness in LUFS (-inf for silence).
        true_peak_dbtp: highest 4x-oversampled peak over all channels in dBTP.
        spectrum_hz: FFT bin frequencies in Hz, DC left out.
        spectrum_db: Hann-windowed power averaged over the file and the channels in dB, scaled so that a sine of
            amplitude A centred on a bin peaks at 20·log10(A).
        correlation: the stereo correlation of the whole file, −1..+1 (+1 for mono; NaN for silence).
        correlation_s: the centre of each 400 ms window in seconds.
        correlation_windows: each window's correlation, −1..+1 (NaN in silence).
    """

    sample_rate: int
    frames: int
    column_s: float
    envelope_min: np.ndarray
    envelope_max: np.ndarray
    short_term_s: np.ndarray
    short_term_lufs: np.ndarray
    integrated_lufs: float
    true_peak_dbtp: float
    spectrum_hz: np.ndarray
    spectrum_db: np.ndarray
    correlation: float = math.nan
    correlation_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    correlation_windows: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def envelope_s(self) -> np.ndarray:
        """The centre of each waveform column in seconds."""
        return (np.arange(self.envelope_max.size) + 0.5) * self.column_s


class _Envelope:
    """The lowest and highest sample of each of a fixed number of columns, whatever the length."""

    def __init__(self, frames_hint: int) -> None:
        self.width = max(1, math.ceil(frames_hint / ENVELOPE_COLUMNS))  # frames per column
        self.low, self.high = np.full(ENVELOPE_COLUMNS, np.inf), np.full(ENVELOPE_COLUMNS, -np.inf)
        self.frames = 0

    def add(self, block: np.ndarray) -> None:
        n = block.shape[1]
        columns = np.minimum((self.frames + np.arange(n)) // self.width, ENVELOPE_COLUMNS - 1)
        starts = np.flatnonzero(np.r_[True, columns[1:] != columns[:-1]])
        at = columns[starts]
        self.high[at] = np.maximum(self.high[at], np.maximum.reduceat(block.max(axis=0), starts))
        self.low[at] = np.minimum(self.low[at], np.minimum.reduceat(block.min(axis=0), starts))
        self.frames += n


class _Spectrum:
    """Hann-windowed FFT power of half-overlapping windows, summed over the file and the channels."""

    def __init__(self, channels: int) -> None:
        import scipy.fft  # float32 transforms: 3x numpy's float64 ones

        self.rfft = scipy.fft.rfft
        self.window = np.hanning(FFT_SIZE).astype(np.float32)
        self.power = np.zeros(FFT_SIZE // 2 + 1)
        self.count = 0
        self.pending = np.zeros((channels, 0), np.float32)  # the start of the next window

    def add(self, block: np.ndarray) -> None:
        data = np.concatenate([self.pending, block], axis=1)
        hop = FFT_SIZE // 2
        count = (data.shape[1] - FFT_SIZE) // hop + 1 if data.shape[1] >= FFT_SIZE else 0
        if count:
            windows = np.lib.stride_tricks.sliding_window_view(data, FFT_SIZE, axis=1)[:, ::hop][:, :count]
            bins = self.rfft(windows * self.window, axis=-1)
            self.power += np.sum(bins.real**2 + bins.imag**2, axis=(0, 1), dtype=np.float64)
            self.count += count * data.shape[0]
        self.pending = data[:, count * hop :]

    def db(self) -> np.ndarray:
        """The average in dB, DC left out; a file shorter than one window is zero-padded."""
        if self.count == 0 and self.pending.shape[1]:
            self.add(np.zeros((self.pending.shape[0], FFT_SIZE - self.pending.shape[1]), np.float32))
        mean = self.power[1:] / max(1, self.count) / (float(self.window.sum()) / 2.0) ** 2
        return 10.0 * np.log10(np.maximum(mean, 1e-20))


def analyse_output(path: Path) -> OutputAnalysis:
    """Read a rendered file block by block: waveform envelope, short-term and integrated loudness, true peak, spectrum.

    Raises:
        AudioFileError: the file cannot be read back.
    """
    try:
        info = soundfile.info(str(path))
        reader = open_reader(path)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(f"--report: cannot read the render {str(path)!r} back ({exc})") from exc
    rate, channels = int(info.samplerate), int(info.channels)
    envelope, spectrum, correlation = _Envelope(info.frames), _Spectrum(channels), Correlation(rate)
    meter = LoudnessMeter(channels, rate, true_peak=True, short_term_every=max(1, round(SHORT_TERM_STEP_S * rate)))
    try:
        while (block := reader.read(READ_FRAMES)).shape[1]:
            envelope.add(block)
            spectrum.add(block)
            correlation.add(block)
            meter.add(block)
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioFileError(f"--report: cannot decode the render {str(path)!r} ({exc})") from exc
    finally:
        reader.close()
    used = min(ENVELOPE_COLUMNS, math.ceil(envelope.frames / envelope.width))
    return OutputAnalysis(
        sample_rate=rate,
        frames=envelope.frames,
        column_s=envelope.width / rate,
        envelope_min=envelope.low[:used],
        envelope_max=envelope.high[:used],
        short_term_s=meter.short_term_s,
        short_term_lufs=np.asarray(meter.short_term, dtype=np.float64),
        integrated_lufs=meter.integrated_lufs,
        true_peak_dbtp=meter.true_peak_dbtp,
        spectrum_hz=np.fft.rfftfreq(FFT_SIZE, 1.0 / rate)[1:],
        spectrum_db=spectrum.db(),
        correlation=correlation.overall,
        correlation_s=correlation.times_s,
        correlation_windows=correlation.windows,
    )


def check_report_path(path: Path) -> None:
    """Refuse a report path that cannot be written: unknown format, a folder, a missing or read-only folder.

    Raises:
        OutputError: with one line naming the path and the fix.
    """
    where = f"--report {str(path)!r}"
    if path.is_dir():
        raise OutputError(f"{where}: that is a folder; give a file name such as {str(path / 'report.html')!r}")
    if path.suffix.lower() not in REPORT_FORMATS:
        raise OutputError(f"{where}: unknown report format {path.suffix or '(no extension)'!r}; use .html or .png")
    if not path.parent.is_dir():
        raise OutputError(f"{where}: the folder {str(path.parent)!r} does not exist; create it first")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"{where}: the folder {str(path.parent)!r} is not writable")


def write_report(
    path: Path, audio: Path, stems: StemMeters, clips: Clipping, target_lufs: float | None, title: str
) -> None:
    """Analyse the rendered file and write the report, atomically: an HTML page or one PNG figure.

    Args:
        path: the report, ``.html`` or ``.png``.
        audio: the rendered master file.
        stems: the meters that were fed the render.
        clips: where the master went above 0 dBFS (times in seconds).
        target_lufs: the loudness target drawn as a line, in LUFS; None for none.
        title: the report's heading (the song's title or the session's name).
    """
    check_report_path(path)
    analysis, rows = analyse_output(audio), stems.rows()
    summary = summary_line(analysis, clips, target_lufs)

    def write_png(file: BinaryIO) -> None:
        report_figure(analysis, clips, target_lufs, f"{title}\n{textwrap.fill(summary, 130)}", rows).savefig(
            file, format="png", dpi=100
        )

    def write_html(file: BinaryIO) -> None:
        image = io.BytesIO()
        report_figure(analysis, clips, target_lufs, None, rows, table=False).savefig(image, format="png", dpi=100)
        file.write(html_page(title, summary, base64.b64encode(image.getvalue()).decode("ascii"), rows).encode())

    _write_atomic(path, write_png if path.suffix.lower() == ".png" else write_html)


def summary_line(analysis: OutputAnalysis, clips: Clipping, target_lufs: float | None) -> str:
    """Duration, integrated loudness, true peak, target and clipping on one line."""
    count = len(clips.regions)
    regions = f"{count} or more" if count >= MAX_CLIP_REGIONS else f"{count}"
    if clips.samples:
        regions += f", {clips.samples} samples over 0 dBFS, mix peak {db(clips.peak):+.1f} dBFS"
    target = "none" if target_lufs is None else f"{target_lufs:.1f} LUFS"
    return (
        f"duration {format_time(analysis.duration_s)} at {analysis.sample_rate} Hz · "
        f"integrated {figure_text(analysis.integrated_lufs)} LUFS · "
        f"true peak {figure_text(analysis.true_peak_dbtp, '+')} dBTP · "
        f"stereo correlation {'-' if math.isnan(analysis.correlation) else f'{analysis.correlation:+.2f}'} · "
        f"target: {target} · clipped regions: {regions}"
    )


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a temporary file beside the target, renamed into place; nothing half-written stays."""
    try:
        with replaced_atomically(path) as tmp, open(tmp, "wb") as f:
            write(f)
    except OSError as exc:
        raise OutputError(
            f"--report {str(path)!r}: cannot write the report in {str(path.parent)!r} ({exc.strerror or exc})"
        ) from exc
