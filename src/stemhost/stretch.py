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


def stretch(audio: np.ndarray, sample_rate: int, settings: StretchSettings) -> np.ndarray:
    """Shift and stretch ``(channels, frames)`` audio; the result lasts exactly frames / tempo."""
    out = pedalboard.time_stretch(audio, sample_rate, **settings.pedalboard_kwargs())
    frames = round(audio.shape[1] / settings.tempo)
    if out.shape[1] >= frames:  # Rubber Band's length is off by a few hundred frames at most
        return np.ascontiguousarray(out[:, :frames])
    return np.pad(out, ((0, 0), (0, frames - out.shape[1])))


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
