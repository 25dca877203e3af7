"""The levels a session implies, in one place: compile builds the graph with them, live changes ramp to them.

A session's faders, pans, mutes, solos (of stems and buses; the master's mute) and sends become linear gains here, and nowhere else:
:func:`mix_levels` computes them, :func:`route` wires a graph's bus inputs from them (compile),
and :func:`apply_levels` moves a running graph to them, ramped over the next block (live mix changes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from stemhost.engine.graph import BusNode, Edge, MixGraph, NodeId
from stemhost.session.model import MASTER, Session
from stemhost.units import db_to_gain


def pan_gains(pan: float, gain_db: float, channels: int) -> tuple[float, float]:
    """Left and right gains of a strip's fader and pan.

    Mono sources use the constant-power law (−3 dB each side at centre); stereo sources use a
    balance control that leaves both sides untouched at centre and turns the far side down.
    """
    gain = db_to_gain(gain_db)
    if channels == 1:
        # sin of complementary angles: exactly 0 at the far side, identical sides at centre
        return gain * math.sin((1.0 - pan) * math.pi / 4.0), gain * math.sin((1.0 + pan) * math.pi / 4.0)
    return gain * min(1.0, 1.0 - pan), gain * min(1.0, 1.0 + pan)


@dataclass(frozen=True)
class StemLevels:
    """A stem's left and right gains (fader and pan), and whether mute and solo let it reach the mix."""

    gains: tuple[float, float]
    audible: bool


@dataclass(frozen=True)
class Route:
    """An input of a bus (or of the master): a node's output at a linear level."""

    bus: str
    source: NodeId
    level: float


@dataclass(frozen=True)
class MixLevels:
    """Every level of a session, linear.

    Attributes:
        stems: by stem name.
        buses: every bus's fader, by name (the master's under :data:`MASTER`).
        routes: every bus input, in the order the bus sums them: each stem's output, its sends,
            then each bus's output (a bus for its own device channels reaches no mix).
    """

    stems: dict[str, StemLevels]
    buses: dict[str, float]
    routes: tuple[Route, ...]


def mix_levels(session: Session, channels: Mapping[str, int]) -> MixLevels:
    """The levels of a session; ``channels`` gives each stem's channel count (the pan law depends on it)."""
    stems = {
        s.name: StemLevels(pan_gains(s.pan, s.gain_db, channels[s.name]), session.is_audible(s)) for s in session.stems
    }
    buses = {b.name: 0.0 if b.mute else db_to_gain(b.gain_db) for b in session.buses}
    buses[MASTER] = 0.0 if session.master.mute else db_to_gain(session.master.gain_db)
    routes = []
    for stem in session.stems:
        routes.append(Route(stem.output, NodeId("stem", stem.name), 1.0))
        routes += [Route(send.bus, NodeId("stem", stem.name), db_to_gain(send.level_db)) for send in stem.sends]
    routes += [Route(b.output, NodeId("bus", b.name), 1.0) for b in session.buses if b.device_channels is None]
    heard = solo_paths(session)
    if heard is not None:
        routes = [r if heard(r) else Route(r.bus, r.source, 0.0) for r in routes]
    return MixLevels(stems, buses, tuple(routes))


def solo_paths(session: Session) -> Callable[[Route], bool] | None:
    """With buses soloed, whether a route is heard: it leads into a soloed bus, or out of one on its way on.

    A route into a bus that feeds a soloed bus (or into the soloed bus itself) is heard, and so is a
    route out of a soloed bus or out of a bus it feeds; everything else is silenced (a stem's own
    output to the master, for example, when only its send reaches the soloed bus). None when no bus is soloed.
    """
    soloed = {b.name for b in session.buses if b.solo}
    if not soloed:
        return None
    output = {b.name: b.output for b in session.buses if b.device_channels is None}
    feeds_solo, fed_by_solo = set(soloed), set(soloed)
    for name in output:  # buses form a tree toward the master: follow each one's outputs
        path, bus = [name], name
        while bus in output:
            bus = output[bus]
            path.append(bus)
        for k, bus in enumerate(path):
            if bus in soloed:
                feeds_solo.update(path[:k])
                fed_by_solo.update(path[k:])
    return lambda r: r.bus in feeds_solo or (r.source.kind == "bus" and r.source.name in fed_by_solo)


def route(levels: MixLevels, buses: Mapping[str, BusNode]) -> None:
    """Give every bus (the master included, under :data:`MASTER`) its inputs: compile's wiring."""
    for r in levels.routes:
        buses[r.bus].edges.append(Edge(r.source, r.level))


def apply_levels(graph: MixGraph, levels: MixLevels) -> None:
    """Ramp a running graph to new levels over its next block (live: call between blocks, from the render thread)."""
    for node in graph.stems:
        stem = levels.stems[node.name]
        gains = stem.gains if stem.audible else (0.0, 0.0)
        if gains != node.gains or not node.audible:
            node.set_gains(gains)
    for bus in [*graph.buses, graph.master]:
        bus.target_gain = levels.buses[bus.name]
    inputs: dict[str, list[Route]] = {}
    for r in levels.routes:  # each bus's routes, in the order compile made its edges
        inputs.setdefault(r.bus, []).append(r)
    for bus in [*graph.buses, graph.master]:
        for edge, r in zip(bus.edges, inputs.get(bus.name, []), strict=True):
            if r.level != (edge.level if edge.target is None else edge.target):
                edge.target = r.level
