"""A spoken count-in: the beats' numbers ("one", "two", …) said by flite's ``slt`` voice, each on its beat.

flite (Debian's ``flite``, installed by ``scripts/install``) says each number into a temporary WAV file at 16 kHz;
only the fixed words below are ever passed to it. A word is trimmed to its onset (the first frame within 20 dB of
its peak, which is where a listener hears it start: the vowel of "six" rather than its "s"), resampled to the
session's rate with soxr, set to the click's level and cut to 90 % of a beat with a fade, so it never runs into the
next number. :func:`spoken_count` returns each word with the frames it starts before its onset (a short pre-roll),
so the click places the onset on the beat's frame.

flite speaks a number at its own pace, about 0.3–0.6 s; at a faster tempo it is asked to speak faster
(``duration_stretch``, down to half its length) so the word fits the beat.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import soxr

from stemhost.errors import SessionError

WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")
VOICE = "slt"
ONSET_DB = -20.0  # a word starts at its first frame this close to its peak
PRE_S = 0.004  # kept before the onset, so the attack is whole
FIT = 0.9  # of a beat: the longest a word may be
FADE_S = 0.01  # the fade at a cut word's end
FASTEST = 0.5  # flite's duration_stretch at the most


def spoken_count(beats: int, sample_rate: int, beat_seconds: float, peak: float) -> list[tuple[np.ndarray, int]]:
    """The numbers one to ``beats`` (at most 12) as ``(word (n,) float32, pre-roll frames)`` at ``peak`` level.

    Args:
        beats: how many numbers (a bar's beats).
        sample_rate: the session's rate, Hz.
        beat_seconds: one beat of the count-in, in output seconds (the tempo applied).
        peak: each word's peak, linear.
    """
    if not 1 <= beats <= len(WORDS):
        raise SessionError(f"click.spoken: a spoken count-in counts 1 to {len(WORDS)} beats a bar, not {beats}")
    return [_word(word, sample_rate, round(beat_seconds, 4), peak) for word in WORDS[:beats]]


@functools.lru_cache(maxsize=64)
def _word(word: str, sample_rate: int, beat_seconds: float, peak: float) -> tuple[np.ndarray, int]:
    audio, rate = _say(word, 1.0)
    onset, end = _span(audio)
    longest = FIT * beat_seconds
    if (end - onset) / rate > longest:  # said too slowly for this tempo: ask for it faster
        audio, rate = _say(word, max(FASTEST, longest / ((end - onset) / rate)))
        onset, end = _span(audio)
    start = max(0, onset - round(PRE_S * rate))
    audio = soxr.resample(audio[start:end], rate, sample_rate, quality="VHQ").astype(np.float32)
    audio *= peak / max(float(np.max(np.abs(audio))), 1e-9)
    keep = min(len(audio), round(longest * sample_rate))
    fade = min(keep, round(FADE_S * sample_rate))
    audio = audio[:keep]
    audio[keep - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    audio.flags.writeable = False
    return audio, round((onset - start) * sample_rate / rate)


def _span(audio: np.ndarray) -> tuple[int, int]:
    """The word's first and past-last frames within ONSET_DB of its peak."""
    loud = np.flatnonzero(np.abs(audio) >= np.max(np.abs(audio)) * 10 ** (ONSET_DB / 20))
    return int(loud[0]), int(loud[-1]) + 1


def need_flite(label: str = "session") -> str:
    """flite's path, or a SessionError naming ``label`` and the fix."""
    flite = shutil.which("flite")
    if flite is None:
        raise SessionError(
            f"{label}: click.spoken: a spoken count-in needs the flite speech synthesizer; install it "
            "(scripts/install does: apt-get install flite) or remove 'spoken'"
        )
    return flite


def _say(word: str, stretch: float) -> tuple[np.ndarray, int]:
    """flite's rendering of one of WORDS, mono float64, and its rate."""
    flite = need_flite()
    with tempfile.TemporaryDirectory(prefix="stemhost-count-") as folder:
        path = Path(folder) / "word.wav"
        command = [flite, "-voice", VOICE, "--setf", f"duration_stretch={stretch:.3f}", "-t", word, "-o", str(path)]
        done = subprocess.run(command, capture_output=True, timeout=30)
        if done.returncode != 0 or not path.exists():
            raise SessionError(f"click.spoken: flite could not say {word!r}: {done.stderr.decode(errors='replace')}")
        audio, rate = soundfile.read(path, dtype="float64", always_2d=True)
    return audio[:, 0], rate
