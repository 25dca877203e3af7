"""A look-ahead true-peak limiter for offline mastering.

The gain a frame needs is ``ceiling / true peak``, where the true peak is the highest of the frame
and its 4x-oversampled neighbours (ITU-R BS.1770's way of seeing intersample peaks). That gain is
held over a window of ±RAMP_S with a minimum filter and then smoothed with a moving average of the
same width: the averaged gain at a peak averages only values at or below that peak's own need,
so the ceiling holds, and the gain moves over 2 × RAMP_S instead of jumping (no clicks, no
distortion from sample-by-sample gain). Blocks are processed with enough context either side that
the output does not depend on the block size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile

from stemhost.units import db_to_gain

OVERSAMPLE = 4
RAMP_S = 0.005  # the gain eases down over 2 × 5 ms before a peak and back up over 2 × 5 ms after it
SAFETY_DB = 0.05  # aim this much under the ceiling: the oversampling filter and a meter's differ slightly
FILTER_CONTEXT = 64  # frames either side the oversampling filter needs
BLOCK = 65536


def needed_gain(audio: np.ndarray, ceiling: float) -> np.ndarray:
    """Per frame, the linear gain that brings its true peak down to the ceiling (1 where it is below)."""
    from scipy.signal import resample_poly

    up = resample_poly(audio, OVERSAMPLE, 1, axis=1)
    frames = audio.shape[1]
    peak = np.abs(up[:, : frames * OVERSAMPLE]).max(axis=0).reshape(frames, OVERSAMPLE).max(axis=1)
    peak = np.maximum(peak, np.abs(audio).max(axis=0))
    return np.minimum(1.0, ceiling / np.maximum(peak, 1e-12))


def smooth_gain(gain: np.ndarray, half: int) -> np.ndarray:
    """Hold each dip over ±half frames, then average over the same ±half: never above the need at a peak."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    held = minimum_filter1d(gain, 2 * half + 1, mode="nearest")
    return uniform_filter1d(held, 2 * half + 1, mode="nearest")


def limited_blocks(path: Path, gain_db: float, ceiling_dbtp: float) -> Iterator[np.ndarray]:
    """Read a float WAV, apply a gain, and limit its true peaks to the ceiling, block by block.

    Yields ``(channels, n)`` float32 blocks; memory stays flat in the file's length.
    """
    gain = db_to_gain(gain_db)
    ceiling = db_to_gain(ceiling_dbtp - SAFETY_DB)
    with soundfile.SoundFile(str(path)) as f:
        rate, frames = f.samplerate, f.frames
        half = max(1, round(RAMP_S * rate))
        context = 2 * half + FILTER_CONTEXT
        for start in range(0, frames, BLOCK):
            stop = min(frames, start + BLOCK)
            lo, hi = max(0, start - context), min(frames, stop + context)
            f.seek(lo)
            chunk = f.read(hi - lo, dtype="float32", always_2d=True).T * np.float32(gain)
            padded = np.pad(chunk, ((0, 0), (context - (start - lo), context - (hi - stop))))
            curve = smooth_gain(needed_gain(padded, ceiling), half)[context : context + stop - start]
            yield (chunk[:, start - lo : stop - lo] * curve.astype(np.float32)).astype(np.float32)
