"""Key detection: a constant-Q chroma profile correlated with Albrecht and Shanahan's key profiles."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemhost.analysis.backend import load_librosa
from stemhost.session.notes import key_name

# Albrecht & Shanahan (2013), "The use of large corpora to train a new type of key-finding algorithm",
# Music Perception 31(1): pitch-class distributions of major and minor keys, tonic first. Measured on
# tests/test_analysis.py's progressions (12 tonics x I-IV-V-I, I-V-vi-IV, i-iv-V-i, i-VI-VII-i) and on
# 32 rendered Bach chorales (scripts/evaluate): these profiles 48/48 and 30/32; Krumhansl-Kessler 39/48
# and 24/32 (48/48 and 24/32 on square-rooted chroma); Temperley's Kostka-Payne 33/48 and 29/32.
# Adding a bass-register (C1-B2) chroma's correlation at half weight made the progressions worse (31/48:
# the bass plays the roots of IV, V and vi as loudly as the tonic's) and the chorales no better (30/32);
# weighting the last 4 s (the final cadence) lost 2-4 chorales (minor chorales end on a major chord).
MAJOR_PROFILE = np.array([0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081])
MINOR_PROFILE = np.array([0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052])

BINS_PER_OCTAVE = 36  # three constant-Q bins a semitone, folded to 12 pitch classes
LOWEST_NOTE_HZ = 32.703  # C1
OCTAVES = 7  # C1 to B7
HOP_S = 0.19  # seconds between chroma frames (4096 samples at 22.05 kHz)
SILENCE_DB = -70.0  # dBFS: quieter audio has no key


@dataclass(frozen=True)
class KeyEstimate:
    """The most likely key of some audio.

    Attributes:
        tonic: the tonic's pitch class, 0 (C) to 11 (B).
        mode: ``'major'`` or ``'minor'``.
        confidence: Pearson correlation of the audio's pitch-class profile with the key's profile,
            clipped to 0-1 (clear tonal music reads about 0.8-0.95; atonal or noisy audio below 0.5).
        runner_up: the second most likely key's name (often the relative or parallel key).
        runner_up_confidence: its correlation, clipped to 0-1; close to ``confidence`` means ambiguous.
        tuning_cents: the tuning the chroma was measured at, in cents from A = 440 Hz.
    """

    tonic: int
    mode: str
    confidence: float
    runner_up: str
    runner_up_confidence: float
    tuning_cents: float = 0.0

    @property
    def name(self) -> str:
        """The key's conventional name, e.g. ``'Bb major'``, ``'F# minor'``."""
        return key_name(self.tonic, self.mode)

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return {
            "tonic": self.tonic,
            "mode": self.mode,
            "name": self.name,
            "confidence": round(self.confidence, 3),
            "runner_up": self.runner_up,
            "runner_up_confidence": round(self.runner_up_confidence, 3),
            "tuning_cents": round(self.tuning_cents, 1),
        }


def detect_key(audio_mono: np.ndarray, sr: int) -> KeyEstimate | None:
    """The key of mono audio.

    The audio's tuning is estimated first; a 36-bin-per-octave constant-Q transform (C1-B7) is folded
    into a chroma, summed over time (loud passages weigh more) and correlated with the 24 rotations
    of the major and minor profiles; the best correlation wins.

    Args:
        audio_mono: ``(frames,)`` float samples, best at 22.05 kHz (other rates work).
        sr: its sample rate in Hz.

    Returns:
        The estimate, or None when the audio is silent (RMS below -70 dBFS) or too short for one frame.
    """
    y = np.ascontiguousarray(audio_mono, dtype=np.float32)
    if too_quiet_for_a_key(y, sr):
        return None
    profile, tuning = pitch_class_profile(y, sr)
    return ranked_key(key_scores(profile), tuning)


def too_quiet_for_a_key(y: np.ndarray, sr: int) -> bool:
    """True when mono audio is shorter than half a second or its RMS is below SILENCE_DB."""
    return y.size < sr * 0.5 or _rms_db(y) < SILENCE_DB


def ranked_key(scores: np.ndarray, tuning: float) -> KeyEstimate:
    """The best and second-best keys of ``(2, 12)`` scores [major, minor][tonic], tuning in semitones."""
    order = np.argsort(scores, axis=None)[::-1]
    (m1, t1), (m2, t2) = (divmod(int(i), 12) for i in order[:2])
    modes = ("major", "minor")
    return KeyEstimate(
        tonic=t1,
        mode=modes[m1],
        confidence=_unit(scores[m1, t1]),
        runner_up=key_name(t2, modes[m2]),
        runner_up_confidence=_unit(scores[m2, t2]),
        tuning_cents=100.0 * tuning,
    )


def chroma_hop(sr: int) -> int:
    """Samples between chroma frames at a sample rate: a power of two near HOP_S seconds."""
    return 2 ** max(OCTAVES - 1, round(math.log2(HOP_S * sr)))  # the CQT needs a multiple of 2^(octaves-1)


def pitch_class_profile(y: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """The time-summed chroma of mono audio, C first, and the tuning it was measured at (semitones)."""
    chroma, tuning = chroma_frames(y, sr)
    return chroma.sum(axis=1), tuning


def chroma_frames(
    y: np.ndarray, sr: int, tuning: float | None = None, octaves: int = OCTAVES
) -> tuple[np.ndarray, float]:
    """Unnormalised chroma frames ``(12, frames)``, C first, ``chroma_hop`` apart, from C1 up ``octaves`` octaves.

    Args:
        y: ``(frames,)`` mono float32 samples.
        sr: their sample rate in Hz.
        tuning: semitones from A = 440 Hz; estimated from the audio when None.
        octaves: how many octaves above C1 the constant-Q transform covers (fewer below Nyquist).

    Returns:
        The chroma frames and the tuning they were measured at (semitones).
    """
    librosa = load_librosa()
    cqt, tuning = _cqt(y, sr, tuning, octaves)
    chroma = librosa.feature.chroma_cqt(C=cqt, sr=sr, bins_per_octave=BINS_PER_OCTAVE, fmin=LOWEST_NOTE_HZ, norm=None)
    return chroma, tuning


def semitone_cqt(
    y: np.ndarray, sr: int, tuning: float | None = None, octaves: int = OCTAVES
) -> tuple[np.ndarray, float]:
    """Constant-Q magnitudes ``(12 x octaves, frames)`` a semitone a row from C1 (each the highest of its
    three bins), ``chroma_hop`` apart, and the tuning they were measured at (semitones)."""
    cqt, tuning = _cqt(y, sr, tuning, octaves)
    per = BINS_PER_OCTAVE // 12
    return cqt[: cqt.shape[0] // per * per].reshape(-1, per, cqt.shape[1]).max(axis=1), tuning


def _cqt(y: np.ndarray, sr: int, tuning: float | None, octaves: int) -> tuple[np.ndarray, float]:
    librosa = load_librosa()
    if tuning is None:
        tuning = float(librosa.estimate_tuning(y=y, sr=sr, bins_per_octave=12))
    octaves = max(1, min(octaves, int(math.log2(0.45 * sr / LOWEST_NOTE_HZ))))
    cqt = np.abs(
        librosa.cqt(
            y,
            sr=sr,
            hop_length=chroma_hop(sr),
            fmin=LOWEST_NOTE_HZ,
            n_bins=octaves * BINS_PER_OCTAVE,
            bins_per_octave=BINS_PER_OCTAVE,
            tuning=tuning * BINS_PER_OCTAVE / 12,  # in fractions of a bin
        )
    )
    return cqt, tuning


def key_scores(profile: np.ndarray) -> np.ndarray:
    """Pearson correlations of a C-first pitch-class profile with every key: ``(2, 12)``, [major, minor][tonic]."""
    scores = np.zeros((2, 12))
    for m, reference in enumerate((MAJOR_PROFILE, MINOR_PROFILE)):
        for tonic in range(12):
            scores[m, tonic] = _pearson(profile, np.roll(reference, tonic))
    return scores


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    norm = math.sqrt(float(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / norm) if norm > 0 else 0.0


def _unit(value: float) -> float:
    return min(1.0, max(0.0, float(value))) if math.isfinite(value) else 0.0


def _rms_db(y: np.ndarray) -> float:
    power = float(np.mean(np.square(y, dtype=np.float64)))
    return 10.0 * math.log10(power) if power > 0 else -math.inf
