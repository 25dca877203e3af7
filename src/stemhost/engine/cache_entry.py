"""One entry of the stem cache on disk: its files, its stamp and its checks (see :mod:`stemhost.engine.cache`).

An audio entry is ``audio.wav`` and ``audio.json`` (the audio's sha256, frames, rate and stamp); a record
entry is ``record.json`` (a JSON object and its sha256).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

HASH_CHUNK = 1 << 20
AUDIO, META = "audio.wav", "audio.json"  # the files of an audio entry
RECORD = "record.json"  # the file of a record entry
ENTRY_FILES = (AUDIO, META, RECORD)
_verified: set[tuple[object, ...]] = set()  # (identity, sha256) of entry audio this process hashed and found intact


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def identity(stat: os.stat_result) -> tuple[int, ...]:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def read_record(entry: Path) -> dict | None:
    try:
        stored = json.loads((entry / RECORD).read_text(encoding="utf-8"))
        body = json.dumps(stored["record"], sort_keys=True)
        return stored["record"] if hashlib.sha256(body.encode()).hexdigest() == stored["sha256"] else None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def audio_intact(entry: Path, full: bool = False) -> bool:
    """Whether an audio entry matches its checksum: by its stamp, else (or when ``full``) by hashing it."""
    try:
        meta = json.loads((entry / META).read_text(encoding="utf-8"))
        stat = os.stat(entry / AUDIO)
        if not isinstance(meta, dict) or meta.get("stamp", [stat.st_size])[0] != stat.st_size:
            return False
        seen = (*identity(stat), meta.get("sha256"))
        if not full and (meta.get("stamp") == stamp_of(stat) or seen in _verified):
            return True
        if file_sha256(entry / AUDIO) != meta.get("sha256"):
            return False
        _verified.add(seen)
        return True
    except (OSError, ValueError, TypeError, IndexError):
        return False


def restamp(entry: Path, scratch: Path) -> bool:
    """Write an audio entry's stamp again after its file was copied or restored; True when it was rewritten.

    Only a file this process hashed and found intact, unchanged since (its identity includes the ctime), is
    stamped. ``scratch`` is a free name in the root; the new ``audio.json`` replaces the old in one step.
    """
    try:
        meta = json.loads((entry / META).read_text(encoding="utf-8"))
        stat = os.stat(entry / AUDIO)
        if meta.get("stamp") == stamp_of(stat) or (*identity(stat), meta.get("sha256")) not in _verified:
            return False
        scratch.write_text(json.dumps({**meta, "stamp": stamp_of(stat)}, indent=2) + "\n", encoding="utf-8")
        os.replace(scratch, entry / META)
    except (OSError, ValueError, AttributeError):
        return False
    finally:
        scratch.unlink(missing_ok=True)
    return True


def fully_checked(entry: Path) -> bool:
    """The full check of an entry of either kind."""
    return read_record(entry) is not None if (entry / RECORD).exists() else audio_intact(entry, full=True)


def file_stamp(path: Path) -> list[int]:
    return stamp_of(os.stat(path))


def stamp_of(stat: os.stat_result) -> list[int]:
    """What changes when a file's bytes do, whatever is put back: size, inode, mtime and ctime (ns)."""
    return [stat.st_size, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns]


def mark_used(entry: Path) -> bool:
    """Stamp an entry's last use (its folder's mtime) before it is checked; False when there is none."""
    try:
        os.utime(entry)
    except FileNotFoundError:
        return False
    except OSError:
        return entry.is_dir()  # a read-only cache keeps no last use
    return True


def entry_size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(p.lstat().st_size for p in (path / name for name in ENTRY_FILES) if p.exists())
    return path.lstat().st_size


def delete_entry(path: Path) -> bool:
    """Delete one of the cache's files, or a folder of entry files; False when a folder holds anything else."""
    try:
        if path.is_dir() and not path.is_symlink():
            for name in ENTRY_FILES:
                (path / name).unlink(missing_ok=True)
            path.rmdir()
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True
