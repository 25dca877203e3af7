"""The on-disk cache of key-shifted and time-stretched stems, and of song analyses.

The cache root is a folder stemhost made and marked with a ``CACHEDIR.TAG`` file (the Cache Directory
Tagging standard, https://bford.info/cachedir/). A folder is used only if it is new, empty, tagged by
stemhost, or an older untagged stemhost cache (nothing in it but names stemhost gave its entries);
any other folder is refused, so ``$STEMHOST_CACHE_DIR`` pointed at a song folder costs no file.
Inside the root stemhost writes, reads and deletes only names it makes:

- ``<key>/`` is an entry (32 hex digits): ``audio.wav`` (float WAV) and ``audio.json`` (its sha256,
  frames and rate, and its file's stamp: size, inode, mtime and ctime in ns), or a record (``record.json``: a JSON object and its sha256, such as an analysis). An entry is written in a journaled temporary folder (:func:`ownership.temporary_folder`)
  and renamed into place in one step, so its audio and checksum appear together. When another process made the entry first, its
  entry is kept and ours dropped. An entry whose audio does not match its checksum is damaged: it is
  renamed aside (``.trash-<token>/``), deleted and rebuilt, never played.
- A hit reads no audio: the audio file's stamp must match the one written with it (changing a file's
  bytes or putting its mtime back changes its ctime), else the audio is hashed once per process. The full
  check of every entry is :meth:`StemCache.verify` (``stemhost cache verify``).
- A hit sets the entry folder's mtime (its last use); past ``$STEMHOST_CACHE_MAX`` the least recently used
  entries are evicted (:mod:`stemhost.engine.cache_limit`).
- Entries are renamed into place or aside only under an exclusive lock of the root (``flock``) and
  after checking again, so no process removes an entry another one has just made and checked.

Entries are keyed by the content of the source file (:func:`source_hash`) and the settings. A cache
folder that cannot be written serves the entries it holds; a missing entry is then an
:class:`OutputError` (stemhost does not render key or tempo changes without its cache).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from stemhost.engine.cache_entry import (
    AUDIO,
    HASH_CHUNK,
    META,
    RECORD,
    audio_intact,
    delete_entry,
    entry_size,
    file_sha256,
    file_stamp,
    fully_checked,
    identity,
    mark_used,
    read_record,
    restamp,
)
from stemhost.engine.cache_limit import cache_max, evict
from stemhost.errors import OutputError
from stemhost.ownership import temporary_folder

TAG_NAME = "CACHEDIR.TAG"
TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
TAG = (
    f"{TAG_SIGNATURE}\n"
    "# This folder is a cache made by stemhost (key-shifted and time-stretched stems); `stemhost cache clear` empties it.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
ENTRY = re.compile(r"[0-9a-f]{32}")  # <key>/
SCRATCH = re.compile(r"\.(tmp|trash)-[0-9a-f]{16}")  # an entry (or tag) being written, a damaged entry being deleted
# the untagged cache of earlier stemhost versions: flat <key>.wav and <key>.json, hashes.json, their temporaries
OLD_ENTRY = re.compile(r"\.?([0-9a-f]{32}\.(wav|json)|hashes\.json)(\.[0-9a-z_]+\.part)?")
OWN_FOLDERS = ("numba",)  # compiled code of the analysis (stemhost.analysis.backend) in the default root; never cleared
STALE_S = 3600.0  # a temporary folder this old was left by a run that died

_OPENING = threading.Lock()  # one thread at a time checks (and makes) a cache root
_source_hashes: dict[tuple[int, ...], str] = {}  # in memory only: each process hashes a file before trusting it


def cache_dir() -> Path:
    """The cache folder: $STEMHOST_CACHE_DIR, else the user's cache folder (~/.cache/stemhost on Linux)."""
    override = os.environ.get("STEMHOST_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("stemhost"))


def source_hash(path: Path) -> str:
    """The sha256 of a source file's content, computed at most once per process while the file stays the same.

    The memo is keyed by device, inode, size, mtime and ctime (nanoseconds) and lives in memory only: a new
    process hashes every file again before trusting it, so a stem replaced by other audio of the same size
    with its old mtime put back is never taken for the old one. A file that changes while it is hashed is
    not memoised.
    """
    with path.open("rb") as f:
        before = identity(os.fstat(f.fileno()))
        if before in _source_hashes:
            return _source_hashes[before]
        digest = hashlib.sha256()
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
        if identity(os.fstat(f.fileno())) == before:
            _source_hashes[before] = digest.hexdigest()
    return digest.hexdigest()


@dataclass(frozen=True)
class Cleared:
    """What ``clear`` removed: audio entries (old untagged ones included), records and bytes."""

    entries: int
    bytes: int
    records: int = 0


@dataclass(frozen=True)
class Verified:
    """What ``verify`` found: entries checked, the damaged ones (removed, unless the cache is read-only), and
    intact ones copied or restored from elsewhere, stamped again so that a hit need not hash them."""

    entries: int
    damaged: list[str]
    removed: int
    restamped: int = 0


@dataclass
class StemCache:
    """Processed stems on disk, keyed by source content and settings.

    Attributes:
        folder: the cache root (absolute).
        label: how messages name it (``STEMHOST_CACHE_DIR=…`` when the variable chose it).
    """

    folder: Path
    label: str = ""
    _ready: bool = field(default=False, init=False, repr=False)

    @property
    def name(self) -> str:
        return self.label or f"the stem cache {self.folder}"

    @classmethod
    def default(cls) -> StemCache:
        folder = cache_dir()
        label = f"STEMHOST_CACHE_DIR={folder}" if os.environ.get("STEMHOST_CACHE_DIR") else f"the stem cache {folder}"
        return cls(folder, label)

    def get_or_build(self, key: str, build: Callable[[], tuple[np.ndarray, int]]) -> Path:
        """The WAV of an entry, built (and put in place in one step) when missing or damaged.

        Args:
            key: the entry's name, 32 hex digits (a hash of the source content and the settings).
            build: returns the processed audio as ``(channels, frames)`` float32 and its rate in Hz.
        """
        self._open(make=True)
        entry = self._entry(key)
        if mark_used(entry) and audio_intact(entry):
            return entry / AUDIO
        audio, rate = build()

        def write(scratch: Path) -> None:
            soundfile.write(str(scratch / AUDIO), audio.T, rate, subtype="FLOAT", format="WAV")
            digest = file_sha256(scratch / AUDIO)
            meta = {
                "sha256": digest,
                "frames": audio.shape[1],
                "sample_rate": rate,
                "stamp": file_stamp(scratch / AUDIO),
            }
            (scratch / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")

        self._install(entry, write, audio_intact)
        return entry / AUDIO

    def record(self, key: str) -> dict | None:
        """The JSON object of an intact record entry, or None."""
        if not self._open(make=False):
            return None
        entry = self._entry(key)
        return read_record(entry) if mark_used(entry) else None

    def put_record(self, key: str, record: dict) -> None:
        """Keep a JSON object (finite numbers, or -inf/inf/NaN as Python's json writes them) under a key."""
        self._open(make=True)
        body = json.dumps(record, sort_keys=True)
        text = json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest(), "record": record}) + "\n"

        def write(scratch: Path) -> None:
            (scratch / RECORD).write_text(text, encoding="utf-8")

        self._install(self._entry(key), write, lambda entry: read_record(entry) is not None)

    def _install(self, entry: Path, write: Callable[[Path], None], intact: Callable[[Path], bool]) -> None:
        """Write an entry's files into a journaled temporary folder, then rename it into place in one step."""
        limit = cache_max()  # a bad $STEMHOST_CACHE_MAX is said before any work
        try:
            with temporary_folder(self.folder) as scratch:  # journaled: a killed run's is removed by the next
                write(scratch)
                with self._locked():
                    if not intact(entry):  # else another process made it first: keep theirs
                        self._discard(entry)
                        os.rename(scratch, entry)
                    self._limit(entry, limit)
        except (OSError, soundfile.SoundFileError) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise OutputError(
                f"{self.name}: cannot write a cache entry ({reason}); "
                "make the folder writable, or point STEMHOST_CACHE_DIR at another folder"
            ) from exc

    def lookup(self, key: str) -> Path | None:
        """The WAV of an intact entry, or None (nothing is built)."""
        if not self._open(make=False):
            return None
        entry = self._entry(key)
        return entry / AUDIO if mark_used(entry) and audio_intact(entry) else None

    def entries(self) -> list[Path]:
        """The audio files of every audio entry."""
        return self._entry_files(AUDIO)

    def records(self) -> list[Path]:
        """The files of every record entry."""
        return self._entry_files(RECORD)

    def _entry_files(self, name: str) -> list[Path]:
        if not self._open(make=False):
            return []
        return sorted(p / name for p in self.folder.iterdir() if ENTRY.fullmatch(p.name) and (p / name).is_file())

    def size_bytes(self) -> int:
        """Bytes held by the cache's own files (entries, old untagged entries, temporaries)."""
        if not self._open(make=False):
            return 0
        return sum(entry_size(p) for p in self._own())

    def clear(self) -> Cleared:
        """Delete every entry, old untagged entries and the temporaries of runs that died; nothing else."""
        if not self._open(make=False):
            return Cleared(0, 0)
        entries = records = freed = 0
        with self._locked():
            for path in self._own():
                with contextlib.suppress(FileNotFoundError):  # a temporary its writer removed meanwhile
                    if SCRATCH.fullmatch(path.name) and time.time() - path.lstat().st_mtime < STALE_S:
                        continue  # another process is writing or deleting it now
                    size, entry = entry_size(path), bool(ENTRY.fullmatch(path.name))
                    record = entry and (path / RECORD).is_file()
                    if self._discard(path) if entry else delete_entry(path):
                        records += record
                        entries += (entry and not record) or path.suffix == ".wav"
                        freed += size
        return Cleared(entries, freed, records)

    def verify(self) -> Verified:
        """Hash every entry's audio (or record) in full; rename aside and delete the damaged ones, stamp the others."""
        if not self._open(make=False):
            return Verified(0, [], 0)
        names = sorted(n for n in os.listdir(self.folder) if ENTRY.fullmatch(n))
        damaged = [n for n in names if not fully_checked(self.folder / n)]
        removed = restamped = 0
        with contextlib.suppress(OSError), self._locked():  # read-only: the damaged ones stay (a hit rejects them)
            for name in damaged:
                if not fully_checked(self.folder / name):  # not rebuilt by another process meanwhile
                    removed += self._discard(self.folder / name)
            for name in set(names) - set(damaged):
                restamped += restamp(self.folder / name, self.folder / f".tmp-{secrets.token_hex(8)}")
        return Verified(len(names), damaged, removed, restamped)

    def _limit(self, keep: Path, limit: int) -> None:
        """Evict least-recently-used entries past the limit in bytes (under the lock); never ``keep``."""
        total, entries = 0, []
        for path in self._own():
            with contextlib.suppress(FileNotFoundError):  # a temporary its writer removed meanwhile
                size = entry_size(path)
                total += size
                if ENTRY.fullmatch(path.name):
                    entries.append((path, path.lstat().st_mtime_ns, size))
        if total > limit:
            evict(entries, total, limit, keep, self._discard_unused)

    def _discard_unused(self, entry: Path, used_ns: int) -> bool:
        """Evict an entry unless a hit stamped it after ``used_ns``: then it is put back."""
        aside = self.folder / f".trash-{secrets.token_hex(8)}"
        try:
            os.rename(entry, aside)
            if aside.lstat().st_mtime_ns != used_ns:  # found by a hit just now: it may be read
                os.rename(aside, entry)
                return False
        except FileNotFoundError:
            return False
        return delete_entry(aside)

    def _entry(self, key: str) -> Path:
        if not ENTRY.fullmatch(key):  # the only names clear() removes
            raise ValueError(f"cache key {key!r}: 32 hexadecimal digits expected")
        return self.folder / key

    def _own(self) -> list[Path]:
        names = sorted(os.listdir(self.folder))
        return [self.folder / n for n in names if ENTRY.fullmatch(n) or SCRATCH.fullmatch(n) or OLD_ENTRY.fullmatch(n)]

    def _open(self, make: bool) -> bool:
        """Check that the root is a stemhost cache, tagging it when new, empty or an old stemhost cache.

        Returns False when the root does not exist and ``make`` is False (nothing is cached yet). Stems are
        prepared on several threads at once: one checks and makes the root while the others wait.
        """
        with _OPENING:
            return self._ready or self._check_root(make)

    def _check_root(self, make: bool) -> bool:
        folder, label = self.folder, self.name
        if not folder.is_absolute():
            raise OutputError(f"{label}: a relative path (it would depend on the current folder); give an absolute one")
        doing = "read the folder"
        try:
            if not folder.is_dir():
                if folder.exists() or folder.is_symlink():
                    raise OutputError(
                        f"{label}: that is a file or a broken link, not a folder; point it at a new or empty folder"
                    )
                if not make:
                    return False
                doing = "make the folder"
                folder.mkdir(parents=True, exist_ok=True)
            tag = _read_tag(folder)
            if tag is None and not all(_looks_own(name) for name in os.listdir(folder)):
                raise OutputError(
                    f"{label}: the folder exists and is not a stemhost cache (no {TAG_NAME}); point it at a new or empty folder"
                )
            if tag is None:
                doing = "tag the folder as a cache"
                _write_tag(folder)
            elif not (tag.startswith(TAG_SIGNATURE) and "stemhost" in tag):
                raise OutputError(
                    f"{label}: the folder is another program's cache (its {TAG_NAME} does not name stemhost); "
                    "point it at a new or empty folder"
                )
        except OSError as exc:
            if isinstance(exc, OutputError):
                raise
            raise OutputError(f"{label}: cannot {doing} ({exc.strerror}); point it at another folder") from exc
        self._ready = True
        return True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold an exclusive lock of the root (shared by processes and threads alike)."""
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _discard(self, entry: Path) -> bool:
        """Rename an entry aside (under the lock), then delete it; False when there was none or it stays."""
        aside = self.folder / f".trash-{secrets.token_hex(8)}"
        try:
            os.rename(entry, aside)
        except FileNotFoundError:
            return False
        return delete_entry(aside)


def _looks_own(name: str) -> bool:
    return bool(ENTRY.fullmatch(name) or SCRATCH.fullmatch(name) or OLD_ENTRY.fullmatch(name)) or name in OWN_FOLDERS


def _read_tag(folder: Path) -> str | None:
    try:
        with (folder / TAG_NAME).open("r", encoding="utf-8", errors="replace") as f:
            return f.read(1024)
    except FileNotFoundError:
        return None
    except OSError:
        return ""  # a folder or an unreadable file by that name: not ours


def _write_tag(folder: Path) -> None:
    tmp = folder / f".tmp-{secrets.token_hex(8)}"
    try:
        tmp.write_text(TAG, encoding="utf-8")
        os.replace(tmp, folder / TAG_NAME)  # two processes tagging at once write the same text
    finally:
        tmp.unlink(missing_ok=True)
