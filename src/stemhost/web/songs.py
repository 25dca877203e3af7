"""The songs of ``stemhost serve FOLDER``: every sub-folder holding ``session.json`` and every session ``*.json``.

Ids are names, never paths: the slug of the sub-folder's name or of the file's stem, made unique with ``-2``,
``-3`` in path order, so they stay the same from one scan to the next. A session, stem or impulse response that
lies outside FOLDER once symbolic links are followed is refused: the song is listed with its error and never
opened. Key and tempo come from the session's own ``key`` and ``bpm``, else from the analysis in stemhost's cache;
songs not analysed yet are analysed one after another on one background thread, so a listing never waits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemhost.engine.compile import input_paths, stem_path
from stemhost.engine.sources import AudioInfo, file_stamp, open_reader, probe
from stemhost.errors import SessionError, StemhostError
from stemhost.session.files import load_session
from stemhost.session.model import Session
from stemhost.session.notes import key_name, parse_key
from stemhost.session.validation import read_json

log = logging.getLogger("stemhost")
SONG_ID = r"^[a-z0-9][a-z0-9-]{0,63}$"
SESSION_FILE = "session.json"
OVERVIEW_POINTS = 1000
READ_FRAMES = 1 << 18


class NotFound(StemhostError, LookupError):
    """No song, job or file of that id; ``field`` names the request field that held it."""

    def __init__(self, message: str, field: str = "id") -> None:
        super().__init__(message)
        self.field = field


def checked_id(value: str, what: str = "song") -> str:
    """A song's or setlist's id from a URL: a name, never a path; anything else is NotFound (404)."""
    if not re.match(SONG_ID, value):
        raise NotFound(f"no {what} {value[:80]!r}: ids are lower-case letters, digits and hyphens", "id")
    return value


def give_ids(items) -> None:
    """Set each item's ``id`` to the slug of its ``name``, made unique with ``-2``, ``-3`` in the items' order."""
    taken: set[str] = set()
    for item in items:
        base, n = slug(item.name), 2
        item.id = base
        while item.id in taken:
            item.id, n = f"{base[: 64 - len(str(n)) - 1]}-{n}", n + 1
        taken.add(item.id)


def slug(text: str) -> str:
    """A song id from a folder or file name: lower-case letters, digits and hyphens, at most 64 characters."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-") or "song"


@dataclass(eq=False)
class Song:
    """One song of the library. ``session`` and ``stems`` are None/empty when ``error`` says why it is refused.

    Attributes written by the analysis thread: ``analysis``, ``analysed`` (whole assignments, read lock-free).
    """

    id: str
    name: str  # the sub-folder's name or the file's stem: what the id is made from
    title: str
    session_path: Path
    error: str | None = None
    session: Session | None = None
    stems: tuple[AudioInfo, ...] = ()
    analysis: object | None = None  # a SessionAnalysis from the cache
    analysed: bool = False
    stamp: tuple = field(default=(), repr=False)  # the session file's and stems' (size, mtime)

    @property
    def length_s(self) -> float | None:
        """The longest stem's length in seconds (None for a refused song)."""
        return max((s.frames / s.sample_rate for s in self.stems), default=None)

    def key(self) -> str | None:
        """The song's key, e.g. ``"A major"``: the session's ``key``, else the analysis's."""
        if self.session is not None and self.session.key is not None:
            return key_name(*parse_key(self.session.key))
        found = getattr(self.analysis, "key", None)
        return None if found is None else found.name

    def bpm(self) -> float | None:
        """The song's tempo in BPM: the session's ``bpm``, else the analysis's."""
        if self.session is not None and self.session.bpm is not None:
            return self.session.bpm
        found = getattr(self.analysis, "tempo_bpm", None)
        return None if found is None else round(found, 2)

    def summary(self) -> dict:
        """The song as ``GET /api/songs`` lists it."""
        length = self.length_s
        return {
            "id": self.id,
            "title": self.title,
            "key": self.key(),
            "bpm": self.bpm(),
            "length_s": None if length is None else round(length, 3),
            "stems": [] if self.session is None else [s.name for s in self.session.stems],
            "analysed": self.analysed,
            "error": self.error,
        }


class Library:
    """The songs under one folder, rescanned when a session file or a stem changes (a few stat calls a song).

    Args:
        folder: the folder of songs.
        analyse: analyse songs the cache has no analysis of, on one background thread.
    """

    def __init__(self, folder: Path, analyse: bool = True) -> None:
        self.folder = folder.resolve()
        self._lock = threading.Lock()
        self._songs: dict[Path, Song] = {}  # by session file as found (unresolved)
        self._overviews: dict[tuple, dict] = {}
        self._json_kinds: dict[Path, tuple[tuple, bool]] = {}  # *.json files: (stamp, a session?)
        self._analyser = _Analyser() if analyse else None

    def songs(self) -> list[Song]:
        """Every song, in path order, after a rescan of what changed."""
        with self._lock:
            found = self._candidates()
            songs = {}
            for path, name in found:
                known = self._songs.get(path)
                fresh = known is not None and known.error is None and known.stamp == _stamp(known)
                songs[path] = known if fresh else self._load(path, name)
            give_ids(songs.values())  # in path order: stable while the folder keeps its songs
            self._songs = songs
        if self._analyser is not None:
            self._analyser.want([s for s in songs.values() if not s.analysed and s.error is None])
        return list(songs.values())

    def song(self, song_id: str, usable: bool = True) -> Song:
        """The song of this id.

        Raises:
            NotFound: no such song (the message lists the songs).
            SessionError: usable and the song is refused (its error).
        """
        songs = self.songs()
        for song in songs:
            if song.id == song_id:
                if usable and song.error is not None:
                    raise SessionError(f"song {song_id!r} cannot be opened: {song.error}")
                return song
        names = ", ".join(s.id for s in songs) or "(none)"
        raise NotFound(f"no song {song_id!r} in {self.folder}; the songs are: {names}")

    def overview(self, song_id: str, points: int = OVERVIEW_POINTS) -> dict:
        """``{"length_s", "peaks"}``: per slice of the song, the peak of the stems' summed magnitudes, 0..1."""
        song = self.song(song_id)
        key = (song.session_path, song.stamp, points)
        if key not in self._overviews:
            self._overviews[key] = {"length_s": round(song.length_s, 3), "peaks": overview_peaks(song.stems, points)}
        return self._overviews[key]

    def close(self) -> None:
        """Stop the analysis thread (after the song it is analysing)."""
        if self._analyser is not None:
            self._analyser.stop()

    def _candidates(self) -> list[tuple[Path, str]]:
        """(session file, name) of every sub-folder with session.json and every session-like *.json, by path."""
        found = []
        for entry in sorted(self.folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if entry.is_dir() and (entry / SESSION_FILE).is_file():
                found.append((entry / SESSION_FILE, entry.name))
            elif entry.suffix.lower() == ".json" and entry.is_file():
                outside = not entry.resolve().is_relative_to(self.folder)  # listed as refused, never read
                if outside or self._is_session(entry):
                    found.append((entry, entry.stem))
        return found

    def _is_session(self, path: Path) -> bool:
        """Whether a *.json is meant as a session: read again only when it changed."""
        stamp = file_stamp(path)
        if self._json_kinds.get(path, (None,))[0] != stamp:
            self._json_kinds[path] = stamp, _looks_like_session(path)
        return self._json_kinds[path][1]

    def _load(self, path: Path, name: str) -> Song:
        """Load, check and probe one session; a problem becomes the song's error."""
        song = Song(id="", name=name, title=name, session_path=path.resolve())
        song.stamp = _stamp(song)
        try:
            if not song.session_path.is_relative_to(self.folder):
                raise SessionError(
                    f"{path.name}: the session file leads to {str(song.session_path)!r}, outside "
                    f"{str(self.folder)!r}; stemhost serve reads only files under the folder it serves"
                )
            session = load_session(path)
            song.title = session.title or name
            for file, what in input_paths(session, path).items():
                if not file.is_relative_to(self.folder):
                    raise SessionError(
                        f"{path.name}: {what} {str(file)!r} lies outside {str(self.folder)!r}; "
                        "stemhost serve reads only files under the folder it serves"
                    )
            song.stems = tuple(
                probe(stem_path(path, s.file), f"{path.name}: stems[{i}].file") for i, s in enumerate(session.stems)
            )
            song.session = session
            song.analysed = session.key is not None and session.bpm is not None
            song.stamp = _stamp(song)
        except StemhostError as exc:
            song.error = str(exc)
        return song


def background_priority() -> None:
    """Let this thread (and the DSP threads it starts) yield the CPU to live playback, as key changes do."""
    from stemhost.engine.stretch import BACKGROUND_NICE

    with contextlib.suppress(OSError, AttributeError):  # per-thread on Linux; elsewhere left as it is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


def _looks_like_session(path: Path) -> bool:
    """A *.json meant as a session: an object whose stems name files. Presets and setlists are not songs."""
    try:
        data = read_json(path)
    except StemhostError:
        return False
    stems = data.get("stems") if isinstance(data, dict) else None
    return isinstance(stems, list) and any(isinstance(s, dict) and "file" in s for s in stems)


def _stamp(song: Song) -> tuple:
    """What a song's listing depends on: its session file's and stems' sizes and times (None: gone)."""
    paths = [song.session_path, *(s.path for s in song.stems)]
    try:
        return tuple(file_stamp(p) for p in paths)
    except OSError:
        return ()


def overview_peaks(stems: tuple[AudioInfo, ...], points: int = OVERVIEW_POINTS) -> list[float]:
    """Per slice of the song, the peak of the stems' summed mono magnitudes, normalised to 0..1.

    Slice k covers seconds [k·L/points, (k+1)·L/points) of the song of length L (the longest stem). Stems of one
    sample rate are summed frame by frame, read block by block side by side; stems of other rates add their peaks.
    """
    length = max(s.frames / s.sample_rate for s in stems)
    peaks = sum(_summed_peaks([s for s in stems if s.sample_rate == rate], length, points)
                for rate in sorted({s.sample_rate for s in stems}))  # fmt: skip
    top = float(np.max(peaks))
    return [round(float(p), 4) for p in (peaks / top if top > 0 else peaks)]


def _summed_peaks(stems: list[AudioInfo], length_s: float, points: int) -> np.ndarray:
    """The per-slice peak of the sum of stems' |mono| (stems of one rate), read in parallel blocks."""
    edges = np.round(np.linspace(0.0, length_s * stems[0].sample_rate, points + 1)).astype(np.int64)
    peaks = np.zeros(points, np.float32)
    readers, position = [open_reader(s.path, READ_FRAMES) for s in stems], 0
    try:
        with ThreadPoolExecutor(max_workers=min(4, len(stems))) as pool:
            while blocks := [b for b in pool.map(lambda r: r.read(READ_FRAMES), readers) if b.shape[1]]:
                mono = np.zeros(max(b.shape[1] for b in blocks), np.float32)
                for block in blocks:
                    mono[: block.shape[1]] += np.abs(block.sum(axis=0) / block.shape[0])
                first = int(np.searchsorted(edges, position, "right")) - 1
                last = min(points, int(np.searchsorted(edges, position + mono.size, "left")))
                if first < last:
                    cuts = np.clip(edges[first:last] - position, 0, mono.size - 1)
                    peaks[first:last] = np.maximum(peaks[first:last], np.maximum.reduceat(mono, cuts))
                position += mono.size
    finally:
        for reader in readers:
            reader.close()
    return peaks


class _Analyser:
    """One daemon thread: looks each song up in the analysis cache, then analyses those it lacks, one at a time."""

    def __init__(self) -> None:
        self._queue: deque[Song] = deque()
        self._later: deque[Song] = deque()
        self._wanted: weakref.WeakSet[Song] = weakref.WeakSet()
        self._wake = threading.Condition()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def want(self, songs: list[Song]) -> None:
        with self._wake:
            fresh = [s for s in songs if s not in self._wanted]
            if not fresh:
                return
            self._wanted.update(fresh)
            self._queue.extend(fresh)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stemhost-analysis", daemon=True)
                self._thread.start()
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    def _run(self) -> None:
        from stemhost.analysis.stored import cached_analysis, stored_analysis

        background_priority()
        while True:
            with self._wake:
                while not (self._queue or self._later or self._stopped):
                    self._wake.wait()
                if self._stopped:
                    return
                look_up = bool(self._queue)
                song = self._queue.popleft() if look_up else self._later.popleft()
            try:
                if look_up:
                    song.analysis = stored_analysis(song.session, song.session_path)
                    if song.analysis is None:
                        with self._wake:
                            self._later.append(song)
                        continue
                else:
                    log.info("analysing %s for its key and tempo (once; then it is cached)", song.title)
                    song.analysis = cached_analysis(song.session, song.session_path)
            except Exception as exc:  # a song that cannot be analysed is listed without key and tempo
                log.warning("%s: not analysed (%s)", song.session_path, exc)
            song.analysed = True
