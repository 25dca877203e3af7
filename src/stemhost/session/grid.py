"""The song's beat grid: where the click's beats fall, in seconds of the recording (pure data).

The grid comes from ``bpm``, ``time_signature`` (4/4 when only bpm is set) and ``first_downbeat_s``
(0 when unset), the start of bar 1. A click beat is the metre's beat: x/4 and x/2 metres count the
numerator's beats; compound metres (6/8, 9/8, 12/8, and the same over 16) count dotted quarters, three
eighths each, and their ``bpm`` is dotted quarters per minute; other x/8 and x/16 metres (3/8, 5/8, 7/8)
count each eighth (sixteenth). This module is the one place beat times are computed.

Count-in: ``click.count_in_bars`` bars of beats before the song, on the same grid, the last one beat
before the first downbeat. Counted back from ``first_downbeat_s`` the count-in starts at
``first_downbeat_s − bars × beats_per_bar × beat_s`` of the recording; when that is before the
recording's start the song's audio is delayed by the difference (:func:`lead_in_s`), so the first
count-in beat falls at 0 of the output; when it is not (a long intro), there is no delay and the
count-in clicks over the intro.
"""

from __future__ import annotations

import math

from stemhost.errors import SessionError
from stemhost.session.model import Session

DEFAULT_TIME_SIGNATURE = "4/4"
EPSILON_S = 1e-9  # beat times this close to a bound count as on it


def beats_per_bar(time_signature: str) -> int:
    """Click beats in one bar: '4/4' → 4, '3/4' → 3, '6/8' → 2 (dotted quarters), '7/8' → 7."""
    numerator, note = (int(part) for part in time_signature.split("/"))
    if note in (8, 16) and numerator > 3 and numerator % 3 == 0:
        return numerator // 3
    return numerator


def _bpm(session: Session, what: str) -> float:
    if session.bpm is None:
        raise SessionError(f"{what} needs the song's tempo: set 'bpm' in the session (`stemhost analyze --apply`)")
    return session.bpm


def beat_s(session: Session) -> float:
    """Seconds per click beat at tempo 1.0 (of the recording)."""
    return 60.0 / _bpm(session, "the beat grid")


def _grid(session: Session) -> tuple[float, int, float]:
    """(beat length s, beats per bar, first downbeat s)."""
    return (
        beat_s(session),
        beats_per_bar(session.time_signature or DEFAULT_TIME_SIGNATURE),
        session.first_downbeat_s or 0.0,
    )


def beat_times(session: Session, until_s: float) -> list[tuple[float, bool]]:
    """Every click beat from 0 up to (not including) until_s, in seconds of the recording, with whether it is a downbeat.

    Beats before ``first_downbeat_s`` (a pickup) are included back to 0, numbered so that the
    downbeats stay on the grid (bar 0's last beats).
    """
    beat, per_bar, first = _grid(session)
    start = -math.floor(first / beat + EPSILON_S)  # the earliest beat index at or after 0
    beats = []
    j = start
    while (t := first + j * beat) < until_s - EPSILON_S:
        beats.append((max(t, 0.0), j % per_bar == 0))
        j += 1
    return beats


def count_in_beats(session: Session) -> list[tuple[float, bool]]:
    """The count-in's beats in seconds of the recording (negative before its start), the last one beat before the
    first downbeat; empty without a click or count-in."""
    bars = session.click.count_in_bars if session.click is not None else 0
    if not bars:
        return []
    beat, per_bar, first = _grid(session)
    count = bars * per_bar
    return [(first - k * beat, k % per_bar == 0) for k in range(count, 0, -1)]


def lead_in_s(session: Session) -> float:
    """Seconds of output before the song's audio starts at the session's tempo: the count-in's length less the
    recording before the first downbeat it can click over (0 without a count-in)."""
    beats = count_in_beats(session)
    if not beats:
        return 0.0
    return max(0.0, -beats[0][0]) / session.tempo


def lead_in_frames(session: Session, sample_rate: int) -> int:
    """:func:`lead_in_s` in whole frames: the song's audio starts this many frames into the output."""
    return round(lead_in_s(session) * sample_rate)
