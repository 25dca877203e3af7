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
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soxr

from stemhost.buffers import LatencyTrim
from stemhost.errors import OutputError
from stemhost.graph import MixBlock, MixGraph
from stemhost.model import MASTER, Session
from stemhost.outputs import AtomicAudioWriter, OutputFormat, make_output_folder, write_json_atomic


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
        ext = {"WAV": ".wav", "FLAC": ".flac", "AIFF": ".aiff"}[fmt.format]
        outputs = {s.name: s.output for s in session.stems} | {f"bus:{b.name}": b.output for b in session.buses}
        self.skipped = [stem.name for stem in graph.stems if not stem.audible]
        self.parts = [
            _Part(f"{s.name}{ext}", "stem", s.name, outputs[s.name], LatencyTrim(s.latency))
            for s in graph.stems
            if s.audible
        ]
        self.parts += [
            _Part(f"bus-{b.name}{ext}", "bus", b.name, outputs[f"bus:{b.name}"], LatencyTrim(b.latency))
            for b in graph.buses
        ]
        files = [p.file for p in self.parts]
        clash = next((f for f in files if files.count(f) > 1), None)
        if clash is not None:
            raise OutputError(f"--stems-out: two parts of the mix would both be written to {clash!r}; rename a stem")
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
            write_json_atomic(self.folder / "stems.json", self.manifest())
