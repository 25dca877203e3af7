"""The mixer's strips as the user sees and changes them, their peak meters, and the session they make."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from stemhost.engine.graph import MixBlock
from stemhost.session.model import MASTER, Send, Session


@dataclass
class Strip:
    """One mixer strip as the user sees and changes it."""

    kind: str  # "stem", "bus" or "master"
    name: str
    role: str = ""
    gain_db: float = 0.0
    pan: float = 0.0
    mute: bool = False
    solo: bool = False
    peak: float = 0.0  # linear peak since the UI last took it


def strips_of(session: Session) -> dict[tuple[str, str], Strip]:
    """Every strip of a session, by (kind, name): stems, buses, then the master."""
    strips = {("stem", s.name): Strip("stem", s.name, s.role, s.gain_db, s.pan, s.mute, s.solo) for s in session.stems}
    strips |= {("bus", b.name): Strip("bus", b.name, "bus", b.gain_db) for b in session.buses}
    strips[("master", MASTER)] = Strip("master", MASTER, "master", session.master.gain_db)
    return strips


def session_with(
    session: Session, strips: dict[tuple[str, str], Strip], send_levels: dict[tuple[str, str], float]
) -> Session:
    """The session with the strips' faders, pans, mutes and solos, and send levels by (stem, bus) in dB."""

    def send(stem: str, s: Send) -> Send:
        level_db = send_levels.get((stem, s.bus))
        return s if level_db is None else s.model_copy(update={"level_db": level_db})

    stems = [
        s.model_copy(
            update={k: getattr(strips[("stem", s.name)], k) for k in ("gain_db", "pan", "mute", "solo")}
            | {"sends": tuple(send(s.name, x) for x in s.sends)}
        )
        for s in session.stems
    ]
    buses = [b.model_copy(update={"gain_db": strips[("bus", b.name)].gain_db}) for b in session.buses]
    master = session.master.model_copy(update={"gain_db": strips[("master", MASTER)].gain_db})
    return session.model_copy(update={"stems": stems, "buses": buses, "master": master})


class PeakMeters:
    """The strips' peaks: raised by the render thread after each block, taken and reset by the UI.

    Both write :attr:`Strip.peak`, so both hold :attr:`lock` (neither is the audio callback).
    """

    def __init__(self, strips: dict[tuple[str, str], Strip]) -> None:
        self.strips = strips
        self.lock = threading.Lock()

    def add(self, mix: MixBlock) -> None:
        """Raise every strip's peak to this block's (render thread)."""
        levels = {("stem", name): out for name, out in mix.stems.items() if out is not None}
        levels |= {("bus", name): out for name, out in mix.buses.items()}
        levels[("master", MASTER)] = mix.master
        peaks = {key: float(np.max(np.abs(out))) for key, out in levels.items()}
        with self.lock:
            for key, peak in peaks.items():
                strip = self.strips[key]
                strip.peak = max(strip.peak, peak)

    def take(self) -> dict[tuple[str, str], float]:
        """Every strip's peak since the last call (linear), reset to 0 (UI thread)."""
        with self.lock:
            peaks = {}
            for key, strip in self.strips.items():
                peaks[key], strip.peak = strip.peak, 0.0
            return peaks
