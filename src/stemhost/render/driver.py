"""Offline rendering: drive the mix graph block by block into an output file."""

from __future__ import annotations

import contextlib
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import numpy as np
import soxr

from stemhost.engine.click import with_click_bus
from stemhost.engine.compile import compile_graph, input_paths
from stemhost.engine.graph import MixBlock, MixGraph
from stemhost.errors import OutputError, warn
from stemhost.formats import PCM_FORMATS
from stemhost.limits import MAX_BLOCK_SIZE, MAX_SAMPLE_RATE, MIN_BLOCK_SIZE, MIN_SAMPLE_RATE
from stemhost.ownership import check_outputs, check_replaceable, commit_replace, temporary_folder
from stemhost.render.clips import Clipping
from stemhost.render.limiter import limited_blocks
from stemhost.render.meter import LoudnessMeter, measure_file
from stemhost.render.outputs import (
    AtomicAudioWriter,
    OutputFormat,
    check_output_folder,
    output_format,
)
from stemhost.render.padding import padding_note
from stemhost.render.report import StemMeters, check_report_path, write_report
from stemhost.render.stem_files import StemFiles, planned_stem_files
from stemhost.render.target import check_target
from stemhost.session.effects import Delay
from stemhost.session.model import Loudness, Session
from stemhost.units import db, db_to_gain

DEFAULT_BLOCK_SIZE = 65536  # offline: large blocks cut per-call overhead; the output does not depend on it
TAIL_FLOOR = db_to_gain(-90.0)  # tails end once they fall below −90 dBFS
TAIL_MAX_S = 30.0
TAIL_HOLD_S = 0.5  # how long a tail must stay below the floor before it counts as ended
MASTERING_TOLERANCE_LU = 0.2
MASTERING_PASSES = 6  # second passes at most: one, then gain and ceiling corrections
LOSSY_MARGIN_DB = 0.1  # under the ceiling by this much more than the encoder overshot


class MixTap(Protocol):
    """Something fed every block of the mix as it renders, beside the master's file."""

    def push(self, mix: MixBlock, frames: int) -> None:
        """The next block of the graph (each part late by its own latency) and the master frames written for it."""

    def finish(self) -> None:
        """The render is over."""


@dataclass(frozen=True)
class RenderOptions:
    """Settings of one offline render.

    Attributes:
        block_size: frames per graph block; the output does not depend on it.
        tail_s: seconds rendered after the longest stem; None follows tails down to −90 dBFS (≤ 30 s).
        bit_depth: "16", "24" or "32f" for WAV, FLAC and AIFF; None for the format's default.
        sample_rate: the output file's rate in Hz; None keeps the session's.
        workers: DSP threads; None uses every core.
        mp3_mode: "cbr320" (the default for .mp3), "v0" or "v2".
        decode_once: decode compressed stems into the cache once (renders of many variants read them again).
        strict: a loudness target missed by more than 0.5 LU is an error and no file is written, not a warning.
        plugin_folders: the resolved folders third-party plugins may be loaded from; None: the OS's and
            ``$STEMHOST_PLUGIN_PATH``'s (see :mod:`stemhost.engine.plugin_folders`). Batch jobs carry them.
    """

    block_size: int = DEFAULT_BLOCK_SIZE
    tail_s: float | None = None
    bit_depth: str | None = None
    sample_rate: int | None = None
    workers: int | None = None
    mp3_mode: str | None = None
    decode_once: bool = False
    strict: bool = False
    plugin_folders: tuple[Path, ...] | None = None

    def __post_init__(self) -> None:
        if not MIN_BLOCK_SIZE <= self.block_size <= MAX_BLOCK_SIZE:
            raise OutputError(f"block size {self.block_size}: give {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} frames")
        if self.sample_rate is not None and not MIN_SAMPLE_RATE <= self.sample_rate <= MAX_SAMPLE_RATE:
            raise OutputError(f"sample rate {self.sample_rate} Hz: give {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz")


@dataclass
class RenderResult:
    """What a render wrote, and what was measured on the way."""

    path: Path | None  # None when only stems were written
    frames: int
    sample_rate: int
    peak_dbfs: float
    loudness_lufs: float
    latency: int
    clips: Clipping
    true_peak_dbtp: float | None = None
    mix_peak_dbfs: float | None = None  # the master's peak before the output's clip (None: mastered, limited)

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


class TailTrimmer:
    """Decides where the output ends: at the longest stem plus a fixed tail, or when tails die out.

    Blocks come in order in output time; once the content's end is known, frames past it are
    written only up to the tail's end. In automatic mode, frames after the content are held back
    until a louder frame shows they belong to the tail.
    """

    def __init__(self, sample_rate: int, tail_s: float | None, hold_s: float) -> None:
        self.fixed = None if tail_s is None else round(tail_s * sample_rate)
        self.max_tail = round(TAIL_MAX_S * sample_rate)
        self.hold = round(hold_s * sample_rate)
        self.position = 0  # frames received
        self.end: int | None = None  # frames the output will hold, once known
        self._held: list[np.ndarray] = []
        self._last_loud = 0  # end (exclusive) of the last frame above the floor

    def feed(self, block: np.ndarray, content_end: int | None) -> Iterator[np.ndarray]:
        """Take the next block; yield what is to be written now."""
        start, self.position = self.position, self.position + block.shape[1]
        if content_end is None:
            yield block
            return
        cut = max(0, content_end - start)
        if cut:
            yield block[:, :cut]
        rest, rest_start = block[:, cut:], start + cut
        if self.fixed is not None:
            self.end = content_end + self.fixed
            keep = max(0, min(rest.shape[1], self.end - rest_start))
            if keep:
                yield rest[:, :keep]
            return
        self._last_loud = max(self._last_loud, content_end)
        loud = np.flatnonzero(np.max(np.abs(rest), axis=0) > TAIL_FLOOR)
        if loud.size:
            self._last_loud = min(rest_start + int(loud[-1]) + 1, content_end + self.max_tail)
            yield from self._held
            self._held = []
            yield rest[:, : self._last_loud - rest_start]
            self._held = [rest[:, self._last_loud - rest_start :]]
        else:
            self._held.append(rest)
        if self.position - self._last_loud >= self.hold or self.position >= content_end + self.max_tail:
            self.end = self._last_loud

    @property
    def finished(self) -> bool:
        return self.end is not None and self.position >= self.end


def tail_hold_s(session: Session) -> float:
    """Silence that ends a tail: longer than the longest echo gap, so delays are not cut between echoes."""
    chains = [s.chain for s in session.stems] + [b.chain for b in session.buses] + [session.master.chain]
    delays = [e.delay_seconds for chain in chains for e in chain if isinstance(e, Delay) and e.feedback > 0]
    return max([TAIL_HOLD_S, *(2.0 * d for d in delays)])


def render_session(
    session: Session,
    session_path: Path,
    output: Path | None,
    options: RenderOptions = RenderOptions(),  # noqa: B008 - frozen dataclass
    progress: Callable[[float, float], None] | None = None,
    stems_out: Path | None = None,
    report: Path | None = None,
) -> RenderResult:
    """Render a session into one stereo file, and each of its stems and buses into a folder.

    Args:
        session: the session with presets and overrides applied.
        session_path: the session file (relative paths start from its folder).
        output: the file to write, its extension picks the format; None writes only stems_out.
        options: block size, tail, bit depth, output rate and threads.
        progress: called with (seconds done, seconds expected) after every block.
        stems_out: a folder for every stem as processed and every bus (see :mod:`stemhost.render.stem_files`),
            in the output's format when that is lossless, else WAV.
        report: where to write the mix report of the output, HTML or PNG (see :mod:`stemhost.render.report`);
            needs an output.
    """
    session = with_click_bus(session, session_path.name)  # the click's cue bus is a bus --stems-out writes
    inputs = input_paths(session, session_path)
    outputs: list[tuple[Path, str]] = []
    if output is not None:
        output_format(output, options.bit_depth, options.mp3_mode)  # a bad format fails before any audio is read
        check_output_folder(output)
        outputs.append((output, f"-o {str(output)!r}"))
    if report is not None:
        if output is None:
            raise OutputError(f"--report {str(report)!r}: a report describes the output file; give one")
        check_report_path(report)
        outputs.append((report, f"--report {str(report)!r}"))
    stems_format = stem_files_format(output, options.bit_depth)
    if stems_out is not None:
        outputs += planned_stem_files(session, stems_out, stems_format, inputs)
    check_outputs(outputs, inputs)  # nothing is written over an input, or twice
    graph = compile_graph(
        session,
        session_path,
        options.block_size,
        options.workers,
        decode=options.decode_once,
        plugin_folders=options.plugin_folders,
    )
    try:
        hold, tags = tail_hold_s(session), session.tags()
        with contextlib.ExitStack() as stack:
            taps: list[MixTap] = []
            if stems_out is not None:
                rate = options.sample_rate or graph.sample_rate
                taps.append(stack.enter_context(StemFiles(graph, session, stems_out, stems_format, rate)))
            meters = StemMeters(graph, session) if report is not None else None
            if meters is not None:
                taps.append(meters)
            target = session.master.loudness
            if target is None or output is None:
                result = render_graph(graph, output, options, hold, progress, tags, taps)
            else:
                result = _mastered(graph, target, output, options, hold, progress, tags, taps)
        if report is not None:
            title = session.title or session_path.resolve().parent.name
            write_report(report, output, meters, result.clips, target and target.target_lufs, title)
        return result
    finally:
        graph.close()


def stem_files_format(output: Path | None, bit_depth: str | None) -> OutputFormat:
    """The format of --stems-out files: the output's when it is lossless, else WAV (at the same bit depth)."""
    if output is not None and output_format(output, None).format in PCM_FORMATS:
        return output_format(output, bit_depth)
    return output_format(Path("stem.wav"), bit_depth)


def _mastered(
    graph: MixGraph,
    target: Loudness,
    output: Path,
    options: RenderOptions,
    hold_s: float,
    progress: Callable[[float, float], None] | None,
    tags: dict[str, str],
    taps: Sequence[MixTap] = (),
) -> RenderResult:
    """Render to a float file, then normalise it to the target loudness under a true-peak limiter.

    The first pass measures the mix's integrated loudness while it streams; the second applies the
    gain that reaches the target and limits true peaks to the ceiling. Limiting lowers the loudness
    a little, so when the written file misses the target by more than 0.2 LU the gain is corrected
    and the second pass runs again. MP3 and Vorbis encoders add their own overshoot (measured on
    masters limited to -0.3 dBTP: +0.3 dB MP3 and +0.8 dB Vorbis on the demo song, +3.6 dB Vorbis
    on noise bursts), so lossy files are decoded and measured, and the limiter's ceiling is lowered
    by what the encoder added. That varies with the ceiling itself, so passes go on until both the
    loudness and the ceiling are met (at most six). Memory stays flat in the song's length. Passes are
    written in a temporary folder; a target still missed by more than 0.5 LU (a ceiling too low for it) is a
    warning with the figures, or with ``options.strict`` an error, and then no file takes the output's name.
    """
    fmt = output_format(output, options.bit_depth, options.mp3_mode)
    lossy = fmt.format not in PCM_FORMATS
    label = f"-o {str(output)!r}"
    check_replaceable(output, label)
    with temporary_folder(output.parent) as work:
        mix, master = work / "mix.wav", work / f"master{output.suffix}"
        float_mix = replace(options, bit_depth="32f", mp3_mode=None)
        first = render_graph(graph, mix, float_mix, hold_s, progress, taps=taps)
        silent = math.isinf(first.loudness_lufs)
        gain = 0.0 if silent else target.target_lufs - first.loudness_lufs  # silence stays silence
        ceiling = target.true_peak_dbtp
        for _ in range(MASTERING_PASSES):
            meter = LoudnessMeter(2, first.sample_rate, true_peak=True)
            with AtomicAudioWriter(master, fmt, first.sample_rate, tags=tags, what=label) as writer:
                for block in limited_blocks(mix, gain, ceiling):
                    meter.add(writer.write(block))
            if lossy:
                meter = measure_file(master)
            if math.isinf(meter.integrated_lufs):
                break
            miss = target.target_lufs - meter.integrated_lufs
            over = meter.true_peak_dbtp - target.true_peak_dbtp
            if abs(miss) <= MASTERING_TOLERANCE_LU and over <= 0:
                break
            gain += miss
            if lossy:  # aim the limiter under the ceiling by what the encoder added (it varies with the level)
                ceiling = min(target.true_peak_dbtp, ceiling - over - LOSSY_MARGIN_DB)
        check_target(target, meter.integrated_lufs, meter.true_peak_dbtp, options.strict, f"{label}: master.loudness")
        try:  # only a master that passed the check takes the output's name
            commit_replace(master, output)
        except OSError as exc:
            raise OutputError(f"{label}: cannot finish the file ({exc})") from exc
    return RenderResult(
        path=output,
        frames=first.frames,
        sample_rate=first.sample_rate,
        peak_dbfs=meter.peak_dbfs,
        loudness_lufs=meter.integrated_lufs,
        latency=first.latency,
        clips=Clipping(),  # the limiter holds the ceiling; clipping before it is not the output's
        true_peak_dbtp=meter.true_peak_dbtp,
    )


def render_graph(
    graph: MixGraph,
    output: Path | None,
    options: RenderOptions,
    hold_s: float = TAIL_HOLD_S,
    progress: Callable[[float, float], None] | None = None,
    tags: dict[str, str] | None = None,
    taps: Sequence[MixTap] = (),
) -> RenderResult:
    """Stream a compiled graph into a file: drop its latency, follow the tail, resample, meter, write, tag.

    Taps see every block of the mix with the count of master frames written for it (the stem
    files, the report's stem meters); with no output, only the taps get the mix.
    """
    rate = graph.sample_rate
    out_rate = options.sample_rate or rate
    expected_s = max(s.source.info.frames / s.source.info.sample_rate for s in graph.stems) + graph.lead_in / rate
    trimmer = TailTrimmer(rate, options.tail_s, hold_s)
    resampler = soxr.ResampleStream(rate, out_rate, 2, dtype="float32", quality="VHQ") if out_rate != rate else None
    meter = LoudnessMeter(2, out_rate)
    clips = Clipping()
    to_skip = graph.latency  # the master is late by the graph's latency: drop that much at the start
    frames_written = 0
    writer_or_none = (
        AtomicAudioWriter(output, output_format(output, options.bit_depth, options.mp3_mode), out_rate, tags=tags)
        if output is not None
        else contextlib.nullcontext()
    )

    # Resampling, metering and writing run in their own thread, one block behind the graph.
    with writer_or_none as writer, ThreadPoolExecutor(1, "stemhost-writer") as io:
        pending: deque[Future] = deque()

        def write(block: np.ndarray, last: bool) -> None:
            nonlocal frames_written
            if resampler is not None:
                block = np.ascontiguousarray(resampler.resample_chunk(block.T, last=last).T)
            if block.shape[1]:
                meter.add(block if writer is None else writer.write(block))
                frames_written += block.shape[1]

        def submit(job: Callable, *args) -> None:
            pending.append(io.submit(job, *args))
            while len(pending) > 2:
                pending.popleft().result()  # re-raises a writer error here

        for mix in graph.stream():
            if trimmer.finished:
                break
            block = mix.master
            content_end = graph.content_frames + graph.lead_in if graph.sources_done else None  # after the count-in
            skipped = min(to_skip, block.shape[1])
            block, to_skip = block[:, skipped:], to_skip - skipped
            clips.add(block, trimmer.position / rate, rate, mix.stems)
            pieces = list(trimmer.feed(block, content_end)) if block.shape[1] else []
            for piece in pieces:
                submit(write, piece, False)
            for tap in taps:
                submit(tap.push, mix, sum(piece.shape[1] for piece in pieces))
            if progress is not None:
                progress(trimmer.position / rate, expected_s)
        submit(write, np.zeros((2, 0), np.float32), True)
        for tap in taps:
            submit(tap.finish)
        while pending:
            pending.popleft().result()
    padded = padding_note(graph)
    if padded is not None:
        warn(padded)

    return RenderResult(
        path=output,
        frames=frames_written,
        sample_rate=out_rate,
        peak_dbfs=meter.peak_dbfs,
        loudness_lufs=meter.integrated_lufs,
        latency=graph.latency,
        clips=clips,
        mix_peak_dbfs=db(clips.highest),
    )
