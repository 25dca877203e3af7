"""The setlists of ``stemhost serve FOLDER``: every ``*.json`` whose top level has ``"songs"``, in FOLDER or one
folder down (``FOLDER/setlist.json``, ``FOLDER/sets/friday.json``).

Ids are names, never paths: the slug of the file's stem, made unique with ``-2``, ``-3`` in path order, as song ids
are. Each setlist is checked by :func:`~stemhost.show.check.check_setlist` (its problems, one line each), again when
the setlist file or one of the session files it names changed. A setlist that leads outside FOLDER once links are
followed is listed with that problem and never read.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stemhost.engine.sources import file_stamp
from stemhost.errors import SessionError, StemhostError
from stemhost.session.validation import read_json
from stemhost.web.songs import NotFound, give_ids


@dataclass(eq=False)
class SetlistEntry:
    """One setlist of the folder: ``songs`` are its songs' titles, ``problems`` what its check found."""

    id: str
    name: str  # the file's stem: what the id is made from
    path: Path  # as found under FOLDER (unresolved)
    title: str
    songs: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    stamp: tuple = ()  # the setlist's and its session files' (size, mtime): checked again when it changes

    def summary(self) -> dict:
        """The setlist as ``GET /api/setlists`` lists it."""
        return {"id": self.id, "title": self.title, "songs": self.songs, "problems": self.problems}


class Setlists:
    """The setlists under one folder.

    Args:
        folder: the served folder.
        plugin_folders: where third-party plugins may come from (None: the defaults), for the checks.
    """

    def __init__(self, folder: Path, plugin_folders: Sequence[Path] | None = None) -> None:
        self.folder = folder.resolve()
        self.plugin_folders = plugin_folders
        self._lock = threading.Lock()
        self._entries: dict[Path, SetlistEntry] = {}
        self._kinds: dict[Path, tuple[tuple, bool]] = {}  # *.json files: (stamp, a setlist?)

    def listing(self) -> list[SetlistEntry]:
        """Every setlist, in path order, checked again where something changed (blocking: a worker thread)."""
        with self._lock:
            entries = {}
            for path in self._candidates():
                known = self._entries.get(path)
                fresh = known is not None and known.stamp == _stamp(self.folder, path)
                entries[path] = known if fresh else self._check(path)
            give_ids(entries.values())
            self._entries = entries
        return list(entries.values())

    def setlist(self, setlist_id: str) -> SetlistEntry:
        """The setlist of this id; NotFound lists the others."""
        entries = self.listing()
        for entry in entries:
            if entry.id == setlist_id:
                return entry
        names = ", ".join(e.id for e in entries) or "(none)"
        raise NotFound(f"no setlist {setlist_id!r} in {self.folder}; the setlists are: {names}")

    def _candidates(self) -> list[Path]:
        """``*.json`` files with a top-level "songs", in the folder and its sub-folders (not hidden), by path."""
        found = []
        for entry in sorted(self.folder.iterdir()):
            if entry.name.startswith("."):
                continue
            inside = sorted(entry.iterdir()) if entry.is_dir() else [entry]
            found += [p for p in inside if not p.name.startswith(".") and p.suffix.lower() == ".json" and p.is_file()]
        return [path for path in found if self._is_setlist(path)]

    def _is_setlist(self, path: Path) -> bool:
        """Whether the file is a setlist; one that leads outside the folder is never read, and is listed (refused)."""
        if not _inside(self.folder, path):
            return True
        try:
            stamp = file_stamp(path)
        except OSError:  # gone meanwhile
            return False
        if self._kinds.get(path, (None,))[0] != stamp:
            try:
                data = read_json(path)
            except StemhostError:
                data = None
            self._kinds[path] = stamp, isinstance(data, dict) and "songs" in data
        return self._kinds[path][1]

    def _check(self, path: Path) -> SetlistEntry:
        from stemhost.show.check import check_setlist

        entry = SetlistEntry("", path.stem, path, path.stem, stamp=_stamp(self.folder, path))
        try:
            refuse_outside(self.folder, path)
            result = check_setlist(path, self.plugin_folders)
        except StemhostError as exc:
            entry.problems = [str(exc)]
            return entry
        songs = result.setlist.setlist.songs
        passed = {song.index: song.title for song in result.songs}
        entry.title = result.setlist.setlist.title or path.stem
        entry.songs = [passed.get(i, Path(song.session).parent.name or song.session) for i, song in enumerate(songs)]
        entry.problems = list(result.problems)
        return entry


def _inside(folder: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(folder) and path.parent.resolve().is_relative_to(folder)


def refuse_outside(folder: Path, path: Path) -> None:
    """A setlist file that is (or whose folder is) outside the served folder, links followed, is refused."""
    for where in (path.resolve(), path.parent.resolve()):
        if not where.is_relative_to(folder):
            raise SessionError(
                f"{path.name}: the setlist leads to {str(where)!r}, outside {str(folder)!r}; stemhost serve reads "
                "only files under the folder it serves"
            )


def _stamp(folder: Path, path: Path) -> tuple:
    """What a setlist's check depends on, mostly: its file's and its session files' sizes and times."""
    if not _inside(folder, path):
        return ()
    try:
        stamps = [file_stamp(path)]
        data = read_json(path)
    except (OSError, StemhostError):
        return ()
    songs = data.get("songs") if isinstance(data, dict) else None
    for song in songs if isinstance(songs, list) else ():
        name = song.get("session") if isinstance(song, dict) else None
        try:
            session = path.parent / name if isinstance(name, str) else None
            inside = session is not None and session.resolve().is_relative_to(folder)
            stamps.append(file_stamp(session) if inside else None)  # never a look outside the folder
        except (OSError, ValueError):
            stamps.append(None)
    return tuple(stamps)
