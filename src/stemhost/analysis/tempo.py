"""Tempo: the autocorrelation of an onset-strength envelope, folded by octaves into 68-272 BPM."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemhost.analysis.backend import load_librosa

FOLD_BPM = 68.0  # pulses are folded by octaves into [68, 136), then doubled (to at most 272) when the faster
# pulse is the beat: the tempo reported lies in [68, 272)
SEARCH_BPM = (40.0, 720.0)  # periodicities looked at (bars down to sixteenths) before folding
HOP_S = 0.0116  # seconds between onset-envelope frames (256 samples at 22.05 kHz)
BEAT_BAND_HZ = 1000.0  # kick and snare bodies: the band the beat-level test listens to
ONSET_CONTRAST_DB = 1.5  # onsets: the envelope's 99th percentile stands this far above its median (a steady
# tone reads 0.03, white noise 0.55, a pad chord 0.47; plucked chords 4, drums 29)
MIN_PERIODICITY = 0.2  # the highest autocorrelation peak must reach this (white noise: 0.06; songs: 0.35-0.98)
STRONG_PEAK = 0.5  # autocorrelation peaks at least this share of the highest count as pulses
EVEN_BEATS = 0.42  # alternate pulses at least this even (weaker/stronger) make the faster pulse the beat ...
SLOW_BEAT_BPM = 90.0  # ... below this folded tempo; from it up, where the faster pulse is 180-272 BPM:
EVEN_FAST_BEATS = 0.48  # the evenness a faster pulse of 180 BPM or more needs (the demo's 100 BPM groove: 0.45)
MIN_ONSETS_PER_BEAT = 0.75  # and the onsets a second (all bands) per beat of the faster pulse
COMPOUND_RATIO = 1.5  # kick and snare this much more periodic at three fastest pulses than at two: a
COMPOUND_MIN = 0.3  # compound metre (6/8, 12/8, swung triplets), whose beat is three fastest pulses ...
COMPOUND_SLOWEST_BPM = 56.0  # ... when that beat is at least this fast (slower, it is a bar of 3/4)


@dataclass(frozen=True)
class TempoEstimate:
    """A tempo and the other octave weighed against it.

    Attributes:
        bpm: the beat, 68 to 272 BPM (56 to 240 for a compound metre).
        alternative_bpm: the other octave: half the tempo when the faster pulse was taken, else twice or
            half it, whichever pulse is the more salient in the kick-and-snare band; for a compound
            metre, the duple reading (1.5 times the tempo).
        onsets_per_s: onsets a second in the whole band (librosa's peak picking on the onset envelope).
        double_evenness: how even alternate pulses of twice the folded tempo are in the kick-and-snare
            band (0-1; see ``pulse_evenness``): the beat salience of the faster octave (0 for a compound
            metre, where it is not measured).
    """

    bpm: float
    alternative_bpm: float
    onsets_per_s: float
    double_evenness: float


def estimate_tempo(audio_mono: np.ndarray, sr: int) -> float | None:
    """The tempo of mono audio in BPM, 68 to 272 (56 to 240 for a compound metre; see ``estimate_tempo_octave``),
    or None without a beat."""
    found = estimate_tempo_octave(audio_mono, sr)
    return None if found is None else found.bpm


def estimate_tempo_octave(audio_mono: np.ndarray, sr: int) -> TempoEstimate | None:
    """The tempo of mono audio, 68 to 272 BPM (56 to 240 for a compound metre), with the other octave weighed.

    1. Onset strength (librosa's spectral flux of a log-mel spectrogram) and its autocorrelation.
    2. The fastest pulse among the autocorrelation peaks between 40 and 720 BPM that reach half the
       highest (bars and half bars are multiples of it; hi-hat sixteenths may be it).
    3. Compound metre: when the kick-and-snare band's own autocorrelation at three fastest pulses
       reaches 0.3 and 1.5 times its value at two (6/8's eighths under a kick on 1 and a snare on 4),
       and three pulses make at least 56 BPM, the beat is three pulses: reported as it is, with the duple
       reading (1.5 times it) as the alternative.
    4. Otherwise the pulse is folded by octaves into 68-136 BPM and refined by parabolic interpolation
       of the peaks at one, two and four periods.
    5. The octave: twice the folded tempo is the beat when alternate pulses of it are about even in the
       kick-and-snare band (below 1 kHz, linear magnitude) -- kick and snare on every pulse, as a fast
       song plays them -- and the onset density allows it (at least 0.75 onsets a second per beat of
       the faster tempo). Every other pulse much weaker (hi-hat eighths between kick and snare) keeps the
       slower tempo. Measured evenness: 0.02-0.32 for eighths between beats, 0.53-0.97 for kick and
       snare beats; the threshold is 0.42 below a folded 90 BPM (chosen on the chorale set) and
       EVEN_FAST_BEATS (0.48) from 90 up. It was 0.42, checked on the styles set's development draw (its songs
       at 110-143 BPM read 0.00-0.06 there, its fast songs (184-237 BPM) 0.51-0.74), until the bundled demo
       song (100 BPM; kick on 1, 3 and the "and" of 3, snare on 2 and 4, eighth hats) read 0.45 and was
       reported at 200 BPM; 0.48 lies between the two.

    Args:
        audio_mono: ``(frames,)`` float samples, best at 22.05 kHz.
        sr: its sample rate in Hz.

    Returns:
        The estimate, or None when the audio is shorter than 2 s or has no beat: no onsets standing
        1.5 dB above the rest (silence, steady tones, pads) or no periodicity (autocorrelation below
        0.2, e.g. noise).
    """
    librosa = load_librosa()
    y = np.ascontiguousarray(audio_mono, dtype=np.float32)
    hop = 2 ** round(math.log2(HOP_S * sr))
    fps = sr / hop
    if y.size < 2 * sr or not np.any(y):
        return None
    power = np.abs(librosa.stft(y, n_fft=4 * hop, hop_length=hop)) ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=128)
    onsets = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=hop)
    if np.percentile(onsets, 99) - np.median(onsets) < ONSET_CONTRAST_DB:
        return None
    acf = _autocorrelation(onsets)
    if acf is None:
        return None
    lags = np.arange(math.floor(fps * 60 / SEARCH_BPM[1]), math.ceil(fps * 60 / SEARCH_BPM[0]) + 1)
    lags = lags[lags < acf.size // 2]
    if lags.size < 3:
        return None
    values = acf[lags]
    peaks = lags[1:-1][(values[1:-1] >= values[:-2]) & (values[1:-1] >= values[2:])]
    if peaks.size == 0 or acf[peaks].max() < MIN_PERIODICITY:
        return None
    strong = peaks[acf[peaks] >= STRONG_PEAK * acf[peaks].max()]
    fastest = _parabolic_peak(acf, int(strong[0]))  # frames: the fastest strong pulse; slower ones are multiples
    low_mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=32, fmax=BEAT_BAND_HZ)
    low_onsets = librosa.onset.onset_strength(S=np.sqrt(low_mel), sr=sr, hop_length=hop)
    density = librosa.onset.onset_detect(onset_envelope=onsets, sr=sr, hop_length=hop).size / (y.size / sr)
    low_acf = _autocorrelation(low_onsets)
    if low_acf is not None and _is_compound(low_acf, fastest, fps):
        beat = _refine_period(acf, 3 * fastest)
        return TempoEstimate(60 * fps / beat, 1.5 * 60 * fps / beat, density, 0.0)  # or the duple reading
    bpm = 60 * fps / fastest
    while bpm < FOLD_BPM:
        bpm *= 2
    while bpm >= 2 * FOLD_BPM:
        bpm /= 2
    period = _refine_period(acf, fps * 60 / bpm)  # frames
    slow = 60 * fps / period
    double_even = pulse_evenness(low_onsets, period / 2)
    threshold = EVEN_BEATS if slow < SLOW_BEAT_BPM else EVEN_FAST_BEATS
    if double_even >= threshold and density >= MIN_ONSETS_PER_BEAT * 2 * slow / 60:
        return TempoEstimate(2 * slow, slow, density, double_even)
    half_salience = 1.0 - pulse_evenness(low_onsets, period)  # alternate beats uneven: the half is a pulse
    alternative = 2 * slow if double_even >= half_salience else slow / 2
    return TempoEstimate(slow, alternative, density, double_even)


def pulse_evenness(onsets: np.ndarray, period: float) -> float:
    """How even alternate pulses of a period are: mean onset strength of the weaker over the stronger.

    Args:
        onsets: an onset-strength envelope.
        period: the pulse period in envelope frames.

    Returns:
        0 (every other pulse is silent) to 1 (alternate pulses are as strong).
    """
    from scipy.ndimage import maximum_filter1d

    strength = maximum_filter1d(onsets, 3) - np.median(onsets)  # tolerate one frame of rounding
    pairs = int((strength.size - 1 - 2 * period) // (2 * period))
    if pairs < 2:
        return 1.0
    best_on, best_off = 0.0, 0.0
    for phase in range(math.ceil(2 * period)):
        on_idx = np.round(phase + 2 * period * np.arange(pairs)).astype(int)
        on = float(strength[on_idx].mean())
        if on > best_on:
            best_on, best_off = on, float(strength[np.round(on_idx + period).astype(int)].mean())
    return max(0.0, best_off) / best_on if best_on > 0 else 1.0


def _is_compound(low_acf: np.ndarray, fastest: float, fps: float) -> bool:
    """Whether kick and snare recur every three fastest pulses rather than every two (6/8, swung triplets),
    and three pulses make a beat (at least COMPOUND_SLOWEST_BPM) rather than a bar of 3/4."""
    if 60 * fps / (3 * fastest) < COMPOUND_SLOWEST_BPM:
        return False
    three, two = _peak_near(low_acf, 3 * fastest), _peak_near(low_acf, 2 * fastest)
    return three >= COMPOUND_MIN and three >= COMPOUND_RATIO * max(two, 0.0)


def _peak_near(acf: np.ndarray, lag: float) -> float:
    """The highest autocorrelation within 3 % (and a frame) of a lag; 0 beyond the usable half."""
    lo, hi = max(1, math.floor(lag * 0.97) - 1), math.ceil(lag * 1.03) + 1
    return float(acf[lo : hi + 1].max()) if hi < acf.size // 2 else 0.0


def _autocorrelation(x: np.ndarray) -> np.ndarray | None:
    """Unbiased autocorrelation of a mean-removed signal, 1 at lag 0; None for a constant signal."""
    x = x - x.mean()
    n = x.size
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[:n]
    if acf[0] <= 1e-12:
        return None
    return acf / acf[0] * n / (n - np.arange(n))


def _parabolic_peak(acf: np.ndarray, i: int) -> float:
    """The lag of the autocorrelation peak at integer lag i, to a fraction of a frame."""
    a, b, c = acf[i - 1], acf[i], acf[i + 1]
    bend = a - 2 * b + c
    return i + (0.5 * (a - c) / bend if bend < 0 else 0.0)


def _refine_period(acf: np.ndarray, period: float) -> float:
    """The period (frames) from the autocorrelation peaks near 1, 2 and 4 periods (median of the three)."""
    estimates = []
    for k in (1, 2, 4):
        centre = k * period
        lo, hi = math.floor(centre * 0.97) - 1, math.ceil(centre * 1.03) + 1
        if lo < 1 or hi >= acf.size // 2:
            continue
        i = lo + int(np.argmax(acf[lo : hi + 1]))
        if lo < i < hi:  # a peak inside the window
            estimates.append(_parabolic_peak(acf, i) / k)
    return float(np.median(estimates)) if estimates else period
