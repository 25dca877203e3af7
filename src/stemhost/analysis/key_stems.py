"""Key from stems: what a bass stem and the harmony stems say that a mix does not.

A chroma profile of the whole mix confuses keys that share most of their notes: a major key with its
relative minor or its dominant, and a blues in a major key (blue thirds and sevenths in the melody,
dominant-seventh chords) with its parallel minor. The stems separate the evidence:

* **the tonic from the bass**: the share of the bass stem's time on each note (pitch class) over the
  whole song, and on its last notes (a final cadence lands the bass on the tonic);
* **the mode from the third over the tonic** in the harmony (the pitched stems other than the lead
  vocal): a blues melody bends the third, its chords keep it major; a minor chorale's Picardy third is
  one chord against a whole song of minor thirds.

Only keys close to the best profile correlation, their parallel keys and the keys on the bass's most
played and final notes are re-ranked, by a weighted sum of the three kinds of evidence. Without a bass
stem, or with a silent one, the profile's ranking stands. The weights were set on synthetic tests and checked on the development draw of the styles
evaluation set (``scripts/make_eval_styles.py``, see eval/README.md), where the way the bass's notes
are found was chosen; its test draw tuned nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from stemhost.analysis.key import (
    KeyEstimate,
    chroma_frames,
    chroma_hop,
    key_scores,
    pitch_class_profile,
    ranked_key,
    semitone_cqt,
    too_quiet_for_a_key,
)

BASS_OCTAVES = 4  # C1-B4: a bass's fundamentals and first overtones
FINAL_S = 1.0  # seconds: the bass's final notes weigh with exp(-t / FINAL_S) back from its last sound
BASS_GATE_DB = -40.0  # frames this far below the bass's loudest frame are silence
FUNDAMENTAL_SHARE = 0.5  # the lowest constant-Q peak this near the frame's highest is the note played
CANDIDATE_MARGIN = 0.15  # keys whose correlation is within this of the best (and their parallels) are weighed
PROFILE_WEIGHT = 0.5  # the combined score: profile correlation ...
TONIC_WEIGHT = 0.3  # ... the bass's tonic evidence (half whole song, half final notes) ...
THIRD_WEIGHT = 0.2  # ... and the third over the tonic in the harmony, a vote:
THIRD_SLOPE = 2.5  # a major third's share of 0.3 or less votes 0 for major (1 for minor), 0.7 or more 1


@dataclass(frozen=True)
class BassEvidence:
    """Where a bass stem sits: shares of its sounding frames on each note's pitch class, C first, each summing to 1.

    Attributes:
        whole: over the whole song (long notes weigh more).
        final: over its last notes, each frame weighted by exp(-t / FINAL_S) back from its last sound.
    """

    whole: np.ndarray
    final: np.ndarray

    def tonic_evidence(self) -> np.ndarray:
        """``(12,)`` 0-1 per pitch class: half the whole-song share, half the final share, each over its maximum."""
        return 0.5 * self.whole / self.whole.max() + 0.5 * self.final / self.final.max()


def bass_evidence(bass: np.ndarray, sr: int, tuning: float | None = None) -> BassEvidence | None:
    """The pitch classes a bass stem dwells on, over the song and at its end.

    Each frame's note is its fundamental, not its chroma: a bass note's third harmonic (the fifth above)
    would otherwise count for the fifth. The fundamental is the lowest pitch whose constant-Q magnitude
    is a local peak reaching FUNDAMENTAL_SHARE of the frame's highest; every sounding frame (within
    40 dB of the loudest) counts the same, so a loud low string does not outweigh a longer note.

    Args:
        bass: ``(frames,)`` mono float32 samples of the bass stem(s).
        sr: their sample rate in Hz.
        tuning: semitones from A = 440 Hz (the mix's), estimated from the bass when None.

    Returns:
        The evidence, or None when the bass is silent or shorter than half a second.
    """
    y = np.ascontiguousarray(bass, dtype=np.float32)
    if y.size < sr * 0.5 or not np.any(y):
        return None
    cqt, _ = semitone_cqt(y, sr, tuning=tuning, octaves=BASS_OCTAVES)  # (semitones from C1, frames)
    loudest = cqt.max(axis=0)
    if loudest.max() <= 0:
        return None
    sounding = loudest >= loudest.max() * 10 ** (BASS_GATE_DB / 20)
    padded = np.pad(cqt, ((1, 1), (0, 0)))
    peaks = (cqt >= padded[:-2]) & (cqt >= padded[2:]) & (cqt >= FUNDAMENTAL_SHARE * loudest)
    fundamental = np.argmax(peaks, axis=0) % 12  # the lowest peak of each frame
    weights = sounding.astype(float)
    last = int(np.flatnonzero(sounding)[-1])
    frame_s = chroma_hop(sr) / sr
    recent = np.exp(-np.maximum(last - np.arange(weights.size), 0) * frame_s / FINAL_S) * (
        np.arange(weights.size) <= last
    )
    whole = np.bincount(fundamental, weights=weights, minlength=12)
    final = np.bincount(fundamental, weights=weights * recent, minlength=12)
    return BassEvidence(whole / whole.sum(), final / max(final.sum(), 1e-12))


def third_evidence(harmony_profile: np.ndarray) -> np.ndarray:
    """``(12,)`` per tonic, 0-1: the vote of the thirds above it for major (1 - it for minor).

    The major third's share of the major and minor thirds, (share - 0.5) x THIRD_SLOPE + 0.5, clipped
    to 0-1; 0.5 when both thirds are silent.
    """
    major = np.roll(harmony_profile, -4)
    minor = np.roll(harmony_profile, -3)
    total = major + minor
    share = np.where(total > 0, major / np.where(total > 0, total, 1.0), 0.5)
    return np.clip((share - 0.5) * THIRD_SLOPE + 0.5, 0.0, 1.0)


def combined_scores(
    scores: np.ndarray, tonic: np.ndarray, major_third: np.ndarray, bass_tonics: tuple[int, ...] = ()
) -> np.ndarray:
    """``(2, 12)`` [major, minor][tonic]: profile correlation, bass tonic and third weighed together.

    The candidates are the keys whose correlation is within CANDIDATE_MARGIN of the best, their parallel
    keys, and both keys on each of ``bass_tonics`` (the bass's most played and final notes: a modal
    song's tonic may be far from the best major or minor profile); the others score -inf.
    """
    combined = PROFILE_WEIGHT * scores + TONIC_WEIGHT * tonic[None, :]
    combined += THIRD_WEIGHT * np.stack([major_third, 1.0 - major_third])
    close = scores >= scores.max() - CANDIDATE_MARGIN
    candidates = close | close[::-1]  # a close key's parallel key is a candidate too
    candidates[:, list(bass_tonics)] = True
    return np.where(candidates, combined, -math.inf)


def detect_key_from_stems(
    key_mix: np.ndarray, sr: int, bass: np.ndarray | None = None, harmony: np.ndarray | None = None
) -> KeyEstimate | None:
    """The key of a song from its pitched stems mixed, re-ranked by its bass and its harmony.

    Args:
        key_mix: ``(frames,)`` the pitched stems mixed to mono (as for ``detect_key``).
        sr: the sample rate in Hz.
        bass: the bass stems mixed, or None when the song has none.
        harmony: the pitched stems other than the lead vocal mixed, or None to use ``key_mix``.

    Returns:
        Without a sounding bass, what ``detect_key`` returns. Otherwise the key of the best combined
        score, with the runner-up among the candidates; both confidences are combined scores
        (0.5 x correlation + 0.3 x tonic evidence + 0.2 x third evidence, clipped to 0-1). None when
        the mix is silent.
    """
    y = np.ascontiguousarray(key_mix, dtype=np.float32)
    if too_quiet_for_a_key(y, sr):
        return None
    profile, tuning = pitch_class_profile(y, sr)
    scores = key_scores(profile)
    evidence = bass_evidence(bass, sr, tuning) if bass is not None else None
    if evidence is None:
        return ranked_key(scores, tuning)
    if harmony is not None and np.any(harmony):
        harmony_profile = chroma_frames(np.ascontiguousarray(harmony, dtype=np.float32), sr, tuning)[0].sum(axis=1)
    else:
        harmony_profile = profile
    proposed = (int(np.argmax(evidence.whole)), int(np.argmax(evidence.final)))
    combined = combined_scores(scores, evidence.tonic_evidence(), third_evidence(harmony_profile), proposed)
    return ranked_key(combined, tuning)
