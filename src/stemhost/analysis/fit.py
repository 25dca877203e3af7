"""Which key shift puts a melody into a singer's range."""

from __future__ import annotations

from dataclasses import dataclass

from stemhost.session.notes import VOICE_RANGES, note_name, parse_range

MAX_SHIFT = 12


@dataclass(frozen=True)
class KeyFit:
    """A key shift and where it puts the melody.

    Attributes:
        shift: semitones to move the song (-12 to +12).
        fits: whether the whole melody lies inside the range after the shift.
        low_midi, high_midi: the melody's new lowest and highest notes.
        room_low, room_high: semitones left below and above it inside the range (negative: beyond).
    """

    shift: int
    fits: bool
    low_midi: float
    high_midi: float
    room_low: float
    room_high: float


def singer_range(spec: str) -> tuple[float, float, str]:
    """A range like 'A2-E4' or a voice type like 'alto', as (low MIDI, high MIDI, its description)."""
    low, high = parse_range(spec)  # takes voice types too
    voice = spec.strip().lower()
    described = (
        f"{voice} ({'-'.join(VOICE_RANGES[voice])})" if voice in VOICE_RANGES else f"{note_name(low)}-{note_name(high)}"
    )
    return low, high, described


def fit_key(melody_low: float, melody_high: float, tessitura: tuple[float, float], low: float, high: float) -> KeyFit:
    """The best whole-semitone shift from -12 to +12 for a melody and a singer's range.

    Among the shifts that fit the whole melody, the one that puts the tessitura (where most of the
    singing lies) closest to the middle of the range wins; the smaller shift breaks ties. When no
    shift fits, the one that overshoots the range least at its worse end is given.

    Args:
        melody_low, melody_high: the melody's lowest and highest notes, MIDI numbers.
        tessitura: the low and high MIDI numbers of the middle 80 % of sung time.
        low, high: the singer's range, MIDI numbers.
    """
    centre = (low + high) / 2
    candidates = []
    for shift in range(-MAX_SHIFT, MAX_SHIFT + 1):
        room_low, room_high = melody_low + shift - low, high - (melody_high + shift)
        overshoot = max(0.0, -room_low, -room_high)
        off_centre = abs((tessitura[0] + tessitura[1]) / 2 + shift - centre)
        candidates.append(((overshoot, off_centre, abs(shift)), shift, room_low, room_high))
    _, shift, room_low, room_high = min(candidates)
    return KeyFit(shift, room_low >= 0 and room_high >= 0, melody_low + shift, melody_high + shift, room_low, room_high)
