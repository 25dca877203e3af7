"""Key and tempo: whole stems through Rubber Band's offline engine, ahead of playback, cached.

pedalboard's streaming ``PitchShift`` returns silence with ``reset=False`` (pedalboard #415), so
key and tempo changes are made here, on the whole stem, with ``pedalboard.time_stretch`` (Rubber
Band R3, high quality), and the mix graph streams the result like any other file. Unpitched stems
are only time-stretched, never pitch-shifted; at tempo 1.0 they are not touched at all.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pedalboard

from stemhost import __version__
from stemhost.cache import StemCache
from stemhost.model import VOCAL_ROLES, Session, Stem
from stemhost.sources import AudioInfo, check_finite, open_reader, probe


@dataclass(frozen=True)
class StretchSettings:
    """How one stem is shifted and stretched."""

    semitones: float
    tempo: float
    vocal: bool  # vocals keep their formants; instruments keep crisp transients

    @property
    def is_identity(self) -> bool:
        return self.semitones == 0.0 and self.tempo == 1.0

    def pedalboard_kwargs(self) -> dict:
        return {
            "stretch_factor": self.tempo,
            "pitch_shift_in_semitones": self.semitones,
            "high_quality": True,
            "transient_mode": "smooth" if self.vocal else "crisp",
            "preserve_formants": self.vocal,
        }


def stem_settings(session: Session, stem: Stem) -> StretchSettings:
    """The key shift and tempo a stem is rendered at."""
    return StretchSettings(session.stem_shift(stem), session.tempo, stem.role in VOCAL_ROLES)


SEGMENT_S = 0.5  # stretched separately, each pinned to its exact place in time
CONTEXT_S = 0.2  # audio either side of a segment that primes Rubber Band and is then dropped
CROSSFADE_S = 0.01  # between neighbouring segments


def stretch(audio: np.ndarray, sample_rate: int, settings: StretchSettings) -> np.ndarray:
    """Shift and stretch ``(channels, frames)`` audio; the result lasts exactly frames / tempo.

    pedalboard's time_stretch drifts: its output keeps the requested length, but the content runs
    up to 0.2 % fast or slow (measured: 40–50 ms late or early after 30 s, differently for each key
    and tempo), which would pull a shifted bass away from the unshifted drums. So the audio goes
    through in half-second segments, each with 0.2 s of context either side, each placed at its
    exact time and crossfaded into its neighbours over 10 ms. The drift then stays within a segment
    (measured over 30 s at seven tempo/key pairs: a drum hit and the bass note on it at most 4.5 ms
    apart; with one-second segments 5.5 ms). It costs three to four times a single call.
    """
    frames = audio.shape[1]
    total = round(frames / settings.tempo)
    segment, context = round(SEGMENT_S * sample_rate), round(CONTEXT_S * sample_rate)
    fade = round(CROSSFADE_S * sample_rate / settings.tempo)
    out = np.zeros((audio.shape[0], total + 2 * fade), np.float32)  # fade frames of margin either side
    for start in range(0, frames, segment):
        lo, hi = max(0, start - context), min(frames, start + segment + context)
        piece = pedalboard.time_stretch(audio[:, lo:hi], sample_rate, **settings.pedalboard_kwargs())
        first, last = round(start / settings.tempo), round(min(start + segment, frames) / settings.tempo)
        begin, end = max(0, first - fade), min(total, last + fade)  # the part kept, in output frames
        offset = round(lo / settings.tempo)
        kept = piece[:, begin - offset : end - offset]
        gain = np.ones(kept.shape[1], np.float32)
        if start > 0:
            ramp = min(2 * fade, kept.shape[1])
            gain[:ramp] = np.linspace(0.0, 1.0, ramp, endpoint=False) + 0.5 / ramp
        if start + segment < frames:
            ramp = min(2 * fade, kept.shape[1])
            gain[-ramp:] *= np.linspace(1.0, 0.0, ramp, endpoint=False) - 0.5 / ramp
        out[:, fade + begin : fade + begin + kept.shape[1]] += kept * gain
    return np.ascontiguousarray(out[:, fade : fade + total])


def prepared_source(info: AudioInfo, settings: StretchSettings, where: str, cache: StemCache) -> AudioInfo:
    """The file a stem is read from: its own, or its shifted and stretched version from the cache."""
    if settings.is_identity:
        return info
    recipe = {
        "source": cache.source_hash(info.path),
        "settings": settings.pedalboard_kwargs(),
        "engine": f"pedalboard {pedalboard.__version__} time_stretch",
        "stemhost": __version__,
    }
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:32]

    def build() -> tuple[np.ndarray, int]:
        reader = open_reader(info.path)
        try:
            audio = reader.read(info.frames)
        finally:
            reader.close()
        check_finite(audio, 0, info.sample_rate, f"{where}: {str(info.path)!r}")
        return stretch(audio, info.sample_rate, settings), info.sample_rate

    return probe(cache.get_or_build(key, build), where)
