"""Session files: loading and checking them, and creating one from a folder of stems."""

from __future__ import annotations

import re
from pathlib import Path

from stemhost.errors import SessionError
from stemhost.formats import FORMATS
from stemhost.ownership import write_json_atomic
from stemhost.session.model import Session
from stemhost.session.routing import check_routing
from stemhost.session.stem_names import guess_role, is_full_mix, part_labels
from stemhost.session.validation import load_model, read_json


def load_session(path: Path) -> Session:
    """Read, validate and check the routing of a session file."""
    return load_session_data(read_json(path), path)


def stem_name(file_name: str, taken: set[str]) -> str:
    """A unique stem name from a file name: lower case, words joined by underscores."""
    base = "_".join(w for w in re.split(r"[^a-z0-9]+", Path(file_name).stem.lower()) if w) or "stem"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    return name


def init_session(folder: Path, force: bool = False) -> tuple[Path, Session, list[str]]:
    """Write ``folder/session.json`` with every audio file in the folder as a stem, full mixes left out.

    Roles are guessed from the file names; everything else keeps its default. A full mix (``mix.wav``,
    ``instrumental.wav``, ``Song(Custom Backing Track).mp3``) is left out rather than muted: as a stem it
    would double the band in every render, keep the vocal in karaoke, and count in the analysis, and any
    preset, solo or pack variant that touched its role could bring it back.

    Returns:
        (the session file, the session, the file names left out as full mixes).
    """
    if not folder.is_dir():
        raise SessionError(f"{folder}: not a folder; give the folder that holds the stems")
    target = folder / "session.json"
    if (target.exists() or target.is_symlink()) and not force:  # a dangling or looping link is there too
        raise SessionError(f"{target}: already exists; pass --force to replace it")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FORMATS)
    if not files:
        raise SessionError(f"{folder}: holds no audio files ({', '.join(sorted(set(FORMATS)))})")
    left_out = [p.name for p in files if is_full_mix(p.name)]
    if len(left_out) == len(files):
        raise SessionError(
            f"{folder}: holds only full mixes ({', '.join(left_out)}), no stems; stemhost mixes the parts of a "
            "song: put the stems in the folder, or write session.json by hand to use a mix as a stem"
        )
    parts = [p for p in files if p.name not in left_out]
    taken: set[str] = set()
    stems = []
    for path, label in zip(parts, part_labels([p.name for p in parts]), strict=True):
        name = stem_name(label, taken)
        taken.add(name)
        stems.append({"name": name, "file": path.name, "role": guess_role(path.name)})
    session = load_model(Session, {"stems": stems}, target.name)
    write_json_atomic(target, session.model_dump(mode="json", include={"stems": {"__all__": {"name", "file", "role"}}}))
    return target, session, left_out


def lead_vocal_candidates(session: Session) -> list[str] | None:
    """None when a stem is the lead vocal; else the stems most likely to hold the melody, likeliest first
    (backing vocals, then stems of no known role)."""
    if any(s.role == "lead_vocal" for s in session.stems):
        return None
    return [s.name for s in session.stems if s.role == "backing_vocals"] + [
        s.name for s in session.stems if s.role == "other"
    ]


def set_key_shift(path: Path, semitones: float) -> None:
    """Write a key_shift into a session file, keeping everything else in it."""
    set_fields(path, {"key_shift": semitones})


def set_fields(path: Path, fields: dict[str, object]) -> None:
    """Write top-level fields (``key_shift``; the song's ``key`` and ``bpm``) into a session file, atomically,
    keeping everything else in it."""
    data = read_json(path)
    data.update(fields)
    load_session_data(data, path)  # never write a session that would not load
    write_json_atomic(path, data, follow_symlinks=True)  # a linked session is edited where it lives


def load_session_data(data: object, path: Path) -> Session:
    """Validate already-parsed session JSON as if read from path."""
    session = load_model(Session, data, path.name)
    check_routing(session, path.name)
    return session


def save_mix(path: Path, session: Session, like: Path) -> None:
    """Write a session's mix (faders, pans, mutes, solos, key and tempo) into a session file, keeping the rest.

    Args:
        path: the file to write (the session itself, or a new file beside it).
        session: the session holding the mix.
        like: the session file whose other contents are kept (stems are found relative to its folder).
    """
    data = read_json(like)
    stems = {s.name: s for s in session.stems}
    for entry in data.get("stems", []):
        stem = stems.get(entry.get("name"))
        if stem is not None:
            entry.update(gain_db=stem.gain_db, pan=stem.pan, mute=stem.mute, solo=stem.solo)
    buses = {b.name: b for b in session.buses}
    for entry in data.get("buses", []):
        if entry.get("name") in buses:
            bus = buses[entry["name"]]
            entry.update(gain_db=bus.gain_db, mute=bus.mute, solo=bus.solo)
    data.setdefault("master", {}).update(gain_db=session.master.gain_db, mute=session.master.mute)
    _write_bypass(data, session)
    data["key_shift"], data["tempo"] = session.key_shift, session.tempo
    if path.resolve().parent != like.resolve().parent:  # stem paths are relative to the session's folder
        for entry in data.get("stems", []):
            entry["file"] = str((like.parent / entry["file"]).resolve())
    load_session_data(data, path)  # never write a session that would not load
    write_json_atomic(path, data, follow_symlinks=True)


def _write_bypass(data: dict, session: Session) -> None:
    """Each third-party plugin entry's bypass, from the session into its JSON (the mixer toggles them)."""
    strips = [(s.name, s.chain) for s in session.stems] + [(b.name, b.chain) for b in session.buses]
    chains = dict(strips)
    for kind in ("stems", "buses"):
        for entry in data.get(kind, []):
            _copy_bypass(entry.get("chain", []), chains.get(entry.get("name"), ()))
    _copy_bypass(data.get("master", {}).get("chain", []), session.master.chain)


def _copy_bypass(entries: list, chain) -> None:
    for entry, effect in zip(entries, chain, strict=False):
        if isinstance(entry, dict) and hasattr(effect, "bypass"):
            entry["bypass"] = effect.bypass


def chain_entry_path(data: dict, strip: str, index: int, file_name: str) -> tuple[list, str]:
    """The chain list holding a strip's entry in session JSON and the entry's location for messages.

    Args:
        data: the session file's JSON.
        strip: a stem's or bus's name, or ``master``.
        index: the entry's position in that strip's chain (from 0).

    Raises:
        SessionError: no such strip, or the chain has no entry at that index.
    """
    if strip == "master":
        chain, where = data.setdefault("master", {}).setdefault("chain", []), f"{file_name}: master.chain[{index}]"
    else:
        for kind in ("stems", "buses"):
            found = [i for i, s in enumerate(data.get(kind, [])) if isinstance(s, dict) and s.get("name") == strip]
            if found:
                chain = data[kind][found[0]].setdefault("chain", [])
                where = f"{file_name}: {kind}[{found[0]}].chain[{index}]"
                break
        else:
            names = [s.get("name") for k in ("stems", "buses") for s in data.get(k, []) if isinstance(s, dict)]
            raise SessionError(f"{file_name}: no stem or bus is named {strip!r}; use one of {names} or 'master'")
    if not 0 <= index < len(chain):
        raise SessionError(
            f"{where}: {strip}'s chain has {len(chain)} entries; give an index from 0 to {len(chain) - 1}"
        )
    return chain, where


def set_plugin_capture(path: Path, strip: str, index: int, captured: dict) -> None:
    """Write a captured plugin state (and its parameters' current values) into a chain entry, keeping the rest."""
    data = read_json(path)
    chain, _ = chain_entry_path(data, strip, index, path.name)
    entry = chain[index]
    entry["raw_state"] = captured["raw_state"]
    if entry.get("parameter_values"):  # applied after the state: keep them in step with it
        entry["parameter_values"] = {
            k: captured["parameter_values"].get(k, v) for k, v in entry["parameter_values"].items()
        }
    load_session_data(data, path)  # never write a session that would not load
    write_json_atomic(path, data, follow_symlinks=True)
