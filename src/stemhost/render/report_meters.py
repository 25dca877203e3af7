"""The mix report's strip meters: every stem's and bus's peak, loudness and short-term loudness over time.

A mix tap (:class:`StemMeters`) fed while the mix renders, so memory stays flat in the song's length: per strip a
loudness meter's fixed histogram and one short-term reading every half second.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from stemhost.engine.buffers import LatencyTrim
from stemhost.render.meter import LoudnessMeter

if TYPE_CHECKING:  # types only
    from stemhost.engine.graph import MixBlock, MixGraph
    from stemhost.session.model import Session

HOT_DBFS = -1.0  # a strip peaking above this is marked: it leaves the master little headroom
STRIP_STEP_S = 0.5  # one short-term (3 s) loudness reading per strip every half second


@dataclass(frozen=True)
class StemRow:
    """One line of the strip table: a stem or a bus.

    Attributes:
        name: the stem's or bus's name.
        role: the stem's role in the session; ``bus`` for a bus.
        peak_dbfs: highest sample of its output (after chain, fader and pan) in dBFS; None when muted.
        loudness_lufs: integrated loudness of that output in LUFS, -inf when silent; None when muted.
        muted: muted, or left out by another stem's solo.
        kind: ``stem`` or ``bus``.
        short_term_s: the time of each short-term reading in seconds (the end of its 3 s), shape ``(k,)``.
        short_term_lufs: short-term loudness at those times in LUFS (-inf in silence), shape ``(k,)``;
            empty when muted.
    """

    name: str
    role: str
    peak_dbfs: float | None
    loudness_lufs: float | None
    muted: bool
    kind: str = "stem"
    short_term_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    short_term_lufs: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def hot(self) -> bool:
        """It peaks above −1 dBFS."""
        return self.peak_dbfs is not None and self.peak_dbfs > HOT_DBFS


class StemMeters:
    """A mix tap that measures every audible stem's and every bus's output over exactly the frames the master holds.

    Each part is late by its own latency; that much is dropped at its start, as ``--stems-out`` does, so the
    figures are those of the stem files.

    Args:
        graph: the compiled graph being rendered.
        session: its session (for the stems' roles).
    """

    def __init__(self, graph: MixGraph, session: Session) -> None:
        roles = {stem.name: stem.role for stem in session.stems}
        self._order = [(stem.name, roles[stem.name], "stem") for stem in graph.stems]
        self._order += [(bus.name, "bus", "bus") for bus in graph.buses]
        every = max(1, round(STRIP_STEP_S * graph.sample_rate))
        parts = [(("stem", s.name), s.latency) for s in graph.stems if s.audible]
        parts += [(("bus", b.name), b.latency) for b in graph.buses]
        self._meters = {key: LoudnessMeter(2, graph.sample_rate, short_term_every=every) for key, _ in parts}
        self._trims = {key: LatencyTrim(latency) for key, latency in parts}

    def push(self, mix: MixBlock, frames: int) -> None:
        """Measure the next block of every part, as many frames as the master wrote for it."""
        n = mix.master.shape[1]
        for (kind, name), meter in self._meters.items():
            block = mix.stems[name] if kind == "stem" else mix.buses[name]
            meter.add(self._trims[kind, name].take(block, n, frames))

    def finish(self) -> None:
        """Nothing to flush: the meters hold their figures."""

    def rows(self) -> list[StemRow]:
        """Every stem in session order, muted ones without figures, then every bus."""
        rows = []
        for name, role, kind in self._order:
            meter = self._meters.get((kind, name))
            if meter is None:
                rows.append(StemRow(name, role, None, None, muted=True, kind=kind))
                continue
            series = np.asarray(meter.short_term, dtype=np.float64)
            rows.append(
                StemRow(name, role, meter.peak_dbfs, meter.integrated_lufs, False, kind, meter.short_term_s, series)
            )
        return rows
