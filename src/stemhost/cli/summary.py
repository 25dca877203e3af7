"""The closing summary of a render."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from stemhost.render.driver import RenderResult
from stemhost.units import format_time

CLIP_SHOWN_DB = 0.05  # a file's peak this far under the mix's: the output's clip cut it, and both figures are shown


def dbfs(value: float) -> str:
    return "-inf dBFS" if math.isinf(value) else f"{round(value, 1) + 0.0:+.1f} dBFS"  # -0.04 shows as +0.0


def peak_text(result: RenderResult) -> str:
    """The file's peak; where the output's clip cut the mix (integer formats), the mix's peak before it too."""
    mix = result.mix_peak_dbfs
    if mix is not None and result.clips.samples and mix > result.peak_dbfs + CLIP_SHOWN_DB:
        return f"peak {dbfs(mix)} before the output's clip, {dbfs(result.peak_dbfs)} in the file"
    return f"peak {dbfs(result.peak_dbfs)}"


def print_summary(result: RenderResult, stems_out: Path | None = None) -> None:
    """Print where the render went and what it measured; warn about clipping on stderr."""
    loudness = "silent" if math.isinf(result.loudness_lufs) else f"{result.loudness_lufs:.1f} LUFS integrated"
    if stems_out is not None:
        print(f"wrote the stems and buses into {stems_out} (listed in {stems_out / 'stems.json'})")
    print(f"wrote {result.path}" if result.path is not None else "master (not written):")
    if result.true_peak_dbtp is not None:
        loudness += f", true peak {result.true_peak_dbtp:+.1f} dBTP"
    print(
        f"  {format_time(result.duration_s)} ({result.frames} frames) at {result.sample_rate} Hz, "
        f"{peak_text(result)}, {loudness}"
    )
    clips = result.clips
    if clips.samples:
        stems = ", ".join(clips.loudest_stems()) or "none audible"
        print(
            f"warning: the master clipped ({clips.samples} samples over 0 dBFS, peak {dbfs(result.mix_peak_dbfs)}) "
            f"between {format_time(clips.first_s)} and {format_time(clips.last_s)}; loudest stems there: {stems}; "
            "lower their faders or add a limiter to the master",
            file=sys.stderr,
        )
