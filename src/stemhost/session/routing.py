"""The session's routing: names, edges between stems, buses and the master, and their order.

Edges are named (a stem's ``output`` and ``sends``, a bus's ``output``). Duplicate names,
unknown targets and cycles are errors found here, before any audio is read.
"""

from __future__ import annotations

from stemhost.errors import SessionError
from stemhost.session.model import MASTER, Session


def check_routing(session: Session, label: str) -> None:
    """Reject duplicate names, unknown bus names and bus cycles.

    Args:
        session: the session to check.
        label: the file named in messages.
    """
    _check_unique([s.name for s in session.stems], "stems", label)
    _check_unique([b.name for b in session.buses], "buses", label)
    bus_names = [b.name for b in session.buses]
    for i, bus in enumerate(session.buses):
        if bus.name == MASTER:
            raise SessionError(f"{label}: buses[{i}].name: {MASTER!r} is reserved; the master is set in 'master'")
    targets = [*bus_names, MASTER]
    for i, stem in enumerate(session.stems):
        _check_target(stem.output, targets, f"{label}: stems[{i}].output")
        for j, send in enumerate(stem.sends):
            _check_target(send.bus, bus_names, f"{label}: stems[{i}].sends[{j}].bus")
    for i, bus in enumerate(session.buses):
        _check_target(bus.output, targets, f"{label}: buses[{i}].output")
    bus_order(session, label)


def bus_order(session: Session, label: str = "session") -> list[str]:
    """The buses sorted so that every bus comes after the buses feeding it (master not included)."""
    feeds = {b.name: b.output for b in session.buses}
    order: list[str] = []
    state: dict[str, str] = {}

    index = {b.name: i for i, b in enumerate(session.buses)}

    def visit(name: str, trail: list[str]) -> None:
        """Place the buses feeding name, then name; trail runs against the signal."""
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            flow = [*trail[trail.index(name) :], name][::-1]
            raise SessionError(
                f"{label}: buses[{index[flow[-2]]}].output: the buses form a cycle: {' → '.join(flow)}; "
                "a bus cannot feed itself, even indirectly"
            )
        state[name] = "visiting"
        for upstream, target in feeds.items():
            if target == name:
                visit(upstream, [*trail, name])
        state[name] = "done"
        order.append(name)

    for name in feeds:
        visit(name, [])
    return order


def render_tree(session: Session) -> str:
    """The routing as a text tree from the master down to the stems, with sends marked."""
    lines = [f"master  (gain {session.master.gain_db:+.1f} dB{_chain_text(session.master.chain)})"]

    def children(target: str) -> list[str]:
        rows = [
            f"bus {b.name}  (gain {b.gain_db:+.1f} dB{_chain_text(b.chain)})"
            for b in session.buses
            if b.output == target
        ]
        rows += [_stem_text(session, s.name) for s in session.stems if s.output == target]
        if target != MASTER:
            rows += [
                f"send from {s.name} at {send.level_db:+.1f} dB"
                for s in session.stems
                for send in s.sends
                if send.bus == target
            ]
        return rows

    def walk(target: str, prefix: str) -> None:
        rows = children(target)
        for k, row in enumerate(rows):
            last = k == len(rows) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{row}")
            if row.startswith("bus "):
                walk(row.split()[1], prefix + ("    " if last else "│   "))

    walk(MASTER, "")
    return "\n".join(lines)


def _stem_text(session: Session, name: str) -> str:
    stem = next(s for s in session.stems if s.name == name)
    flags = "".join([" MUTE" if stem.mute else "", " SOLO" if stem.solo else ""])
    silent = "" if session.is_audible(stem) else " (silent)"
    return (
        f"stem {stem.name} [{stem.role}] {stem.file}  (gain {stem.gain_db:+.1f} dB, pan {stem.pan:+.2f}"
        f"{_chain_text(stem.chain)}){flags}{silent}"
    )


def _chain_text(chain: tuple) -> str:
    return f", {' → '.join(_effect_text(e) for e in chain)}" if chain else ""


def _effect_text(effect: object) -> str:
    """An effect's class name; a third-party plugin's bundle name (``ZamEQ2.vst3``), marked when bypassed."""
    bundle = getattr(effect, "path_to_plugin_file", None)
    if bundle is None:
        return type(effect).__name__
    return bundle.replace("\\", "/").rsplit("/", 1)[-1] + (" (bypassed)" if getattr(effect, "bypass", False) else "")


def _check_unique(names: list[str], field: str, label: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise SessionError(
                f"{label}: {field}[{i}].name: {name!r} is already the name of {field}[{seen[name]}]; names must be unique"
            )
        seen[name] = i


def _check_target(target: str, valid: list[str], where: str) -> None:
    if target not in valid:
        choices = ", ".join(repr(v) for v in valid) or "none (the session has no buses)"
        raise SessionError(f"{where}: {target!r} is not a bus; valid: {choices}")
