"""Tempo: the autocorrelation of an onset-strength envelope, folded into 70-180 BPM."""

from __future__ import annotations

import math

import numpy as np

from stemhost.analysis.backend import load_librosa

SLOWEST_BPM = 70.0  # the tempo reported lies in [SLOWEST_BPM, FASTEST_BPM) ...
FASTEST_BPM = 180.0
FOLD_BPM = 68.0  # ... (or a hair below 70): pulses are folded by octaves into [68, 136), then doubled below 90
SEARCH_BPM = (40.0, 720.0)  # periodicities looked at (bars down to sixteenths) before folding
HOP_S = 0.0116  # seconds between onset-envelope frames (256 samples at 22.05 kHz)
BEAT_BAND_HZ = 1000.0  # kick and snare bodies: the band the beat-level test listens to
ONSET_CONTRAST_DB = 1.5  # onsets: the envelope's 99th percentile stands this far above its median (a steady
# tone reads 0.03, white noise 0.55, a pad chord 0.47; plucked chords 4, drums 29)
MIN_PERIODICITY = 0.2  # the highest autocorrelation peak must reach this (white noise: 0.06; songs: 0.35-0.98)
STRONG_PEAK = 0.5  # autocorrelation peaks at least this share of the highest count as pulses
EVEN_BEATS = 0.42  # alternate pulses at least this even (weaker/stronger) make the faster pulse the beat


def estimate_tempo(audio_mono: np.ndarray, sr: int) -> float | None:
    """The tempo of mono audio in BPM, from 68 to 180 (octaves are folded into that range).

    1. Onset strength (librosa's spectral flux of a log-mel spectrogram) and its autocorrelation.
    2. The fastest pulse among the autocorrelation peaks between 40 and 720 BPM that reach half the
       highest (bars and half bars are multiples of it; hi-hat sixteenths may be it), folded by octaves
       into 68-136 BPM and refined by parabolic interpolation of the peaks at one, two and four periods.
    3. Below 90 BPM, twice the tempo is in range too: the octave is chosen by how even alternate pulses
       of the faster one are in the kick-and-snare band (below 1 kHz, linear magnitude). Every other pulse
       much weaker (hi-hat eighths between kick and snare) keeps the slower tempo; about even pulses
       (kick and snare on every beat) take the faster one. Measured evenness: 0.02-0.32 for eighths
       between beats, 0.53-0.97 for kick and snare beats; the threshold is 0.42.

    Args:
        audio_mono: ``(frames,)`` float samples, best at 22.05 kHz.
        sr: its sample rate in Hz.

    Returns:
        BPM, or None when the audio is shorter than 2 s or has no beat: no onsets standing 1.5 dB above the
        rest (silence, steady tones, pads) or no periodicity (autocorrelation below 0.2, e.g. noise).
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
    bpm = 60 * fps / _parabolic_peak(acf, int(strong[0]))  # the fastest strong pulse: slower ones are multiples
    while bpm < FOLD_BPM:
        bpm *= 2
    while bpm >= 2 * FOLD_BPM:
        bpm /= 2
    period = _refine_period(acf, fps * 60 / bpm)  # frames
    if 60 * fps / period < FASTEST_BPM / 2:  # both it and twice it are in range: which pulse is the beat?
        low_mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=32, fmax=BEAT_BAND_HZ)
        low_onsets = librosa.onset.onset_strength(S=np.sqrt(low_mel), sr=sr, hop_length=hop)
        if pulse_evenness(low_onsets, period / 2) >= EVEN_BEATS:
            period /= 2
    return 60 * fps / period


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
