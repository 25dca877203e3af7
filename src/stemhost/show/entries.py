"""One setlist song as it is played: its session with presets, singer, key, tempo, mix and count-in applied.

:func:`prepared_entry` is the one place a song is resolved, for ``show --check``, ``show --render`` and the live show.
Order: the song's presets, then the singer's; the singer's mix, then the song's; the song's key and tempo;
the count-in; last the singer's key, the one ``fit`` picks for their range (from the cached analysis).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path

from stemhost.engine.compile import input_paths
from stemhost.errors import FitError, SessionError, StemhostError, did_you_mean
from stemhost.session.files import load_session
from stemhost.session.model import Click, Session
from stemhost.session.presets import Preset, apply_preset, bundled_presets, override_preset
from stemhost.session.setlists import Mix, SetlistFile, Song
from stemhost.session.singers import Singer, Singers, find_singer, load_singers
from stemhost.session.validation import load_model, read_json


def prepared_entry(setlist: SetlistFile, index: int) -> tuple[Session, Path]:
    """The session of song ``index`` as the setlist plays it, and its file.

    Raises:
        StemhostError: one line naming the setlist, the song (``songs[1]``), the file and the field.
    """
    song = setlist.setlist.songs[index]
    where = setlist.where(index)
    if song.key_shift is not None and song.singer is not None:
        raise SessionError(
            f"{where}: give key_shift or singer, not both (a singer's song plays in the key fit picks for them)"
        )
    path = setlist.inside(song.session, f"{where}.session", "session file")
    singer = _singer(setlist, song, where)
    with prefixed(setlist.named(index)):
        session = load_session(path)
        _check_inside(setlist, session, path)
    for k, name in enumerate(song.preset):
        session = _with_preset(session, setlist, setlist.folder, name, f"{where}.preset[{k}]")
    if singer is not None:
        base = setlist.singers_path.parent
        for k, name in enumerate(singer.preset):
            session = _with_preset(session, setlist, base, name, f"{where}.singer {singer.name!r}: preset[{k}]")
        session = _with_mix(session, singer.mix, f"{where}.singer {singer.name!r}: mix")
    session = _with_mix(session, song, where, key=song.key_shift, tempo=song.tempo)
    session = _with_count_in(session, song, where)
    if singer is not None:
        session = _in_singers_key(session, path, singer, f"{where}.singer")
    return session, path


@contextlib.contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Put a prefix before the message of any StemhostError raised inside (same type)."""
    try:
        yield
    except StemhostError as exc:
        raise type(exc)(f"{prefix}: {exc}") from exc


def _singer(setlist: SetlistFile, song: Song, where: str) -> Singer | None:
    if song.singer is None:
        return None
    path = setlist.singers_path
    if path is None:
        raise SessionError(
            f"{where}.singer: {song.singer!r}: the setlist has no singers file; put singers.json beside it "
            'or name one with "singers"'
        )
    return find_singer(_singers(path), song.singer, f"{where}.singer", path.name)


@functools.lru_cache(maxsize=8)
def _singers_cached(path: Path, stamp: tuple[int, int]) -> Singers:
    return load_singers(path)


def _singers(path: Path) -> Singers:
    info = path.stat()
    return _singers_cached(path, (info.st_mtime_ns, info.st_size))


def _check_inside(setlist: SetlistFile, session: Session, path: Path) -> None:
    """Every file the session reads lies inside the setlist's folder."""
    for file, what in input_paths(session, path).items():
        if not file.is_relative_to(setlist.folder):
            raise SessionError(
                f"{what}: {str(file)!r} lies outside the setlist's folder {str(setlist.folder)!r}; a setlist reads "
                "only files inside its own folder"
            )


def _with_preset(session: Session, setlist: SetlistFile, base: Path, name: str, where: str) -> Session:
    """Lay a bundled preset, or a preset file (relative to base, inside the setlist's folder), over the session."""
    bundled = bundled_presets()
    if name in bundled:
        path = bundled[name]
    elif (base / name).exists() or "/" in name or name.endswith(".json"):
        path = setlist.inside(name, where, "preset file", base)
    else:
        hint = did_you_mean(name, bundled)
        raise SessionError(
            f"{where}: {name!r} is neither a bundled preset nor a file in the folder; "
            f"{hint + ' ' if hint else ''}bundled: {', '.join(bundled)}"
        )
    with prefixed(where):
        preset = load_model(Preset, read_json(path), path.name)
        return apply_preset(session, preset, f"preset {name!r}")


def _with_mix(session: Session, mix: Mix, where: str, key: float | None = None, tempo: float | None = None) -> Session:
    """The mix (stems by name or role), key and tempo, applied as the command line's overrides are."""
    targets = {s.name for s in session.stems} | {s.role for s in session.stems}
    for field in ("mute", "solo", "gain", "pan"):
        for k, target in enumerate(getattr(mix, field)):
            if target not in targets:
                names, roles = [s.name for s in session.stems], sorted({s.role for s in session.stems})
                hint = did_you_mean(target, names + roles)
                at = f"[{k}]" if field in ("mute", "solo") else f".{target}"
                raise SessionError(
                    f"{where}.{field}{at}: no stem has the name or role {target!r}; {hint + ' ' if hint else ''}"
                    f"stems: {', '.join(names)}; roles: {', '.join(roles)}"
                )
    gains = [f"{name}={db!r}" for name, db in mix.gain.items()]
    pans = [f"{name}={p!r}" for name, p in mix.pan.items()]
    overrides = override_preset(session, list(mix.mute), list(mix.solo), gains, pans, key, tempo)
    with prefixed(where):
        return apply_preset(session, overrides, "the setlist's mix", strict=True)


def _with_count_in(session: Session, song: Song, where: str) -> Session:
    """The song's count_in_bars: on the session's click, or a count-in alone (no click along the song)."""
    bars = song.count_in_bars
    if bars is None or (bars == 0 and session.click is None):
        return session
    if bars and session.bpm is None:
        raise SessionError(
            f"{where}.count_in_bars: {bars}: a count-in needs the song's tempo; set bpm (and time_signature, "
            f"first_downbeat_s) in {song.session}, or run stemhost analyze --apply"
        )
    click = session.click or Click(enabled=False)
    return session.model_copy(update={"click": click.model_copy(update={"count_in_bars": bars})})


def _in_singers_key(session: Session, path: Path, singer: Singer, where: str) -> Session:
    """The key fit picks for the singer's range (the lead vocal's analysis is cached)."""
    from stemhost.analysis.fit_report import fit_report

    with prefixed(f"{where} {singer.name!r} ({singer.spec})"):
        report = fit_report(session, path, singer.spec)
        if report.problem is not None:
            raise FitError(report.problem)
    return session.model_copy(update={"key_shift": float(report.choice.shift)})
