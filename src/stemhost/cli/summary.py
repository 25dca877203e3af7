"""The closing summary of a render."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from stemhost.render.driver import RenderResult
from stemhost.units import db, format_time


def print_summary(result: RenderResult, stems_out: Path | None = None) -> None:
    """Print where the render went and what it measured; warn about clipping on stderr."""
    loudness = "silent" if math.isinf(result.loudness_lufs) else f"{result.loudness_lufs:.1f} LUFS integrated"
    peak = "-inf" if math.isinf(result.peak_dbfs) else f"{result.peak_dbfs:+.1f}"
    if stems_out is not None:
        print(f"wrote the stems and buses into {stems_out} (listed in {stems_out / 'stems.json'})")
    print(f"wrote {result.path}" if result.path is not None else "master (not written):")
    if result.true_peak_dbtp is not None:
        loudness += f", true peak {result.true_peak_dbtp:+.1f} dBTP"
    print(
        f"  {format_time(result.duration_s)} ({result.frames} frames) at {result.sample_rate} Hz, "
        f"peak {peak} dBFS, {loudness}"
    )
    clips = result.clips
    if clips.samples:
        stems = ", ".join(clips.loudest_stems()) or "none audible"
        print(
            f"warning: the master clipped ({clips.samples} samples over 0 dBFS, peak {db(clips.peak):+.1f} dBFS) "
            f"between {format_time(clips.first_s)} and {format_time(clips.last_s)}; loudest stems there: {stems}; "
            "lower their faders or add a limiter to the master",
            file=sys.stderr,
        )
