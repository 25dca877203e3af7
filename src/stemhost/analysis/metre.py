"""Bars and metre on a fitted pulse grid: which bar length the harmony implies, how the onsets divide it.

Used by ``analysis/grid.py``. Two measures, both independent of the tempo estimate's octave:

- the chord score of a bar length: how much the chroma changes from each bar to the next, less how
  much it changes between the halves of a bar (chords tend to hold through a bar and change at its
  start): a bar twice too long changes within itself, half too long changes at every other line;
- the division score of a metre within a bar: the onsets folded over the bar (48 bins) and read as
  4 quarters of 2 eighths (4/4), 3 quarters (3/4) or 2 dotted quarters of 3 eighths (6/8): the share of
  the onsets on the metre's eighths, and how the beats stand out from the other eighths.
"""

from __future__ import annotations

import math

import numpy as np

from stemhost.analysis.backend import load_librosa

CHROMA_HOP = 256  # samples between chroma frames (11.6 ms at 22.05 kHz)
BINS = 48  # a bar is folded into this many bins: sixteenths of 4/4 and eighths of 6/8 both land on bins
DIVISIONS = {"4/4": (4, 2), "3/4": (3, 2), "6/8": (2, 3)}  # beats a bar, eighths a beat
COVER_WEIGHT = 3.0  # the division score: this times the share of onsets on the eighths, plus the accent
BEAT_RANGE = {"simple": (40.0, 240.0), "compound": (30.0, 160.0)}  # beats a minute considered
PRIOR_CENTRE = {"simple": 110.0, "compound": 75.0}  # the most likely beat (dotted quarters in 6/8)


def chroma_sums(y: np.ndarray, sr: int) -> np.ndarray:
    """``(12, frames + 1)`` running sums of the chroma of ``y`` (frames CHROMA_HOP apart) for span means."""
    librosa = load_librosa()
    chroma = librosa.feature.chroma_stft(
        y=np.ascontiguousarray(y, dtype=np.float32), sr=sr, hop_length=CHROMA_HOP, n_fft=4096
    )
    return np.concatenate([np.zeros((12, 1)), np.cumsum(chroma, axis=1)], axis=1)


def chord_scores(sums: np.ndarray, sr: int, lines_s: np.ndarray, period: int) -> np.ndarray:
    """The chord score of bars ``period`` grid points long starting at each of the first ``period`` points.

    Args:
        sums: from ``chroma_sums``.
        sr: the audio's sample rate.
        lines_s: ``(points,)`` seconds of a fine grid.
        period: the bar in grid points.

    Returns:
        ``(period,)``: mean cosine distance between the chroma of consecutive bars less that between the
        halves of each bar (-1 to 1; the offsets with fewer than 3 bars read -1).
    """
    out = np.full(period, -1.0)
    for offset in range(period):
        lines = lines_s[offset::period]
        if lines.size < 4:
            continue
        mids = (lines[:-1] + lines[1:]) / 2
        bars = _unit(_span(sums, sr, lines[:-1], lines[1:]))
        first, second = _unit(_span(sums, sr, lines[:-1], mids)), _unit(_span(sums, sr, mids, lines[1:]))
        between = 1.0 - np.sum(bars[:, 1:] * bars[:, :-1], axis=0)
        within = 1.0 - np.sum(first * second, axis=0)
        out[offset] = float(between.mean() - within.mean())
    return out


def fold_bars(bands: np.ndarray, bar: float, origin: float) -> np.ndarray:
    """``(bands, bars, BINS)``: each band's strongest onset near each bin of each whole bar.

    Args:
        bands: ``(bands, frames)`` onset envelopes.
        bar: the bar in frames.
        origin: a frame where a bar may begin (any pulse: the fold is read at every rotation).
    """
    frames = bands.shape[1]
    origin = origin % bar
    count = int((frames - 1 - origin) // bar)
    at = origin + bar * (np.arange(count)[:, None] + np.arange(BINS)[None, :] / BINS)
    reach = max(1, min(3, int(bar / BINS / 3)))
    idx = np.clip(np.round(at).astype(int)[..., None] + np.arange(-reach, reach + 1), 0, frames - 1)
    return bands[:, idx].max(axis=3)


def repetition(bars: np.ndarray) -> float:
    """Mean correlation of each bar's onsets with the next bar's, band by band (from ``fold_bars``): near 1
    when the bar length is the pattern's, lower when bars of another length cut across it."""
    x = bars - bars.mean(axis=2, keepdims=True)
    norm = np.linalg.norm(x, axis=2)
    norm = np.where(norm > 0, norm, 1.0)
    if x.shape[1] < 2:
        return 0.0
    return float(np.mean(np.sum(x[:, 1:] * x[:, :-1], axis=2) / (norm[:, 1:] * norm[:, :-1])))


def division_score(fold: np.ndarray, metre: str) -> tuple[float, int]:
    """How well a metre divides a folded bar, and the bin of its first beat (0 to BINS / beats - 1).

    The onsets above each band's median over the bar, summed over the bands: COVER_WEIGHT times their
    share on the metre's eighths plus the beats' accent, ``(beats - other eighths) / (beats + other
    eighths)`` in mean strength, at the best rotation.
    """
    beats, eighths = DIVISIONS[metre]
    step = BINS // beats
    strength = np.maximum(fold - np.median(fold, axis=1, keepdims=True), 0.0).sum(axis=0)
    total = float(strength.sum()) or 1.0
    best = (-math.inf, 0)
    for rotation in range(step):
        on = (rotation + np.arange(0, BINS, step)) % BINS
        lattice = (rotation + np.arange(0, BINS, step // eighths)) % BINS
        off = np.setdiff1d(lattice, on)
        a, b = strength[on].mean(), strength[off].mean()
        score = COVER_WEIGHT * strength[lattice].sum() / total + (a - b) / (a + b + 1e-9)
        if score > best[0]:
            best = (float(score), rotation)
    return best


def beat_prior(bpm: float, metre: str) -> float:
    """Log-plausibility of a beat (0 at PRIOR_CENTRE, -0.5 an octave away); -inf outside BEAT_RANGE."""
    kind = "compound" if metre.endswith("/8") else "simple"
    low, high = BEAT_RANGE[kind]
    if not low <= bpm <= high:
        return -math.inf
    return -0.5 * math.log2(bpm / PRIOR_CENTRE[kind]) ** 2


def _span(sums: np.ndarray, sr: int, start_s: np.ndarray, end_s: np.ndarray) -> np.ndarray:
    last = sums.shape[1] - 1
    a = np.clip(np.round(start_s * sr / CHROMA_HOP).astype(int), 0, last)
    b = np.clip(np.round(end_s * sr / CHROMA_HOP).astype(int), 0, last)
    return (sums[:, b] - sums[:, a]) / np.maximum(1, b - a)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(vectors, axis=0)
    return vectors / np.where(norm > 0, norm, 1.0)
