"""Key and tempo: whole stems through Rubber Band's offline engine, ahead of playback, cached.

pedalboard's streaming ``PitchShift`` returns silence with ``reset=False`` (pedalboard #415), so
key and tempo changes are made here, on the whole stem, with Rubber Band R3 (see :func:`stretch`),
and the mix graph streams the result like any other file. Unpitched stems are only time-stretched,
never pitch-shifted; at tempo 1.0 they are not touched at all.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard
import soundfile

from stemhost import __version__
from stemhost.engine.cache import StemCache, source_hash
from stemhost.engine.sources import AudioInfo, probe, read_stem
from stemhost.engine.stretch_regions import MIN_GAP_S, PAD_S, REGIONS_VERSION, SILENT, stretch_sounding
from stemhost.errors import AudioFileError, warn
from stemhost.ownership import temporary_folder
from stemhost.session.model import VOCAL_ROLES, Session, Stem

COMPRESSED = (".mp3", ".ogg", ".flac")  # stems decoded into the cache once when a pack reads them many times
BACKGROUND_NICE = 10  # live playback's chunk renders yield the CPU to the audio
CORES = os.cpu_count() or 1
RENDER_SLOTS = threading.BoundedSemaphore(CORES)  # offline renders of regions at once: one per core


@dataclass(frozen=True)
class StretchSettings:
    """How one stem is shifted and stretched."""

    semitones: float
    tempo: float
    vocal: bool  # vocals keep their formants

    @property
    def is_identity(self) -> bool:
        return self.semitones == 0.0 and self.tempo == 1.0

    def rubberband_options(self, channels: int) -> list[str]:
        """Options of the ``rubberband`` command (R3 engine, offline).

        Instruments keep R3's default window: it keeps hits tight (``--window-short`` measured a drum
        hit 6 ms off the bass note on it, the default 3 ms).
        """
        options = ["--fine", "--quiet", "--ignore-clipping", f"--tempo={self.tempo!r}", f"--pitch={self.semitones!r}"]
        if self.vocal:
            options.append("--formant")
        if channels == 2:
            options.append("--centre-focus")
        return options

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


def engine() -> str:
    """Which Rubber Band does the work: the ``rubberband`` command (offline, exact timing) or pedalboard's."""
    return "rubberband" if shutil.which("rubberband") else "pedalboard"


def stretch(audio: np.ndarray, sample_rate: int, settings: StretchSettings, live: bool = False) -> np.ndarray:
    """Shift and stretch ``(channels, frames)`` audio; the result lasts exactly frames / tempo.

    The ``rubberband`` command (Debian's rubberband-cli) runs Rubber Band R3 in its true offline
    mode, which studies the whole stem first and keeps time exactly. ``pedalboard.time_stretch``
    (used when the command is missing, with a warning) runs it in real-time mode and drifts: its
    output keeps the requested length but its content runs up to 0.2 % fast or slow (measured:
    a shifted bass 40–50 ms away from unshifted drums after 30 s; 3 ms with the command).
    With live (chunks rendered while playing), the command runs at a lower priority than playback
    and with R3's short window: 2.4x faster (measured: 8 s of stereo noise in 0.68 s against 1.65 s),
    which a key change across many stems on two cores needs to stay ahead of playback.
    Only the stem's sounding regions are rendered (:mod:`stemhost.engine.stretch_regions`); offline,
    in runs on as many threads as cores, and never more renders at once than cores, whichever stems
    they belong to (the stems of a key change are prepared in parallel too).
    """

    def whole(part: np.ndarray) -> np.ndarray:
        with contextlib.nullcontext() if live else RENDER_SLOTS:
            if engine() == "rubberband":
                out = _rubberband_command(part, sample_rate, settings, live)
            else:
                _warn_drift()
                out = pedalboard.time_stretch(part, sample_rate, **settings.pedalboard_kwargs())
        total = round(part.shape[1] / settings.tempo)
        if out.shape[1] >= total:
            return np.ascontiguousarray(out[:, :total])
        return np.pad(out, ((0, 0), (0, total - out.shape[1])))

    return stretch_sounding(audio, sample_rate, settings.tempo, whole, groups=1 if live else CORES)


@functools.cache
def engine_version() -> str:
    """The engine and its version, part of every cache key."""
    if engine() == "rubberband":
        done = subprocess.run(["rubberband", "--version"], capture_output=True, text=True)
        return f"rubberband {(done.stdout or done.stderr).strip()}"
    return f"pedalboard {pedalboard.__version__} time_stretch"


def _rubberband_command(
    audio: np.ndarray, sample_rate: int, settings: StretchSettings, live: bool = False
) -> np.ndarray:
    with temporary_folder(Path(tempfile.gettempdir())) as folder:  # journaled: a killed run's goes next run
        source, result = folder / "in.wav", folder / "out.wav"
        soundfile.write(str(source), audio.T, sample_rate, subtype="FLOAT")
        fast = ["--window-short"] if live else []
        command = ["rubberband", *settings.rubberband_options(audio.shape[0]), *fast, str(source), str(result)]
        lower = (lambda: os.nice(BACKGROUND_NICE)) if live else None
        done = subprocess.run(command, capture_output=True, text=True, preexec_fn=lower)
        if done.returncode != 0:
            detail = (done.stderr.strip().splitlines() or ["no message"])[-1]
            raise AudioFileError(f"rubberband failed ({detail}); command: {' '.join(command[:-2])}")
        out, _ = soundfile.read(str(result), dtype="float32", always_2d=True)
    return np.ascontiguousarray(out.T)


@functools.cache
def _warn_drift() -> None:
    warn(
        "the rubberband command is missing, so key and tempo changes use pedalboard.time_stretch, "
        "whose timing drifts up to 0.2 % (install it: apt-get install rubberband-cli)"
    )


def cache_key(info: AudioInfo, settings: StretchSettings) -> str:
    """The cache entry of a stem at these settings: source content, settings, engine and version."""
    recipe = {
        "source": source_hash(info.path),
        "settings": settings.rubberband_options(info.channels) + [str(settings.pedalboard_kwargs())],
        "engine": engine_version(),
        "regions": [REGIONS_VERSION, SILENT, PAD_S, MIN_GAP_S],  # what is rendered, and how it is placed
        "stemhost": __version__,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:32]


def prepared_source(
    info: AudioInfo, settings: StretchSettings, where: str, cache: StemCache, decode: bool = False
) -> AudioInfo:
    """The file a stem is read from: its own, or its shifted and stretched version from the cache.

    With decode, a compressed stem (MP3, Ogg, FLAC) that is not moved is decoded into the cache once,
    for renders that read it many times (a pack of variants).
    """
    if settings.is_identity and not (decode and info.path.suffix.lower() in COMPRESSED):
        return info
    key = cache_key(info, settings)

    def build() -> tuple[np.ndarray, int]:
        audio, rate = read_stem(info.path, where)
        return (audio if settings.is_identity else stretch(audio, rate, settings)), rate

    return probe(cache.get_or_build(key, build), where)
