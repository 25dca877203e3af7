"""The grid: beats, bars and the first downbeat of a song with a steady tempo.

The tempo estimate (``tempo.estimate_tempo_octave``) seeds a grid of pulses fitted to the onsets (its
eighths: half a beat, a third of a compound beat). Its octave is not trusted: every bar of 6 or 8
pulses of a third, half, two thirds, one, one and a half, two or three times that pulse is weighed by
how the chords change at its lines (``metre.chord_scores``) and the plausibility of its beat; the metre
is the division of the chosen bar that best fits the onsets (``metre.division_score``); bar 1 is the
beat of that bar where the chords change most and the kick and bass stand out. Without chords (no
pitched stems, or chords that do not change with the bar) the tempo estimate's pulse is kept and the
bar of 6 or 8 pulses that repeats best is taken. The grid's beat follows the session's convention
(``session/grid.py``): quarter notes in 3/4 and 4/4, dotted quarters in 6/8.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemhost.analysis.backend import load_librosa
from stemhost.analysis.metre import (
    BINS,
    DIVISIONS,
    beat_prior,
    chord_scores,
    chroma_sums,
    division_score,
    fold_bars,
    repetition,
)
from stemhost.analysis.tempo import TempoEstimate

HOP = 128  # samples between envelope frames at 22.05 kHz (5.8 ms)
LOW_HZ = 150.0  # kick and bass: onsets below this
MID_HZ = (150.0, 3000.0)  # snare, chords
HIGH_HZ = 6000.0  # hi-hats and cymbals: above this
SEARCH = 0.03  # the pulse period is searched within 3 % of the tempo estimate's
ONSET_LAG_S = -0.016  # onset-envelope peaks come this late after the hits (calibrated on the dev draw)
SOUND_DB = -35.0  # the song starts where its onset envelope first reaches this, relative to the peak
SUB_MARGIN = 0.15  # the pulse the tempo estimate did not imply must cover this much more of the onsets
FINE = 6  # the fitted pulse is split into this many grid points: thirds and halves of it lie on them
STEPS = (2, 3, 4, 6, 9, 12, 18)  # candidate pulses in grid points (a third to three times the fitted one)
BAR_PULSES = (6, 8)  # pulses a bar (3/4 and 6/8; 4/4)
PRIOR_WEIGHT = 0.1  # the beat prior's weight against the chord score when choosing the bar
MIN_CHORD_SCORE = 0.15  # below this the chords do not show the bar: keep the tempo estimate's pulse
REPEAT_WEIGHT = 10.0  # without chords, the bar's repetition weighs this much against its division
LOW_WEIGHT = 0.1  # bar 1: the chord score plus this times the folded low onsets less the mid ones


@dataclass(frozen=True)
class GridEstimate:
    """A steady grid found in a song.

    Attributes:
        bpm: beats a minute in the grid's convention (dotted quarters in 6/8), from the fitted pulses.
        time_signature: ``"4/4"``, ``"3/4"`` or ``"6/8"``.
        first_downbeat_s: seconds of the recording where bar 1 begins: the first downbeat of the grid
            at or after the first onset (a pickup before it belongs to bar 0).
        downbeat_confidence: 0-1, how far the chosen bar start stands above the next best beat of the bar
            (chord score plus low onsets; 0: a guess).
        metre_confidence: 0-1, the lesser of the chosen bar's lead in chord score over other bar lengths
            (times 2; 1 without chords) and the metre's lead in division score over the other metres.
    """

    bpm: float
    time_signature: str
    first_downbeat_s: float
    downbeat_confidence: float
    metre_confidence: float


def estimate_grid(
    rhythm: np.ndarray, sr: int, tempo: TempoEstimate, harmony: np.ndarray | None = None
) -> GridEstimate | None:
    """Beats, metre and first downbeat of mono audio with a steady tempo.

    Args:
        rhythm: ``(frames,)`` the drums and percussion mixed (or the whole mix when there are none).
        sr: its sample rate in Hz (22.05 kHz best).
        tempo: the tempo estimate of the same audio; its beat seeds the pulse grid, a compound reading
            (``alternative_bpm`` 1.5 times ``bpm``) a pulse of a third of a beat.
        harmony: ``(frames,)`` the chord instruments mixed (best without the bass, whose root-fifth
            lines change within a bar), for where chords change (None: the rhythm audio).

    Returns:
        The grid, or None when the audio is shorter than four beats.
    """
    compound = abs(tempo.alternative_bpm / tempo.bpm - 1.5) < 0.01
    beat_s = 60.0 / tempo.bpm
    bands = _band_envelopes(rhythm, sr)
    fps = sr / HOP
    full = bands.sum(axis=0)
    if full.size / fps < 4 * beat_s:
        return None
    fits = {sub: _fit_pulses(full, beat_s * fps / sub) for sub in (2, 3)}
    # the pulse (half or third of the beat) that covers clearly more of the onsets: 6/8's eighths are thirds
    preferred = 3 if compound else 2
    other = 5 - preferred
    cover = {sub: _coverage(full, period, phase) for sub, (period, phase) in fits.items()}
    period, phase = fits[other if cover[other] > cover[preferred] + SUB_MARGIN else preferred]
    point = period / FINE  # frames between grid points
    start = phase % point
    points_s = (start + point * np.arange(int((full.size - 1 - start) // point) + 1)) / fps
    anchor = round((phase - start) / point)  # a fitted pulse's grid point
    sums = chroma_sums(harmony, sr) if harmony is not None else None
    bars = {}  # grid points a bar: the chord score of each offset
    for length in sorted({step * pulses for step in STEPS for pulses in BAR_PULSES}):
        if _best_prior(length, point, fps) > -math.inf and points_s.size >= 4 * length:
            bars[length] = chord_scores(sums, sr, points_s, length) if sums is not None else np.zeros(length)
    if not bars:
        return None
    bar_margin = None
    if max(scores.max() for scores in bars.values()) >= MIN_CHORD_SCORE:  # the bar the chords show
        ranked = sorted(bars, key=lambda n: bars[n].max() + PRIOR_WEIGHT * _best_prior(n, point, fps), reverse=True)
        bar_margin = 2 * (bars[ranked[0]].max() - max((bars[n].max() for n in ranked[1:]), default=-1.0))
        choices = [(ranked[0], metre) for metre in DIVISIONS]
    else:  # no chords to go by: the tempo estimate's pulse (or the likeliest other), 6 or 8 to a bar
        others = [_metres(step, point, fps) for step in STEPS if step != FINE]
        choices = _metres(FINE, point, fps) or max(others, key=lambda found: _top_prior(found, point, fps))
    folded = {length: fold_bars(bands, point * length, phase) for length, _ in choices}
    scored = {}  # (length, metre): (division score, plus repetition without chords, plus prior; rotation)
    for length, metre in choices:
        prior = beat_prior(_bpm(length, metre, point, fps), metre)
        if folded[length].shape[1] > 1 and prior > -math.inf:
            score, rotation = division_score(folded[length].mean(axis=1), metre)
            if bar_margin is None:
                score += REPEAT_WEIGHT * repetition(folded[length])
            scored[length, metre] = (score + PRIOR_WEIGHT * prior, rotation)
    if not scored:
        return None
    ranked = sorted(scored, key=lambda choice: scored[choice][0], reverse=True)
    length, metre = ranked[0]
    division_margin = scored[ranked[0]][0] - scored[ranked[1]][0] if len(ranked) > 1 else 1.0
    fold = folded[length].mean(axis=1)
    beats = DIVISIONS[metre][0]
    rotation = scored[length, metre][1]
    bins = [round(rotation + j * BINS / beats) % BINS for j in range(beats)]
    chords = bars.get(length, np.zeros(length))
    # bar 1: chords change there; low onsets (kick, bass) stand above the snare and chords
    values = [
        chords[(anchor + round(length * b / BINS)) % length] + LOW_WEIGHT * (fold[0, b] - fold[1, b]) for b in bins
    ]
    order = np.argsort(values)[::-1]
    downbeats = points_s[(anchor + round(length * bins[order[0]] / BINS)) % length :: length]
    downbeats = np.insert(downbeats, 0, downbeats[0] - point * length / fps)  # a bar 1 at 0 s may lie before the grid
    start_s = _first_sound(full) / fps
    later = downbeats[downbeats >= start_s - 0.25 * point * length / (beats * DIVISIONS[metre][1]) / fps]
    first_downbeat = (float(later[0]) if later.size else float(downbeats[0])) - ONSET_LAG_S
    return GridEstimate(
        bpm=_bpm(length, metre, point, fps),
        time_signature=metre,
        first_downbeat_s=max(0.0, first_downbeat),
        downbeat_confidence=float(np.clip(values[order[0]] - values[order[1]], 0.0, 1.0)),
        metre_confidence=float(np.clip(min(1.0 if bar_margin is None else bar_margin, division_margin), 0.0, 1.0)),
    )


def _metres(step: int, point: float, fps: float) -> list[tuple[int, str]]:
    """(bar in grid points, metre) of the metres whose beat is plausible with pulses ``step`` points apart."""
    found = [(step * DIVISIONS[metre][0] * DIVISIONS[metre][1], metre) for metre in DIVISIONS]
    return [
        (length, metre) for length, metre in found if beat_prior(_bpm(length, metre, point, fps), metre) > -math.inf
    ]


def _top_prior(choices: list[tuple[int, str]], point: float, fps: float) -> float:
    """The beat prior of the likeliest of some (bar, metre) choices."""
    return max((beat_prior(_bpm(length, metre, point, fps), metre) for length, metre in choices), default=-math.inf)


def _best_prior(length: int, point: float, fps: float) -> float:
    """The beat prior of the likeliest metre for a bar of ``length`` grid points."""
    return max(beat_prior(_bpm(length, metre, point, fps), metre) for metre in DIVISIONS)


def _bpm(length: int, metre: str, point: float, fps: float) -> float:
    """Beats a minute of a metre whose bar is ``length`` grid points of ``point`` frames."""
    return 60.0 * fps * DIVISIONS[metre][0] / (point * length)


def _band_envelopes(y: np.ndarray, sr: int) -> np.ndarray:
    """``(3, frames)`` onset strength (half-wave rectified log-power flux) below LOW_HZ, in MID_HZ and above
    HIGH_HZ, each scaled to a 99th percentile of 1."""
    librosa = load_librosa()
    y = np.ascontiguousarray(y, dtype=np.float32)
    spec = np.abs(librosa.stft(y, n_fft=1024, hop_length=HOP)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=1024)
    out = []
    for lo, hi in ((0.0, LOW_HZ), MID_HZ, (HIGH_HZ, sr / 2)):
        band = spec[(freqs >= lo) & (freqs < hi)]
        db = 10 * np.log10(band + 1e-10)
        db = np.maximum(db, db.max() - 80)
        flux = np.maximum(0.0, np.diff(db, axis=1, prepend=db[:, :1])).mean(axis=0)
        top = np.percentile(flux, 99)
        out.append(flux / top if top > 0 else flux)
    return np.array(out)


def _fit_pulses(envelope: np.ndarray, period: float) -> tuple[float, float]:
    """The period and phase (frames) of the pulse grid that best meets the envelope's peaks: a search
    within SEARCH of the period, then a weighted line through the peaks nearest the grid."""
    x = np.arange(envelope.size)
    best = (-1.0, period, 0.0)
    for p in np.linspace(period * (1 - SEARCH), period * (1 + SEARCH), 121):
        n = int((envelope.size - 1) // p)
        phases = np.arange(0, p, 0.5)
        idx = phases[:, None] + p * np.arange(n)[None, :]
        idx = idx[:, idx[-1] < envelope.size - 1] if n else idx
        values = np.interp(idx, x, envelope).sum(axis=1)
        i = int(np.argmax(values))
        if values[i] > best[0]:
            best = (float(values[i]), float(p), float(phases[i]))
    _, p, phase = best
    for _ in range(3):  # refine: each pulse's nearest peak, weighted by its height
        k = np.arange(int((envelope.size - 1 - phase) // p) + 1)
        centres = phase + p * k
        reach = max(1, int(p / 4))
        peaks, weights = [], []
        for c in centres:
            lo, hi = max(1, int(c) - reach), min(envelope.size - 2, int(c) + reach)
            if hi <= lo:
                peaks.append(c)
                weights.append(0.0)
                continue
            i = lo + int(np.argmax(envelope[lo : hi + 1]))
            a, b, d = envelope[i - 1], envelope[i], envelope[i + 1]
            bend = a - 2 * b + d
            peaks.append(i + (0.5 * (a - d) / bend if bend < 0 else 0.0))
            weights.append(b)
        w = np.asarray(weights) ** 2
        if w.sum() <= 0:
            break
        slope, intercept = np.polyfit(k, np.asarray(peaks), 1, w=np.sqrt(w))
        p, phase = float(slope), float(intercept) % float(slope)
    return p, phase


def _coverage(envelope: np.ndarray, period: float, phase: float) -> float:
    """The share of the onsets (local maxima above a tenth of the envelope's 99th percentile, by height)
    within 3 frames (17 ms) of a pulse."""
    floor = 0.1 * np.percentile(envelope, 99)
    inner = envelope[1:-1]
    peaks = 1 + np.flatnonzero((inner > envelope[:-2]) & (inner >= envelope[2:]) & (inner > floor))
    if peaks.size == 0:
        return 0.0
    off = (peaks - phase) % period
    near = np.minimum(off, period - off) <= 3
    return float(envelope[peaks][near].sum() / envelope[peaks].sum())


def _first_sound(envelope: np.ndarray) -> int:
    """The frame where the envelope first reaches SOUND_DB below its peak."""
    threshold = envelope.max() * 10 ** (SOUND_DB / 20) if envelope.size else 0.0
    above = np.flatnonzero(envelope >= max(threshold, 1e-9))
    return int(above[0]) if above.size else 0
