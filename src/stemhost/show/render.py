"""``stemhost show SETLIST --render OUT [--stems-out DIR]``: the whole set in one file, a backup for a venue.

Each song is rendered as it is played (:func:`~stemhost.show.entries.prepared_entry`: presets, singer, key, tempo,
mix, its count-in with the main mix silent), to a 32-bit float file in a journaled temporary folder beside the
output, then appended to the set and deleted; ``gap_s`` of silence follows every song but the last. The set is
streamed block by block (memory does not grow with its length) into an atomic writer, so no half-written set ever
takes the output's name. ``DIR/bus-cue.wav`` (the click and count-ins) is joined the same way, frame-aligned.

Loudness: a song's own target (``master.loudness`` in its session or presets) masters that song; ``--master`` and
``--loudness`` master the joined set as a whole (one gain and one true-peak limiter for every song, so their
balance is kept), rendered as a one-stem session through the same mastering as ``stemhost render``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile

from stemhost import __version__
from stemhost.engine.compile import input_paths, probe_stems, session_rate
from stemhost.errors import OutputError, warn
from stemhost.formats import EXTENSIONS
from stemhost.ownership import check_outputs, temporary_folder, write_json_atomic
from stemhost.render.clips import Clipping
from stemhost.render.driver import RenderOptions, RenderResult, render_session, stem_files_format
from stemhost.render.meter import LoudnessMeter
from stemhost.render.outputs import (
    AtomicAudioWriter,
    OutputFormat,
    check_folder,
    check_output_folder,
    make_output_folder,
    output_format,
)
from stemhost.render.stem_files import LISTING, _listed
from stemhost.session.model import Session
from stemhost.session.setlists import SetlistFile, load_setlist
from stemhost.show.check import song_title
from stemhost.show.entries import prefixed, prepared_entry

CUE = "bus-cue"
JOIN_BLOCK = 65536  # frames read and written at a time while joining


@dataclass(frozen=True)
class SongPlacement:
    """Where a song lies in the set file.

    Attributes:
        index: its place in the setlist, from 0.
        title: its name in lists.
        start_frame: the set's frame where the song's render (its count-in first) begins.
        frames: the song's render, count-in and tail included.
        gap_frames: the silence after it (none after the last song).
    """

    index: int
    title: str
    start_frame: int
    frames: int
    gap_frames: int


@dataclass
class ShowResult:
    """The set file, its songs and what its render measured (``result`` as for one render)."""

    result: RenderResult
    songs: list[SongPlacement]
    cue: Path | None


def render_show(
    path: Path,
    output: Path,
    options: RenderOptions = RenderOptions(),  # noqa: B008 - frozen dataclass
    stems_out: Path | None = None,
    mastering: Callable[[Session], Session] | None = None,
    progress: Callable[[float, float], None] | None = None,
    on_song: Callable[[SongPlacement, RenderResult], None] | None = None,
) -> ShowResult:
    """Render a setlist's songs, gaps and count-ins into one file (and the cue bus into ``stems_out``).

    Args:
        path: the setlist file.
        output: the set's file; its extension picks the format.
        options: as for a render; the sample rate is the set's (by default the highest of its songs').
        stems_out: a folder for ``bus-cue.wav``, frame-aligned with the output (silence where a song has no cue bus).
        mastering: given the joined set as a one-stem session, returns it with the master that masters it
            (``--master``, ``--loudness``: a loudness target); None writes the joined songs as they are.
        progress: called with (seconds of songs done, seconds expected) as the songs render.
        on_song: called as each song is appended, with its place and its render's result.

    Raises:
        StemhostError: a song that cannot be prepared or rendered, named; no set file is written then.
    """
    setlist = load_setlist(path)
    songs = [prepared_entry(setlist, i) for i in range(len(setlist.setlist.songs))]  # every song before any audio
    fmt = output_format(output, options.bit_depth, options.mp3_mode)
    check_output_folder(output)
    cue_fmt = stem_files_format(output, options.bit_depth)
    cue = stems_out / f"{CUE}{EXTENSIONS[cue_fmt.format]}" if stems_out is not None else None
    _check_outputs(setlist, songs, output, stems_out, cue)
    infos = []
    for index, (session, session_path) in enumerate(songs):
        with prefixed(setlist.named(index)):
            infos.append(probe_stems(session, session_path))
    rate = options.sample_rate or max(session_rate(s, i) for (s, _), i in zip(songs, infos, strict=True))
    plan = _Plan(
        setlist,
        songs,
        rate,
        [max(i.frames / i.sample_rate for i in found) / s.tempo for (s, _), found in zip(songs, infos, strict=True)],
        replace(options, bit_depth="32f", mp3_mode=None, sample_rate=rate),
        cue,
        cue_fmt,
    )
    tags = {"title": setlist.setlist.title} if setlist.setlist.title else {}
    with temporary_folder(output.parent) as work:
        if mastering is None:
            result, placements = _join(plan, work, output, fmt, tags, progress, on_song)
        else:
            joined = work / "set.wav"
            _, placements = _join(plan, work, joined, output_format(joined, "32f"), {}, progress, on_song)
            whole = Session.model_validate(
                {"stems": [{"name": "set", "file": joined.name}], "title": setlist.setlist.title}  # beside set.json
            )
            result = render_session(
                mastering(whole), work / "set.json", output, replace(options, tail_s=0.0, sample_rate=None)
            )
    if cue is not None:
        write_json_atomic(stems_out / LISTING, _listing(cue, rate))
    return ShowResult(result, placements, cue)


@dataclass(frozen=True)
class _Plan:
    setlist: SetlistFile
    songs: list[tuple[Session, Path]]
    rate: int
    expected_s: list[float]  # each song's longest stem at its tempo
    song_options: RenderOptions
    cue: Path | None
    cue_format: OutputFormat


def _join(
    plan: _Plan,
    work: Path,
    target: Path,
    fmt: OutputFormat,
    tags: dict[str, str],
    progress: Callable[[float, float], None] | None,
    on_song: Callable[[SongPlacement, RenderResult], None] | None,
) -> tuple[RenderResult, list[SongPlacement]]:
    """Render each song into work, append it and its gap to target (and its cue to the cue file), delete it."""
    placements: list[SongPlacement] = []
    meter, position, total = LoudnessMeter(2, plan.rate), 0, sum(plan.expected_s)
    with contextlib.ExitStack() as stack:
        main = stack.enter_context(AtomicAudioWriter(target, fmt, plan.rate, tags=tags))
        cue = None
        if plan.cue is not None:
            make_output_folder(plan.cue.parent, "--stems-out")
            what = f"--stems-out {str(plan.cue.parent)!r}: {plan.cue.name!r}"
            cue = stack.enter_context(AtomicAudioWriter(plan.cue, plan.cue_format, plan.rate, what=what))
        for index, (session, session_path) in enumerate(plan.songs):
            song = plan.setlist.setlist.songs[index]
            before = sum(plan.expected_s[:index])

            def step(done_s: float, _expected_s: float, before: float = before) -> None:
                if progress is not None:
                    progress(before + done_s, total)

            song_file, song_stems = work / f"song-{index}.wav", work / f"stems-{index}" if cue else None
            with prefixed(plan.setlist.named(index)):
                result = render_session(session, session_path, song_file, plan.song_options, step, song_stems)
            frames = _append(main, song_file, meter)
            song_file.unlink()
            if cue is not None:
                _append_cue(cue, song_stems / f"{CUE}.wav", frames, plan.setlist.named(index))
                shutil.rmtree(song_stems)
            gap = round(song.gap_s * plan.rate) if index < len(plan.songs) - 1 else 0
            _silence(main, gap, meter)
            if cue is not None:
                _silence(cue, gap)
            placement = SongPlacement(index, song_title(session, session_path), position, frames, gap)
            placements.append(placement)
            position += frames + gap
            if on_song is not None:
                on_song(placement, result)
    joined = RenderResult(target, position, plan.rate, meter.peak_dbfs, meter.integrated_lufs, 0, Clipping())
    return joined, placements


def _append(
    writer: AtomicAudioWriter, path: Path, meter: LoudnessMeter | None = None, frames: int | None = None
) -> int:
    """Stream a file's frames (at most ``frames``) into the writer; returns how many were appended."""
    done = 0
    with soundfile.SoundFile(str(path)) as source:
        for block in source.blocks(JOIN_BLOCK, dtype="float32", always_2d=True):
            if frames is not None:
                block = block[: frames - done]
            if not len(block):
                break
            stored = writer.write(np.ascontiguousarray(block.T))
            if meter is not None:
                meter.add(stored)
            done += len(block)
    return done


def _append_cue(writer: AtomicAudioWriter, path: Path, frames: int, where: str) -> None:
    """A song's cue bus, exactly as long as its main render: silence where the song has no cue bus."""
    done = _append(writer, path, frames=frames) if path.is_file() else 0
    if path.is_file() and done != frames:
        warn(f"{where}: its cue bus holds {done} frames, its main mix {frames}; the cue was padded with silence")
    _silence(writer, frames - done)


def _silence(writer: AtomicAudioWriter, frames: int, meter: LoudnessMeter | None = None) -> None:
    for start in range(0, frames, JOIN_BLOCK):
        stored = writer.write(np.zeros((2, min(JOIN_BLOCK, frames - start)), np.float32))
        if meter is not None:
            meter.add(stored)


def _check_outputs(
    setlist: SetlistFile, songs: list[tuple[Session, Path]], output: Path, stems_out: Path | None, cue: Path | None
) -> None:
    """The set file and the cue file are none of the inputs; the stems folder holds nothing stemhost did not list."""
    inputs = {setlist.path.resolve(): "the setlist"}
    if setlist.singers_path is not None:
        inputs[setlist.singers_path] = "the singers file"
    for session, session_path in songs:
        inputs |= input_paths(session, session_path)
    outputs = [(output, f"-o {str(output)!r}")]
    if stems_out is not None and cue is not None:
        option = f"--stems-out {str(stems_out)!r}"
        check_folder(stems_out, "--stems-out")
        listed = _listed(stems_out, option) if (stems_out / LISTING).is_file() else set()
        for name in (cue.name, LISTING):
            if (stems_out / name).exists() and name not in listed:
                raise OutputError(f"{option}: {name!r} is already there and no stemhost render made it; "
                                  "choose another folder, or move the file away")  # fmt: skip
        stale = sorted(n for n in listed - {cue.name, LISTING} if (stems_out / n).exists())
        if stale:
            raise OutputError(f"{option}: {stale[0]!r} is from an earlier render and the set's render does not "
                              "write it; remove it or choose another folder")  # fmt: skip
        outputs += [(cue, f"{option}: {cue.name!r}"), (stems_out / LISTING, f"{option}: {LISTING!r}")]
    check_outputs(outputs, inputs)


def _listing(cue: Path, rate: int) -> dict:
    """stems.json for a set's stems folder: the cue bus alone, in the format a render's listing has."""
    file = {"file": cue.name, "kind": "bus", "name": "cue", "output": None, "sums_to_premaster": False}
    return {"stemhost": __version__, "sample_rate": rate, "files": [file], "muted": []}
