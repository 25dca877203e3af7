"""Units: decibels and linear gain, and times as people read them. Imports nothing of stemhost."""

from __future__ import annotations

import math

SILENCE_DB = -math.inf  # the level of digital silence


def db(amplitude: float) -> float:
    """Linear amplitude in dB; -inf for 0."""
    return 20.0 * math.log10(amplitude) if amplitude > 0 else SILENCE_DB


def db_to_gain(decibels: float) -> float:
    """A level in dB as a linear gain (0 dB is 1.0, -6.02 dB is 0.5)."""
    return 10.0 ** (decibels / 20.0)


def format_time(seconds: float) -> str:
    """Seconds as m:ss.mmm."""
    minutes, rest = divmod(seconds, 60.0)
    return f"{int(minutes)}:{rest:06.3f}"
