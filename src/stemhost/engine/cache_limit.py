"""The cache's size limit: least-recently-used entries go once the cache holds more than ``$STEMHOST_CACHE_MAX``.

An entry's last use is its folder's mtime: every hit sets it to now before the entry is checked (atime is not
kept on filesystems mounted ``relatime`` or ``noatime``, so it cannot tell). After an entry is put in place, and
under the root's lock, the oldest entries are renamed aside and deleted until the cache fits, except

- the entry just written, and
- entries used in the last :data:`IN_USE_S` seconds: another process may have found one and not opened its
  audio yet (a render opens every stem when it compiles, and an open file outlives its deletion).

So the limit is a target, not a hard bound: a cache whose entries are all in use stays over it until they are
not. An entry used between the choice and the rename is put back (its stamp changed while it was aside).

The default, 4 GiB: a six-stem, four-minute song at 48 kHz in float stereo is 0.55 GB per key or tempo, so
the cache keeps about seven versions of it (a set rehearsed in a few keys) and stays small next to a disk.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

from stemhost.errors import OutputError

DEFAULT_MAX = 4 * 2**30  # bytes
IN_USE_S = 600.0  # an entry used this recently is never evicted
UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


def cache_max() -> int:
    """The limit in bytes: ``$STEMHOST_CACHE_MAX`` (bytes, or with a K, M, G or T suffix: powers of 1024)."""
    text = os.environ.get("STEMHOST_CACHE_MAX", "")
    if not text:
        return DEFAULT_MAX
    return parse_size(text, "STEMHOST_CACHE_MAX")


def parse_size(text: str, where: str) -> int:
    """Bytes from ``"4G"``, ``"500M"``, ``"1.5GiB"`` or ``"1000000"``."""
    match = SIZE.fullmatch(text)
    if not match:
        raise OutputError(f"{where}={text!r}: not a size; give bytes or a number with K, M or G (e.g. 4G)")
    return int(float(match[1]) * UNITS[match[2].upper()])


def victims(entries: list[tuple[Path, int, int]], total: int, limit: int, keep: Path, now_ns: int) -> list[Path]:
    """The entries to evict, least recently used first, until ``total`` is at most ``limit``.

    Args:
        entries: each entry folder with its last use (ns since the epoch) and its size in bytes.
        total: bytes the cache holds now (entries and anything else of its own).
        limit: bytes.
        keep: the entry just written (never a victim).
        now_ns: the time now, ns since the epoch.
    """
    chosen = []
    for path, used_ns, size in sorted(entries, key=lambda e: e[1]):
        if total <= limit:
            break
        if path == keep or now_ns - used_ns < IN_USE_S * 1e9:
            continue
        chosen.append(path)
        total -= size
    return chosen


def evict(
    entries: list[tuple[Path, int, int]],
    total: int,
    limit: int,
    keep: Path,
    discard: Callable[[Path, int], bool],
) -> list[Path]:
    """Evict least-recently-used entries (call under the root's lock); the ones gone.

    ``discard(entry, used_ns)`` renames the entry aside and deletes it, unless it was used after ``used_ns``.
    """
    gone = []
    for path in victims(entries, total, limit, keep, time.time_ns()):
        used = next(e[1] for e in entries if e[0] == path)
        if discard(path, used):
            gone.append(path)
    return gone
