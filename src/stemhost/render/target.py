"""Whether a mastered render reached its loudness target, and what to say when it did not."""

from __future__ import annotations

import math

from stemhost.errors import OutputError, warn
from stemhost.session.model import Loudness

# EBU R 128 lets a programme normalised to a target lie within ±0.5 LU of it; the mastering passes aim
# within 0.2 LU, and pyebur128 and ffmpeg's meter agree within 0.2 LU, so a miss beyond 0.5 LU is real.
TARGET_TOLERANCE_LU = 0.5
CEILING_MARGIN_DB = 0.5  # a true peak this close under the ceiling: the limiter is what holds the level down


def target_miss(target: Loudness, lufs: float, true_peak_dbtp: float | None) -> tuple[str, str] | None:
    """Why a master missed its loudness target, with the figures, and the fix; None when it is within 0.5 LU.

    Args:
        target: the loudness target and true-peak ceiling.
        lufs: the integrated loudness reached (-inf for silence or under 400 ms of audio).
        true_peak_dbtp: the true peak reached, if measured.
    """
    aim = f"the {target.target_lufs:g} LUFS target"
    if math.isinf(lufs):
        return f"the mix is silent (or shorter than 0.4 s), so no gain reaches {aim}", "unmute a stem"
    off = lufs - target.target_lufs
    if abs(off) <= TARGET_TOLERANCE_LU:
        return None
    side = f"{abs(off):.1f} LU {'under' if off < 0 else 'over'} {aim}"
    fix = "lower the target (--loudness) or raise the ceiling (--true-peak)"
    if off < 0 and true_peak_dbtp is not None and true_peak_dbtp >= target.true_peak_dbtp - CEILING_MARGIN_DB:
        return f"the true-peak ceiling of {target.true_peak_dbtp:g} dBTP holds the mix at {lufs:.1f} LUFS, {side}", fix
    return f"the master reached {lufs:.1f} LUFS, {side}", fix


def check_target(target: Loudness, lufs: float, true_peak_dbtp: float | None, strict: bool, what: str) -> None:
    """Warn when a master missed its loudness target by more than 0.5 LU; with strict, raise OutputError.

    Args:
        what: the output and field, for messages (``-o 'mix.wav': master.loudness``).
    """
    miss = target_miss(target, lufs, true_peak_dbtp)
    if miss is None:
        return
    reason, fix = miss
    if strict:
        raise OutputError(f"{what}: {reason}; {fix}, or leave out --strict to keep the file with a warning")
    warn(f"{what}: {reason}; {fix} (--strict makes this an error)")
