"""Session analysis: key, tempo, per-stem levels and the lead vocal's range.

librosa is imported lazily, inside the functions that need it (see ``backend``): importing this package
loads numpy, soundfile and soxr only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemhost.analysis.audio import ANALYSIS_RATE, StemFigures, measure_stem
from stemhost.analysis.grid import GridEstimate, estimate_grid
from stemhost.analysis.key import KeyEstimate, detect_key
from stemhost.analysis.key_stems import detect_key_from_stems
from stemhost.analysis.tempo import TempoEstimate, estimate_tempo, estimate_tempo_octave
from stemhost.analysis.vocal import SungNote, VocalRange, vocal_range
from stemhost.engine.compile import stem_path
from stemhost.session.model import UNPITCHED_ROLES, Session
from stemhost.steps import Steps

TEMPO_ROLES: tuple[str, ...] = ("drums", "percussion")
LEAD_ROLE = "lead_vocal"
BASS_ROLE = "bass"

__all__ = [
    "ANALYSIS_RATE",
    "GridEstimate",
    "KeyEstimate",
    "SessionAnalysis",
    "StemFigures",
    "SungNote",
    "TempoEstimate",
    "VocalRange",
    "analyze_session",
    "detect_key",
    "detect_key_from_stems",
    "estimate_grid",
    "estimate_tempo",
    "estimate_tempo_octave",
    "vocal_range",
]


@dataclass(frozen=True)
class SessionAnalysis:
    """What analysis found in a session's stem files (as recorded: before gain, mute, chains, key and tempo).

    Attributes:
        key: the key of the pitched stems mixed (None when there are none or they are silent), re-ranked
            by the bass stems' tonic and the harmony's third when there is a sounding bass stem (see
            ``key_stems``); its runner-up is the second key of the same ranking.
        key_stems: names of the stems the key was measured on: those whose ``is_pitched``, but never
            drums, percussion, click or fx (even marked pitched).
        tempo_bpm: BPM between 68 and 272, or from 56 for a compound metre read in dotted quarters (None
            when the audio has no beat to find).
        tempo_stems: names of the stems the tempo was measured on: the drums and percussion stems when
            there are any and they have a beat, else every stem.
        stems: level figures of every stem, in session order.
        lead_vocal: the range of the lead vocal stems mixed; None when there is no lead_vocal stem or it
            holds no sung note of 150 ms or more.
        lead_vocal_stems: names of the stems with role ``lead_vocal`` (empty when there is none).
        duration_s: the longest stem's length in seconds.
        tempo_alternative_bpm: the other octave weighed against ``tempo_bpm`` (half or twice it).
        key_bass_stems: names of the pitched stems with role ``bass`` whose notes weighed in the key (empty
            when there is none or they are silent).
        time_signature: the metre the grid found (``"4/4"``, ``"3/4"`` or ``"6/8"``; None without a tempo).
        first_downbeat_s: seconds of the recording where bar 1 begins (None without a tempo).
        beat_bpm: the grid's beat a minute (dotted quarters in 6/8), fitted to the onsets of the tempo
            stems: finer than ``tempo_bpm``, and what ``analyze --apply`` writes as ``bpm``.
        downbeat_confidence: 0-1, how clearly bar 1 stands out from the other beats of the bar.
        metre_confidence: 0-1, how clearly the metre stands out from the others.
    """

    key: KeyEstimate | None
    key_stems: tuple[str, ...]
    tempo_bpm: float | None
    tempo_stems: tuple[str, ...]
    stems: tuple[StemFigures, ...]
    lead_vocal: VocalRange | None
    lead_vocal_stems: tuple[str, ...]
    duration_s: float
    tempo_alternative_bpm: float | None = None
    key_bass_stems: tuple[str, ...] = ()
    time_signature: str | None = None
    first_downbeat_s: float | None = None
    beat_bpm: float | None = None
    downbeat_confidence: float | None = None
    metre_confidence: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready: plain dicts, lists, strings and numbers; None for what was not found."""
        return {
            "key": self.key.to_dict() if self.key else None,
            "key_stems": list(self.key_stems),
            "key_bass_stems": list(self.key_bass_stems),
            "tempo_bpm": _round(self.tempo_bpm, 2),
            "tempo_alternative_bpm": _round(self.tempo_alternative_bpm, 2),
            "tempo_stems": list(self.tempo_stems),
            "time_signature": self.time_signature,
            "first_downbeat_s": _round(self.first_downbeat_s, 3),
            "beat_bpm": _round(self.beat_bpm, 2),
            "downbeat_confidence": _round(self.downbeat_confidence, 2),
            "metre_confidence": _round(self.metre_confidence, 2),
            "duration_s": round(self.duration_s, 3),
            "stems": [figures.to_dict() for figures in self.stems],
            "lead_vocal": self.lead_vocal.to_dict((self.key.tonic, self.key.mode) if self.key else None)
            if self.lead_vocal
            else None,
            "lead_vocal_stems": list(self.lead_vocal_stems),
        }


def analyze_session(
    session: Session, session_path: Path, progress: Callable[[str], None] | None = None
) -> SessionAnalysis:
    """Measure a session's stems: levels of each, key, tempo and the lead vocal's range.

    Every stem file is read once, front to back, as recorded: mute, solo, gain, chains and the session's
    key and tempo changes are ignored (a muted lead vocal is still the song's melody). Stems are mixed
    to mono at 22.05 kHz: the pitched ones for the key (the bass stems and the pitched stems other than
    the lead vocal also apart, for the tonic and the mode), the drums and percussion for the tempo (all
    stems when there are none or they have no beat), the pitched stems other than the bass and lead vocal for
    where the grid's chords change, the lead vocals for the range.

    Args:
        session: a validated session.
        session_path: the session file; relative stem paths start from its folder.
        progress: called with a short message (``"reading bass"``, ``"key"``) before each step.

    Raises:
        AudioFileError: a stem file is missing, unreadable, empty or holds NaN or inf.
    """
    parts = [f"reading {stem.name}" for stem in session.stems] + ["key", "tempo", "lead vocal range"]
    with Steps(f"analysing {session_path.name}", [(part, 0.0) for part in parts]) as steps:

        def say(message: str) -> None:
            if progress is not None:
                progress(message)
            steps.next(message)

        return _analyze(session, session_path, say)


def _analyze(session: Session, session_path: Path, say: Callable[[str], None]) -> SessionAnalysis:
    key_mix, rhythm_mix, full_mix, lead_mix = _Mix(), _Mix(), _Mix(), _Mix()
    bass_mix, harmony_mix, chords_mix = _Mix(), _Mix(), _Mix()
    figures = []
    for i, stem in enumerate(session.stems):
        say(f"reading {stem.name}")
        where = f"{session_path.name}: stems[{i}].file"
        path = stem_path(session_path, stem.file, where)  # an absolute file replaces the folder
        measured, mono = measure_stem(path, where, stem.name, stem.role)
        figures.append(measured)
        if stem.is_pitched and stem.role not in UNPITCHED_ROLES:
            key_mix.add(stem.name, mono)
            if stem.role == BASS_ROLE:
                bass_mix.add(stem.name, mono)
            if stem.role != LEAD_ROLE:
                harmony_mix.add(stem.name, mono)
                if stem.role != BASS_ROLE:
                    chords_mix.add(stem.name, mono)
        if stem.role in TEMPO_ROLES:
            rhythm_mix.add(stem.name, mono)
        full_mix.add(stem.name, mono)
        if stem.role == LEAD_ROLE:
            lead_mix.add(stem.name, mono)
    say("key")
    key = None
    if key_mix.names:
        bass = bass_mix.audio if bass_mix.names else None
        harmony = harmony_mix.audio if harmony_mix.names else None
        key = detect_key_from_stems(key_mix.audio, ANALYSIS_RATE, bass, harmony)
    bass_mix_names = bass_mix.names if key is not None and np.any(bass_mix.audio) else []
    del bass_mix, harmony_mix
    say("tempo")
    tempo_stems = tuple(rhythm_mix.names)
    tempo = estimate_tempo_octave(rhythm_mix.audio, ANALYSIS_RATE) if rhythm_mix.names else None
    rhythm = rhythm_mix.audio
    if tempo is None:  # no drums, or drums without a beat (a count-in, a cymbal swell)
        tempo_stems = tuple(full_mix.names)
        rhythm = full_mix.audio
        tempo = estimate_tempo_octave(rhythm, ANALYSIS_RATE)
    harmony = next((mix.audio for mix in (chords_mix, key_mix) if mix.names and np.any(mix.audio)), None)
    grid = estimate_grid(rhythm, ANALYSIS_RATE, tempo, harmony) if tempo else None
    del full_mix, rhythm_mix, chords_mix, rhythm, harmony
    say("lead vocal range")
    lead = vocal_range(lead_mix.audio, ANALYSIS_RATE) if lead_mix.names else None
    return SessionAnalysis(
        key=key,
        key_stems=tuple(key_mix.names),
        tempo_bpm=tempo.bpm if tempo else None,
        tempo_stems=tempo_stems,
        stems=tuple(figures),
        lead_vocal=lead,
        lead_vocal_stems=tuple(lead_mix.names),
        duration_s=max(f.duration_s for f in figures),
        tempo_alternative_bpm=tempo.alternative_bpm if tempo else None,
        key_bass_stems=tuple(bass_mix_names),
        time_signature=grid.time_signature if grid else None,
        first_downbeat_s=grid.first_downbeat_s if grid else None,
        beat_bpm=grid.bpm if grid else None,
        downbeat_confidence=grid.downbeat_confidence if grid else None,
        metre_confidence=grid.metre_confidence if grid else None,
    )


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


class _Mix:
    """A growing mono sum of stems of any lengths."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.audio = np.zeros(0, np.float32)

    def add(self, name: str, mono: np.ndarray) -> None:
        self.names.append(name)
        if mono.size > self.audio.size:
            self.audio = np.concatenate([self.audio, np.zeros(mono.size - self.audio.size, np.float32)])
        self.audio[: mono.size] += mono
