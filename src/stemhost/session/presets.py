"""Presets: partial sessions laid over a session, and the CLI's --mute/--solo/--gain/--pan.

A preset addresses stems by ``name`` or by ``role`` and may set any stem field but ``file``;
it may change existing buses, add new ones, and change the master. Presets apply in order,
each on top of the last; the CLI's overrides apply last.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from stemhost.errors import SessionError, did_you_mean, warn
from stemhost.session.model import Chain, FaderDb, Loudness, Name, Pan, Role, Semitones, Send, Session, Tempo
from stemhost.session.routing import check_routing
from stemhost.session.validation import load_model, read_json


class _Patch(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def changes(self, *, exclude: set[str]) -> dict:
        """The fields this patch sets, as a dict for model_copy(update=...)."""
        return {k: getattr(self, k) for k in self.model_fields_set - exclude}


class StemPatch(_Patch):
    """Changes to every stem with this name, or to every stem in this role."""

    name: Name | None = None
    role: Role | None = None
    gain_db: FaderDb | None = None
    pan: Pan | None = None
    mute: bool | None = None
    solo: bool | None = None
    chain: Chain | None = None
    output: Name | None = None
    sends: tuple[Send, ...] | None = None
    pitched: bool | None = None
    key_shift: Semitones | None = None

    @model_validator(mode="after")
    def _one_selector(self) -> StemPatch:
        if (self.name is None) == (self.role is None):
            raise ValueError("give exactly one of 'name' or 'role' to choose the stems this entry changes")
        return self


class BusPatch(_Patch):
    """Changes to the bus of this name, or a new bus."""

    name: Name
    gain_db: FaderDb | None = None
    chain: Chain | None = None
    output: Name | None = None


class MasterPatch(_Patch):
    gain_db: FaderDb | None = None
    chain: Chain | None = None
    loudness: Loudness | None = None


class Preset(_Patch):
    """A reusable mix laid over any session."""

    description: Annotated[str, Field(max_length=200)] = ""
    stems: tuple[StemPatch, ...] = ()
    buses: tuple[BusPatch, ...] = ()
    master: MasterPatch | None = None
    key_shift: Semitones | None = None
    tempo: Tempo | None = None


def bundled_dir() -> Path:
    """The folder of bundled presets: inside the installed package, or the source checkout's."""
    packaged = Path(str(resources.files("stemhost") / "presets"))
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "presets"


def bundled_presets() -> dict[str, Path]:
    """Bundled preset names and their files (the session schema is not a preset)."""
    return {p.stem: p for p in sorted(bundled_dir().glob("*.json")) if not p.name.endswith(".schema.json")}


@functools.cache
def mastering_presets() -> tuple[str, ...]:
    """The bundled presets that set only the master (streaming, apple...): for ``--master``, not for the mix."""
    kept = []
    for name in bundled_presets():
        preset = load_preset(name)[0]
        if (
            preset.master is not None
            and not (preset.stems or preset.buses)
            and preset.key_shift is preset.tempo is None
        ):
            kept.append(name)
    return tuple(kept)


@functools.cache
def mix_presets() -> tuple[str, ...]:
    """The other bundled presets: mixes laid over a song (karaoke, harmonies...)."""
    return tuple(name for name in bundled_presets() if name not in mastering_presets())


def load_preset(name_or_path: str) -> tuple[Preset, str]:
    """A preset by bundled name or by path; returns it with the label used in messages."""
    bundled = bundled_presets()
    if name_or_path in bundled:
        path = bundled[name_or_path]
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise SessionError(
                f"--preset {name_or_path!r}: no bundled preset of that name and no such file; "
                f"bundled: {', '.join(bundled)}"
            )
    return load_model(Preset, read_json(path), path.name), path.name


def apply_preset(session: Session, preset: Preset, label: str, *, strict: bool = False) -> Session:
    """Lay a preset over a session and check the result.

    Args:
        session: the session.
        preset: the preset.
        label: the preset's file or option, for messages.
        strict: an entry matching no stem is an error (CLI overrides) rather than a warning.
    """
    stems = list(session.stems)
    for i, patch in enumerate(preset.stems):
        hits = [k for k, s in enumerate(stems) if s.name == patch.name or s.role == patch.role]
        if not hits:
            _unmatched(session, patch, f"{label}: stems[{i}]", strict)
        for k in hits:
            stems[k] = stems[k].model_copy(update=patch.changes(exclude={"name", "role"}))
    buses = list(session.buses)
    for patch in preset.buses:
        k = next((k for k, b in enumerate(buses) if b.name == patch.name), None)
        if k is None:
            buses.append(patch)
        else:
            buses[k] = buses[k].model_copy(update=patch.changes(exclude={"name"}))
    master = session.master
    if preset.master is not None:
        master = master.model_copy(update=preset.master.changes(exclude=set()))
    data = session.model_dump()
    data.update(preset.changes(exclude={"description", "stems", "buses", "master"}))
    data.update(
        stems=[s.model_dump() for s in stems],
        buses=[b.model_dump(exclude_none=True) for b in buses],
        master=master.model_dump(),
    )
    result = load_model(Session, data, f"session with {label}")
    check_routing(result, f"session with {label}")
    return result


def _unmatched(session: Session, patch: StemPatch, where: str, strict: bool) -> None:
    what = f"name {patch.name!r}" if patch.name is not None else f"role {patch.role!r}"
    message = f"{where}: no stem has the {what}; {_stems_and_roles(session, patch.name or patch.role)}"
    if strict:
        raise SessionError(message)
    warn(message)


def override_preset(
    session: Session,
    mute: list[str] = (),
    solo: list[str] = (),
    gain: list[str] = (),
    pan: list[str] = (),
    key: float | None = None,
    tempo: float | None = None,
    loudness: float | None = None,
    true_peak: float | None = None,
) -> Preset:
    """The CLI's --mute, --solo, --gain NAME=DB, --pan NAME=P (names or roles), --key and --tempo as a preset."""
    transport = {}
    for option, value, field in (("--key", key, "key_shift"), ("--tempo", tempo, "tempo")):
        if value is not None:
            typed = getattr(value, "typed", None) or f"{value:g}"  # echoed as typed (+30, not 30)
            transport.update(load_model(Preset, {field: value}, f"{option} {typed}").changes(exclude=set()))
    patches: list[StemPatch] = []
    for option, targets, field in (("--mute", mute, "mute"), ("--solo", solo, "solo")):
        for target in targets:
            entry = {**_selector(session, target, option), field: True}
            patches.append(load_model(StemPatch, entry, f"{option} {target!r}"))
    for option, pairs, field in (("--gain", gain, "gain_db"), ("--pan", pan, "pan")):
        for pair in pairs:
            target, sep, value = pair.partition("=")
            try:
                number = float(value)
            except ValueError:
                number = None
            if not sep or number is None:
                raise SessionError(f"{option} {pair!r}: write NAME={'DB' if field == 'gain_db' else 'P'}, e.g. bass=+3")
            entry = {**_selector(session, target, option), field: number}
            patches.append(load_model(StemPatch, entry, f"{option} {pair!r}"))
    master = None
    if loudness is not None or true_peak is not None:
        current = session.master.loudness
        if loudness is None and current is None:
            raise SessionError(
                f"--true-peak {true_peak:g}: a ceiling needs a loudness target; add --loudness or --master streaming"
            )
        target = {
            "target_lufs": loudness if loudness is not None else current.target_lufs,
            "true_peak_dbtp": true_peak if true_peak is not None else (current.true_peak_dbtp if current else -1.0),
        }
        label = " ".join(
            f"{o} {v:g}" for o, v in (("--loudness", loudness), ("--true-peak", true_peak)) if v is not None
        )
        master = load_model(MasterPatch, {"loudness": target}, label)
    return Preset(stems=tuple(patches), master=master, **transport)


def _selector(session: Session, target: str, option: str) -> dict[str, str]:
    if any(s.name == target for s in session.stems):
        return {"name": target}
    if any(s.role == target for s in session.stems):
        return {"role": target}
    raise SessionError(f"{option} {target!r}: no stem has that name or role; {_stems_and_roles(session, target)}")


def _stems_and_roles(session: Session, wanted: str) -> str:
    """What a message lists when a name or role matches nothing: the nearest first, then every stem and role."""
    names = [s.name for s in session.stems]
    roles = sorted({s.role for s in session.stems})
    hint = did_you_mean(wanted, names + roles)
    return f"{hint + ' ' if hint else ''}stems: {', '.join(names)}; roles: {', '.join(roles)}"
