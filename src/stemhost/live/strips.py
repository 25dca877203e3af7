"""The mixer's strips as the user sees and changes them, their peak meters, and the session they make."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import PurePath

import numpy as np

from stemhost.engine.graph import MixBlock
from stemhost.session.effects import ThirdPartyPlugin
from stemhost.session.model import MASTER, Send, Session


@dataclass
class PluginSlot:
    """A third-party plugin in a strip's chain: its index in the chain, its name, whether it is bypassed."""

    index: int
    name: str
    bypass: bool


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
    plugins: list[PluginSlot] = field(default_factory=list)  # its chain's third-party plugins
    chain: tuple[str, ...] = ()  # every entry of its chain by type, for the mixer to show


def strips_of(session: Session) -> dict[tuple[str, str], Strip]:
    """Every strip of a session, by (kind, name): stems, buses, then the master."""
    strips = {
        ("stem", s.name): Strip(
            "stem",
            s.name,
            s.role,
            s.gain_db,
            s.pan,
            s.mute,
            s.solo,
            plugins=plugin_slots(s.chain),
            chain=kinds(s.chain),
        )
        for s in session.stems
    }
    strips |= {
        ("bus", b.name): Strip(
            "bus",
            b.name,
            "bus",
            b.gain_db,
            mute=b.mute,
            solo=b.solo,
            plugins=plugin_slots(b.chain),
            chain=kinds(b.chain),
        )
        for b in session.buses
    }
    master = session.master
    strips[("master", MASTER)] = Strip(
        "master",
        MASTER,
        "master",
        master.gain_db,
        mute=master.mute,
        plugins=plugin_slots(master.chain),
        chain=kinds(master.chain),
    )
    return strips


def kinds(chain) -> tuple[str, ...]:
    """A chain's entries by type (``PeakFilter``), third-party plugins by name."""
    return tuple(
        (e.plugin_name or PurePath(e.path_to_plugin_file).stem) if isinstance(e, ThirdPartyPlugin) else e.type
        for e in chain
    )


def plugin_slots(chain) -> list[PluginSlot]:
    """The third-party plugins of a chain, named by their plugin name or bundle."""
    return [
        PluginSlot(k, e.plugin_name or PurePath(e.path_to_plugin_file).stem, e.bypass)
        for k, e in enumerate(chain)
        if isinstance(e, ThirdPartyPlugin)
    ]


def _with_bypass(chain, strip: Strip) -> tuple:
    bypass = {slot.index: slot.bypass for slot in strip.plugins}
    return tuple(e.model_copy(update={"bypass": bypass[k]}) if k in bypass else e for k, e in enumerate(chain))


def session_with(
    session: Session, strips: dict[tuple[str, str], Strip], send_levels: dict[tuple[str, str], float]
) -> Session:
    """The session with the strips' faders, pans, mutes and solos (buses' too, the master's mute), and send levels by (stem, bus) in dB."""

    def send(stem: str, s: Send) -> Send:
        level_db = send_levels.get((stem, s.bus))
        return s if level_db is None else s.model_copy(update={"level_db": level_db})

    stems = [
        s.model_copy(
            update={k: getattr(strips[("stem", s.name)], k) for k in ("gain_db", "pan", "mute", "solo")}
            | {
                "sends": tuple(send(s.name, x) for x in s.sends),
                "chain": _with_bypass(s.chain, strips[("stem", s.name)]),
            }
        )
        for s in session.stems
    ]
    buses = [
        b.model_copy(
            update={k: getattr(strips[("bus", b.name)], k) for k in ("gain_db", "mute", "solo")}
            | {"chain": _with_bypass(b.chain, strips[("bus", b.name)])}
        )
        for b in session.buses
    ]
    master_strip = strips[("master", MASTER)]
    master = session.master.model_copy(
        update={
            "gain_db": master_strip.gain_db,
            "mute": master_strip.mute,
            "chain": _with_bypass(session.master.chain, master_strip),
        }
    )
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
