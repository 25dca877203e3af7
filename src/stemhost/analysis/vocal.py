"""The sung range of a lead vocal: pYIN pitch, octave-error repair, note segmentation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from stemhost.analysis.audio import window_levels_db
from stemhost.analysis.backend import load_librosa
from stemhost.session.notes import note_name

LOWEST_HZ = 60.0  # B1: pYIN's search range, wide enough for a bass's low notes ...
HIGHEST_HZ = 1400.0  # F6: ... and a soprano's high ones
# pYIN's cost is its Viterbi pass over (pitch bins x 2)^2 states a frame. Measured on 692 s of vocals (13 takes):
# 0.25-semitone bins and 23 ms frames take 1.8 s a minute of audio; 11.6 ms frames 3.6 s; librosa's default
# 0.1-semitone bins about 6x more. Lowest and highest notes came out the same (within 0.01 semitone) in all.
RESOLUTION = 0.25  # semitones per pYIN pitch bin
HOP_S = 0.0232  # seconds between pitch frames (512 samples at 22.05 kHz); frames are 4 hops (93 ms) long
GATE_DB = -50.0  # dBFS: pYIN runs only on 100 ms windows louder than this (plus 100 ms either side)
MIN_NOTE_S = 0.15  # seconds: shorter notes are blips (glides, consonants, pitch-tracker errors) and ignored
OCTAVE_WINDOW_S = 0.31  # seconds: frames an octave off the median of this window are moved back
NEW_NOTE_SEMITONES = 0.8  # a pitch this far from the current note's median starts a new note ...
NEW_NOTE_S = 0.04  # ... when it stays there this long
TESSITURA_PERCENTILES = (10.0, 90.0)  # the middle 80 % of sung time


@dataclass(frozen=True)
class SungNote:
    """One sung note: start and length in seconds, pitch as the median MIDI number of its frames."""

    start_s: float
    duration_s: float
    midi: float


@dataclass(frozen=True)
class VocalRange:
    """Where a vocal line lies.

    Attributes:
        low_midi: the lowest sung note (median pitch of that note, MIDI number).
        high_midi: the highest sung note.
        tessitura_low_midi: 10th percentile of sung pitch, weighted by time.
        tessitura_high_midi: 90th percentile: the middle 80 % of sung time lies between the two.
        histogram: sung seconds per note (nearest MIDI number → seconds).
        sung_s: seconds of sung notes counted (blips excluded).
        notes: the sung notes counted, in time order.
    """

    low_midi: float
    high_midi: float
    tessitura_low_midi: float
    tessitura_high_midi: float
    histogram: dict[int, float]
    sung_s: float
    notes: tuple[SungNote, ...] = field(repr=False, default=())

    @property
    def low_note(self) -> str:
        """The lowest note's name, e.g. ``'A2'``."""
        return note_name(self.low_midi)

    @property
    def high_note(self) -> str:
        """The highest note's name."""
        return note_name(self.high_midi)

    def to_dict(self, key: tuple[int, str] | None = None) -> dict:
        """JSON-ready fields; the histogram as a list of ``{midi, note, seconds}`` from low to high; note names
        spelled in the key's accidentals (tonic pitch class, mode), sharps with no key."""
        return {
            "low_midi": round(self.low_midi, 2),
            "low_note": note_name(self.low_midi, key),
            "high_midi": round(self.high_midi, 2),
            "high_note": note_name(self.high_midi, key),
            "tessitura_low_midi": round(self.tessitura_low_midi, 2),
            "tessitura_low_note": note_name(self.tessitura_low_midi, key),
            "tessitura_high_midi": round(self.tessitura_high_midi, 2),
            "tessitura_high_note": note_name(self.tessitura_high_midi, key),
            "sung_s": round(self.sung_s, 3),
            "note_count": len(self.notes),
            "histogram": [
                {"midi": midi, "note": note_name(midi, key), "seconds": round(seconds, 3)}
                for midi, seconds in sorted(self.histogram.items())
            ],
        }


def vocal_range(audio_mono: np.ndarray, sr: int) -> VocalRange | None:
    """The range of a (solo) vocal line.

    pYIN (librosa) tracks the pitch of the passages above -50 dBFS; frames an octave away from the median
    of the surrounding 0.31 s are moved back by the octave (pitch-tracker octave errors); the voiced
    frames are split into notes where the pitch moves 0.8 semitone from the note's median for 40 ms;
    notes shorter than 150 ms are dropped.

    Args:
        audio_mono: ``(frames,)`` float samples, best at 22.05 kHz.
        sr: its sample rate in Hz.

    Returns:
        The range, or None when no note of 150 ms or more is sung (silence, noise, unpitched audio).
    """
    y = np.ascontiguousarray(audio_mono, dtype=np.float32)
    hop = 2 ** round(math.log2(HOP_S * sr))
    frame_length = 4 * hop
    notes: list[SungNote] = []
    for start, stop in active_regions(y, sr):
        if stop - start < frame_length:
            continue
        pitch = pitch_track(y[start:stop], sr, hop, frame_length)
        notes += segment_notes(pitch, hop / sr, start / sr)
    return summarize(notes)


def pitch_track(y: np.ndarray, sr: int, hop: int, frame_length: int) -> np.ndarray:
    """pYIN's pitch per frame as MIDI numbers, NaN where unvoiced."""
    librosa = load_librosa()
    f0, voiced, _ = librosa.pyin(
        y,
        fmin=LOWEST_HZ,
        fmax=HIGHEST_HZ,
        sr=sr,
        frame_length=frame_length,
        hop_length=hop,
        resolution=RESOLUTION,
    )
    midi = np.full(f0.shape, np.nan)
    ok = voiced & np.isfinite(f0) & (f0 > 0)
    midi[ok] = 69.0 + 12.0 * np.log2(f0[ok] / 440.0)
    return midi


def active_regions(y: np.ndarray, sr: int, pad_s: float = 0.1, gap_s: float = 0.3) -> list[tuple[int, int]]:
    """Sample ranges ``(start, stop)`` of 100 ms windows above -50 dBFS, padded, joined across short gaps."""
    window = max(1, round(0.1 * sr))
    active = window_levels_db(y, sr) > GATE_DB
    regions: list[tuple[int, int]] = []
    pad, gap = round(pad_s * sr), round(gap_s * sr)
    for i in np.flatnonzero(active):
        start, stop = max(0, i * window - pad), min(y.size, (i + 1) * window + pad)
        if regions and start - regions[-1][1] <= gap:
            regions[-1] = (regions[-1][0], stop)
        else:
            regions.append((start, stop))
    return regions


def segment_notes(pitch: np.ndarray, hop_s: float, offset_s: float = 0.0) -> list[SungNote]:
    """Notes of 150 ms or more from a pitch track.

    Args:
        pitch: MIDI number per frame, NaN where unvoiced.
        hop_s: seconds between frames.
        offset_s: the time of the first frame, added to every note's start.
    """
    notes = []
    voiced = np.isfinite(pitch)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]])))
    for run_start, run_stop in zip(edges[::2], edges[1::2], strict=True):
        run = fix_octave_errors(pitch[run_start:run_stop], hop_s)
        for a, b in _split_notes(run, max(1, round(NEW_NOTE_S / hop_s))):
            if (b - a) * hop_s >= MIN_NOTE_S:
                start_s = offset_s + (run_start + a) * hop_s
                notes.append(SungNote(start_s, (b - a) * hop_s, float(np.median(run[a:b]))))
    return notes


def fix_octave_errors(run: np.ndarray, hop_s: float) -> np.ndarray:
    """Move frames back by an octave where they sit 12 ± 1.5 semitones off the median around them."""
    from scipy.ndimage import median_filter

    size = max(3, round(OCTAVE_WINDOW_S / hop_s) | 1)
    local = median_filter(run, size=size, mode="nearest")
    fixed = run.copy()
    off = run - local
    fixed[np.abs(off - 12.0) < 1.5] -= 12.0
    fixed[np.abs(off + 12.0) < 1.5] += 12.0
    return fixed


def _split_notes(run: np.ndarray, persist: int) -> list[tuple[int, int]]:
    """Frame ranges of the notes in a voiced run: a new note starts where the pitch leaves the
    current note's median by more than 0.8 semitone for ``persist`` frames."""
    bounds, start, i = [], 0, 1
    while i < run.size:
        ref = float(np.median(run[start:i]))
        if abs(run[i] - ref) <= NEW_NOTE_SEMITONES:
            i += 1
            continue
        j = i
        while j < run.size and j - i < persist and abs(run[j] - ref) > NEW_NOTE_SEMITONES:
            j += 1
        if j - i >= persist or j == run.size:
            bounds.append((start, i))
            start = i
            i += 1
        else:
            i = j  # a brief excursion stays in the note
    bounds.append((start, run.size))
    return bounds


def summarize(notes: list[SungNote]) -> VocalRange | None:
    """Range, tessitura and histogram of sung notes; None when there are none."""
    if not notes:
        return None
    histogram: dict[int, float] = {}
    for note in notes:
        key = math.floor(note.midi + 0.5)
        histogram[key] = histogram.get(key, 0.0) + note.duration_s
    pitches = np.array([n.midi for n in notes])
    weights = np.array([n.duration_s for n in notes])
    low, high = _weighted_percentiles(pitches, weights, TESSITURA_PERCENTILES)
    return VocalRange(
        low_midi=float(pitches.min()),
        high_midi=float(pitches.max()),
        tessitura_low_midi=low,
        tessitura_high_midi=high,
        histogram=histogram,
        sung_s=float(weights.sum()),
        notes=tuple(notes),
    )


def _weighted_percentiles(values: np.ndarray, weights: np.ndarray, percents: tuple[float, ...]) -> tuple[float, ...]:
    """Percentiles of values weighted by time: the value below which that share of the weight lies."""
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    cumulative /= cumulative[-1]
    return tuple(float(values[order][np.searchsorted(cumulative, p / 100.0)]) for p in percents)
