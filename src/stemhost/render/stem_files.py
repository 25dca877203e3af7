"""``--stems-out``: every stem as processed, and every bus, in files aligned with the master.

Each stem's file holds its output after its chain, fader and pan; each bus's file holds the bus's
output after its chain and fader (post-fader sends land there). Every part of the graph is late by
its own latency, so each file drops its own latency at the start; then all files line up with the
master frame for frame and hold as many frames. The files routed straight to the master sum to the
master's input, the pre-master mix (within float rounding, or 24-bit quantisation); ``stems.json``
says which they are. A stem routed into a group
bus is also inside that bus's file.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from stemhost import __version__
from stemhost.engine.buffers import LatencyTrim
from stemhost.engine.graph import MixBlock, MixGraph
from stemhost.errors import OutputError
from stemhost.formats import EXTENSIONS
from stemhost.ownership import is_plain_name, write_json_atomic
from stemhost.render.outputs import AtomicAudioWriter, OutputFormat, check_folder, make_output_folder
from stemhost.session.model import MASTER, Session

LISTING = "stems.json"


def stem_file_names(session: Session, fmt: OutputFormat) -> dict[str, tuple[str, str]]:
    """The files a stems folder gets: file name → (kind, name) for every audible stem and every bus."""
    ext = EXTENSIONS[fmt.format]
    files = {f"{s.name}{ext}": ("stem", s.name) for s in session.stems if session.is_audible(s)}
    for bus in session.buses:
        file = f"bus-{bus.name}{ext}"
        if file in files:
            raise OutputError(f"--stems-out: two parts of the mix would both be written to {file!r}; rename a stem")
        files[file] = ("bus", bus.name)
    odd = next((file for file in files if not is_plain_name(file)), None)
    if odd is not None:
        raise OutputError(f"--stems-out: {odd!r} cannot be a file name in the folder; rename the stem or bus")
    return files


def planned_stem_files(
    session: Session, folder: Path, fmt: OutputFormat, inputs: dict[Path, str]
) -> list[tuple[Path, str]]:
    """Every file ``--stems-out`` will write, checked against the folder; for :func:`ownership.check_outputs`.

    A folder that holds any of the session's inputs is refused (stem files would sit among the sources
    they were made from, and could take their names), and so is a folder holding a file of one of the names
    to be written that no stemhost render listed in its ``stems.json``, or a file an earlier render listed
    that this one would leave behind unlisted (a bus of another session, a stem muted since).
    """
    option = f"--stems-out {str(folder)!r}"
    check_folder(folder, "--stems-out")
    if folder.is_dir():
        real = folder.resolve()
        source = next((what for path, what in inputs.items() if path.resolve().parent == real), None)
        if source is not None:
            raise OutputError(f"{option}: the folder holds {source}; write the stems into a folder of their own")
    names = [*stem_file_names(session, fmt), LISTING]
    listed = _listed(folder, option) if (folder / LISTING).exists() else set()
    for name in names:
        if (folder / name).exists() and name not in listed:
            raise OutputError(
                f"{option}: {name!r} is already there and no stemhost render made it; "
                "choose another folder, or move the file away"
            )
    stale = sorted(name for name in listed - set(names) if (folder / name).exists())
    if stale:  # left beside the new files they would mislead; stemhost deletes nothing unasked
        raise OutputError(
            f"{option}: {stale[0]!r} is from an earlier render and this one does not write it "
            f"({len(stale)} such file{'s' if len(stale) > 1 else ''}); remove them or choose another folder"
        )
    return [(folder / name, f"{option}: {name!r}") for name in names]


def _listed(folder: Path, option: str) -> set[str]:
    """The files an earlier render listed in the folder's stems.json, with the listing itself."""
    try:
        data = json.loads((folder / LISTING).read_text(encoding="utf-8"))
        files = {entry["file"] for entry in data["files"]}
        if not all(is_plain_name(name) for name in files) or not isinstance(data["muted"], list):
            raise ValueError("not stemhost's listing")  # a check that python -O keeps, as an assert is not
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(
            f"{option}: {LISTING!r} there is not a listing stemhost wrote; choose another folder, or move it away"
        ) from exc
    return files | {LISTING}


@dataclass
class _Part:
    """One file: which part of the mix it takes, how late that part is, and where it goes."""

    file: str
    kind: str  # "stem" or "bus"
    name: str
    output: str  # where the part goes in the session: a bus name or "master"
    trim: LatencyTrim
    writer: AtomicAudioWriter | None = None
    resampler: soxr.ResampleStream | None = None

    def take(self, mix: MixBlock) -> np.ndarray | None:
        return mix.stems[self.name] if self.kind == "stem" else mix.buses[self.name]


class StemFiles:
    """Writes the parts of a streaming mix into one file each, in a folder.

    Args:
        graph: the compiled graph being rendered.
        session: its session (for the routing written to stems.json).
        folder: where the files go; made if missing.
        fmt: the files' format (a lossless one, so that they sum exactly).
        sample_rate: the files' rate in Hz (the graph's, or the render's output rate).
    """

    def __init__(self, graph: MixGraph, session: Session, folder: Path, fmt: OutputFormat, sample_rate: int) -> None:
        make_output_folder(folder, "--stems-out")
        self.folder = folder
        self.sample_rate = sample_rate
        self.frames = 0
        outputs = {("stem", s.name): s.output for s in session.stems}
        outputs |= {("bus", b.name): b.output for b in session.buses}
        latency = {("stem", s.name): s.latency for s in graph.stems} | {("bus", b.name): b.latency for b in graph.buses}
        self.skipped = [stem.name for stem in graph.stems if not stem.audible]
        self.parts = [
            _Part(file, kind, name, outputs[kind, name], LatencyTrim(latency[kind, name]))
            for file, (kind, name) in stem_file_names(session, fmt).items()
        ]
        self._stack = contextlib.ExitStack()
        try:
            for part in self.parts:
                part.writer = self._stack.enter_context(AtomicAudioWriter(folder / part.file, fmt, sample_rate))
                if sample_rate != graph.sample_rate:
                    part.resampler = soxr.ResampleStream(graph.sample_rate, sample_rate, 2, "float32", "VHQ")
        except BaseException:
            self._stack.__exit__(*sys.exc_info())  # drops the files opened so far
            raise

    def push(self, mix: MixBlock, frames: int) -> None:
        """Take the next block of the mix, and write the next frames (as many as the master wrote)."""
        for part in self.parts:
            self._write(part, part.trim.take(part.take(mix), mix.master.shape[1], frames), last=False)
        self.frames += frames

    def finish(self) -> None:
        """Flush the resamplers; the files are committed when the ``with`` block ends."""
        for part in self.parts:
            self._write(part, np.zeros((2, 0), np.float32), last=True)

    def _write(self, part: _Part, block: np.ndarray, last: bool) -> None:
        if part.resampler is not None:
            block = np.ascontiguousarray(part.resampler.resample_chunk(block.T, last=last).T)
        if block.shape[1]:
            part.writer.write(block)

    def manifest(self) -> dict:
        """What stems.json says: each file, what it holds, and whether it sums into the pre-master mix."""
        return {
            "stemhost": __version__,
            "sample_rate": self.sample_rate,
            "files": [
                {
                    "file": p.file,
                    "kind": p.kind,
                    "name": p.name,
                    "output": p.output,
                    "sums_to_premaster": p.output == MASTER,
                }
                for p in self.parts
            ],
            "muted": self.skipped,
        }

    def __enter__(self) -> StemFiles:
        return self

    def __exit__(self, *exc_info) -> None:
        self._stack.__exit__(*exc_info)
        if exc_info[0] is None:
            write_json_atomic(self.folder / LISTING, self.manifest())
