"""Which key shift puts a melody into a singer's range, and in which octave the singer sings it.

Notes are compared as notes: the melody's measured ends are rounded to the nearest semitone first, so a
top E4 sung a few cents sharp is an E4 and fits a range that ends at E4. A singer may sing the melody as
recorded, an octave up or an octave down (a soprano sings a tenor's melody an octave up over the band
in its original key), so the band's shift stays small.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from stemhost.session.notes import VOICE_RANGES, parse_range

MAX_SHIFT = 12  # semitones the band may move, either way
SINGER_OCTAVES = (0, 12, -12)  # as recorded first, then an octave up, then down
COMFORT_SEMITONES = 2  # a comfortable fit keeps the tessitura this far inside both ends of the range
OCTAVE_WORDS = {0: "as recorded", 12: "an octave up", -12: "an octave down"}


@dataclass(frozen=True)
class KeyFit:
    """A key shift for the band, the octave the singer takes, and where the melody then lies.

    Attributes:
        shift: semitones to move the song (-12 to +12).
        octave: semitones the singer sings away from the recorded melody: 0, +12 or -12.
        fits: whether every note of the melody lies inside the range.
        comfortable: whether it fits with the tessitura at least 2 semitones inside both ends.
        low_midi, high_midi: the lowest and highest notes the singer sings (whole MIDI numbers).
        room_low, room_high: semitones left below and above them inside the range (negative: beyond).
    """

    shift: int
    octave: int
    fits: bool
    comfortable: bool
    low_midi: int
    high_midi: int
    room_low: int
    room_high: int

    @property
    def sung(self) -> str:
        """How the singer sings it: ``'as recorded'``, ``'an octave up'`` or ``'an octave down'``."""
        return OCTAVE_WORDS[self.octave]


def singer_range(spec: str) -> tuple[float, float, str]:
    """A range like 'A2-E4' or a voice type like 'alto', as (low MIDI, high MIDI, its description)."""
    low, high = parse_range(spec)  # takes voice types too
    voice = spec.strip().lower()
    described = f"{voice} ({'-'.join(VOICE_RANGES[voice])})" if voice in VOICE_RANGES else spec.strip()  # as given
    return low, high, described


def fit_key(melody_low: float, melody_high: float, tessitura: tuple[float, float], low: float, high: float) -> KeyFit:
    """The best key shift (-12 to +12) and singer's octave for a melody and a singer's range.

    Shifts are ranked as a musician would:

    1. When some shift fits comfortably (the whole melody inside the range, its tessitura at least two
       semitones inside both ends), the smallest such shift wins: every comfortable fit is as good, and
       a smaller shift keeps the band nearer its recorded sound. The singer's own octave breaks ties
       (as recorded first), then how near the tessitura lies to the middle of the range.
    2. Else, among the shifts that fit, the one that puts the tessitura nearest the middle of the range.
    3. Else nothing fits: the shift that overshoots the range least at its worse end.

    Args:
        melody_low, melody_high: the melody's lowest and highest notes, MIDI numbers (fractions allowed).
        tessitura: the low and high MIDI numbers of the middle 80 % of sung time.
        low, high: the singer's range, MIDI numbers.
    """
    lo, hi = _note(melody_low), _note(melody_high)
    t_lo, t_hi = _note(tessitura[0]), _note(tessitura[1])
    bottom, top = _note(low), _note(high)
    centre = (bottom + top) / 2
    choices = []
    for octave in SINGER_OCTAVES:
        for shift in range(-MAX_SHIFT, MAX_SHIFT + 1):
            move = shift + octave
            room_low, room_high = lo + move - bottom, top - (hi + move)
            fits = room_low >= 0 and room_high >= 0
            comfortable = fits and t_lo + move >= bottom + COMFORT_SEMITONES and t_hi + move <= top - COMFORT_SEMITONES
            off_centre = abs((t_lo + t_hi) / 2 + move - centre)
            order = SINGER_OCTAVES.index(octave)
            if comfortable:
                rank = (0, abs(shift), order, off_centre)
            elif fits:
                rank = (1, off_centre, abs(shift), order)
            else:
                rank = (2, max(-room_low, -room_high), abs(shift), order)
            fit = KeyFit(shift, octave, fits, comfortable, lo + move, hi + move, room_low, room_high)
            choices.append((rank, fit))
    return min(choices, key=lambda choice: choice[0])[1]


def _note(midi: float) -> int:
    """The nearest whole note (a half rounds up), as note names round."""
    return math.floor(midi + 0.5)
