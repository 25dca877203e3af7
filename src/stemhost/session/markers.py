"""Marker files as song sections: an Audacity label track (File ▸ Export ▸ Export Labels).

Each line is ``start<TAB>end<TAB>label`` in seconds; a point label has start == end, a region label
gives its start. Lines that begin with a backslash (Audacity's frequency ranges) are skipped. The
sections come out sorted by start, their names unique (a repeated name gets " 2", " 3", ...).
"""

from __future__ import annotations

import math
from pathlib import Path

from stemhost.errors import SessionError

__all__ = ["read_labels"]


def read_labels(path: Path, length_s: float | None = None) -> list[dict]:
    """Sections (``{"name", "start_s"}``, sorted, names unique) from an Audacity label track.

    Args:
        path: the label file.
        length_s: the song's length in seconds of the recording; a label at or past it is an error.

    Raises:
        SessionError: an unreadable file, a line that is not ``start<TAB>end<TAB>label``, a label past the
            song's end, two labels at the same time.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot read the label file ({exc})") from exc
    found: list[tuple[float, int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("\\"):
            continue
        where = f"{path.name}: line {number}"
        parts = line.split("\t")
        try:
            start, end = float(parts[0]), float(parts[1])
        except (ValueError, IndexError) as exc:
            raise SessionError(
                f"{where}: {line[:80]!r} is not 'start<TAB>end<TAB>label' in seconds (an Audacity label track)"
            ) from exc
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end < start:
            raise SessionError(f"{where}: {start:g} to {end:g} s is not a time in the song (0 or more, end >= start)")
        if length_s is not None and start >= length_s:
            raise SessionError(f"{where}: the label at {start:g} s is past the song's end ({length_s:.3f} s)")
        name = "\t".join(parts[2:]).strip()[:64] or f"Section {len(found) + 1}"
        found.append((start, number, name))
    found.sort()
    sections: list[dict] = []
    taken: set[str] = set()
    for k, (start, number, name) in enumerate(found):
        if k and start == found[k - 1][0]:
            raise SessionError(
                f"{path.name}: line {number}: a label at {start:g} s again (line {found[k - 1][1]}); "
                "a section starts where the one before ends: keep one label per time"
            )
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name} {n}", n + 1
        taken.add(unique)
        sections.append({"name": unique, "start_s": start})
    return sections
