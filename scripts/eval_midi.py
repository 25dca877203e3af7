"""What the evaluation-set builders share: set-up, MIDI writing, FluidSynth rendering and checks.

scripts/make_eval_set.py (Bach chorales) and scripts/make_eval_styles.py (generated songs in other
styles) both write each part as a MIDI file with mido, render it with FluidSynth and the FluidR3
General MIDI soundfont, pad the stems to one length and check them (see eval/README.md).

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
APT_PACKAGES = ("fluidsynth", "fluid-soundfont-gm")
PIP_ANY = {"numpy": "numpy", "soundfile": "soundfile"}  # stemhost's venv has them already
SR = 48_000
PPQ = 480
TAIL_SECONDS = 2.0


@dataclass
class Note:
    start: float  # beats (quarter notes in the chorales)
    end: float
    pitch: int
    velocity: int = 0  # 0: the part's velocity


class Timing(Protocol):
    """What writing a MIDI file needs of a song: its tempo (BPM of the beat the times count), metre and length."""

    tempo: float
    metre: str
    length: float  # beats

    def seconds(self, beats: float) -> float: ...


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def setup(pip_packages: dict[str, str]) -> None:
    """Install what building a set needs, if it is missing: FluidSynth and its General MIDI soundfont
    with apt-get (as root), and ``pip_packages`` ({module: requirement}; a pinned music21 must have its
    version, since its corpus is version-bound) with pip into the running interpreter."""
    if shutil.which("fluidsynth") is None or not SOUNDFONT.is_file():
        if os.geteuid() != 0:
            sys.exit(f"error: needs {' '.join(APT_PACKAGES)}: run  sudo apt-get install -y {' '.join(APT_PACKAGES)}")
        log(f"set-up: apt-get install {' '.join(APT_PACKAGES)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *APT_PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL
        )
    missing = []
    for module, requirement in pip_packages.items():
        try:
            mod = importlib.import_module(module)
        except ImportError:
            missing.append(requirement)
            continue
        want = requirement.split("==")[1]
        have = getattr(mod, "__version__", None) or getattr(getattr(mod, "version", None), "__version__", None)
        if module == "music21" and str(have) != want:
            missing.append(requirement)  # another corpus version may lack or change a chorale
    for module, requirement in PIP_ANY.items():
        if importlib.util.find_spec(module) is None:
            missing.append(requirement)
    if missing:
        log(f"set-up: pip install {' '.join(missing)}")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
        importlib.invalidate_caches()


def write_midi(path: Path, song: Timing, program: int, notes: list[Note], velocity: int) -> None:
    """One part on MIDI channel 1: each note at its own velocity, or ``velocity``."""
    import mido

    events: list[tuple[int, int, mido.Message]] = []  # (tick, order: offs first, message)
    for n in notes:
        on, off = round(n.start * PPQ), round(n.end * PPQ)
        if off <= on:
            continue
        loud = n.velocity or velocity
        events.append((on, 1, mido.Message("note_on", channel=0, note=n.pitch, velocity=loud)))
        events.append((off, 0, mido.Message("note_off", channel=0, note=n.pitch, velocity=0)))
    _write(path, song, [mido.Message("program_change", channel=0, program=program)], events)


def write_drum_midi(path: Path, song: Timing, hits: list[tuple[float, int, int]]) -> None:
    """Drum hits (beat time, GM drum note, velocity) on MIDI channel 10."""
    import mido

    events = []
    for t, note, velocity in hits:
        tick = round(t * PPQ)
        events.append((tick, 1, mido.Message("note_on", channel=9, note=note, velocity=velocity)))
        events.append((tick + PPQ // 8, 0, mido.Message("note_off", channel=9, note=note, velocity=0)))
    _write(path, song, [mido.Message("program_change", channel=9, program=0)], events)


def _write(path: Path, song: Timing, head: list, events: list) -> None:
    import mido

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(song.tempo), time=0))
    num, den = (int(x) for x in song.metre.split("/"))
    track.append(mido.MetaMessage("time_signature", numerator=num, denominator=den, time=0))
    track.extend(head)
    now = 0
    for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(msg.copy(time=tick - now))
        now = tick
    end = round(song.length * PPQ)
    track.append(mido.MetaMessage("end_of_track", time=max(0, end - now)))
    midi = mido.MidiFile(ticks_per_beat=PPQ)
    midi.tracks.append(track)
    midi.save(path)


def render(midi: Path, wav: Path) -> None:
    """FluidSynth renders a MIDI file with FluidR3_GM: 48 kHz, 16-bit stereo WAV, gain 0.5."""
    subprocess.run(
        [
            "fluidsynth",
            "-ni",
            "-q",
            "-g",
            "0.5",
            "-r",
            str(SR),
            "-O",
            "s16",
            "-T",
            "wav",
            "-F",
            str(wav),
            str(SOUNDFONT),
            str(midi),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def render_stems(
    folder: Path,
    song: Timing,
    stems: list[tuple[str, str, int]],
    notes: dict[str, list[Note]],
    velocity: dict[str, int],
    hits: list[tuple[float, int, int]],
) -> float:
    """Render a song into a fresh folder: a WAV per stem (name, role, GM program; ``drums`` from ``hits``),
    all of one length (``finish_stems``), and a ``session.json`` naming them. Returns the length in s."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="stemhost-eval-") as tmp:
        for name, _role, program in stems:
            midi = Path(tmp) / f"{name}.mid"
            if name == "drums":
                write_drum_midi(midi, song, hits)
            else:
                write_midi(midi, song, program, notes[name], velocity[name])
            render(midi, folder / f"{name}.wav")
    # equal lengths: the song plus a tail, every stem padded or cut to it
    duration = finish_stems(folder, [name for name, _, _ in stems], song.seconds(song.length))
    session = {"stems": [{"name": name, "file": f"{name}.wav", "role": role} for name, role, _ in stems]}
    (folder / "session.json").write_text(json.dumps(session, indent=2) + "\n")
    return duration


def finish_stems(folder: Path, names: list[str], seconds: float) -> float:
    """Pad or cut every rendered stem to ``seconds`` plus the tail, with a 50 ms fade at the end; the length in s."""
    import numpy as np
    import soundfile as sf

    frames = int(round((seconds + TAIL_SECONDS) * SR))
    for name in names:
        path = folder / f"{name}.wav"
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        assert rate == SR, rate
        if len(audio) < frames:
            audio = np.concatenate([audio, np.zeros((frames - len(audio), audio.shape[1]), np.float32)])
        audio = audio[:frames]
        fade = int(0.05 * SR)
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
        sf.write(path, audio, SR, subtype="PCM_16")
    return round(frames / SR, 3)


def f0_autocorrelation(x, rate: int, fmin: float = 60.0, fmax: float = 1100.0) -> float:
    """The fundamental of a steady tone by normalised autocorrelation (the first strong peak)."""
    import numpy as np

    x = x - x.mean()
    n = len(x)
    spec = np.fft.rfft(x * np.hanning(n), 2 * n)
    ac = np.fft.irfft(np.abs(spec) ** 2)[:n]
    if ac[0] <= 0:
        return 0.0
    ac = ac / ac[0]
    lo, hi = int(rate / fmax), min(int(rate / fmin), n - 2)
    seg = ac[lo:hi]
    best = float(seg.max())
    # the first peak within 10 % of the best one avoids octave-down picks
    peaks = [
        i for i in range(1, len(seg) - 1) if seg[i] >= seg[i - 1] and seg[i] >= seg[i + 1] and seg[i] >= 0.9 * best
    ]
    i = peaks[0] if peaks else int(seg.argmax())
    if 0 < i < len(seg) - 1:  # parabolic interpolation
        a, b, c = seg[i - 1], seg[i], seg[i + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    else:
        shift = 0.0
    return rate / (lo + i + shift)


def check_song(folder: Path, lead: list[tuple[float, float, int]] | None = None) -> list[str]:
    """Problems with one built song: silent stems, unequal lengths, clipping, a lead off pitch."""
    import numpy as np
    import soundfile as sf

    problems: list[str] = []
    session = json.loads((folder / "session.json").read_text())
    truth = json.loads((folder / "truth.json").read_text())
    lengths = set()
    audio_by_name = {}
    for stem in session["stems"]:
        path = folder / stem["file"]
        if not path.is_file():
            problems.append(f"{stem['file']}: missing")
            continue
        audio, rate = sf.read(path, dtype="float32", always_2d=True)
        lengths.add(len(audio))
        audio_by_name[stem["name"]] = audio
        rms_db = 20 * math.log10(float(np.sqrt(np.mean(audio**2))) + 1e-12)
        peak = float(np.abs(audio).max())
        if rate != SR:
            problems.append(f"{stem['file']}: {rate} Hz")
        if rms_db < -45:
            problems.append(f"{stem['file']}: nearly silent ({rms_db:.1f} dBFS RMS)")
        if peak >= 0.999:
            problems.append(f"{stem['file']}: clips (peak {peak:.3f})")
        # no long silent stretch inside the song (1 s windows), except at the tail
        mono = audio.mean(axis=1)
        window = SR
        body = mono[: max(window, len(mono) - int(TAIL_SECONDS * SR))]
        quiet = sum(
            1
            for k in range(0, len(body) - window + 1, window)
            if float(np.sqrt(np.mean(body[k : k + window] ** 2))) < 1e-4
        )
        if quiet > 0.25 * len(body) / window:  # rests are music; a stem silent this long is a broken render
            problems.append(f"{stem['file']}: {quiet} of {len(body) // window} seconds silent")
    if len(lengths) > 1:
        problems.append(f"stems differ in length: {sorted(lengths)}")
    if lead is not None and "lead_vocal" in audio_by_name:
        mono = audio_by_name["lead_vocal"].mean(axis=1)
        candidates = [n for n in lead if n[1] - n[0] >= 0.4]
        candidates = candidates[:: max(1, len(candidates) // 6)][:6]
        errors = []
        for start, end, pitch in candidates:
            a = int((start + 0.12) * SR)
            b = int(min(end - 0.05, start + 0.45) * SR)
            if b - a < int(0.1 * SR):
                continue
            f0 = f0_autocorrelation(mono[a:b], SR)
            if f0 <= 0:
                errors.append(9999.0)
                continue
            want = 440.0 * 2 ** ((pitch - 69) / 12)
            errors.append(1200 * math.log2(f0 / want))
        bad = [e for e in errors if abs(e) > 50]
        if not errors:
            problems.append("lead: no note long enough to check its pitch")
        elif len(bad) > 1:
            problems.append(f"lead pitch off the MIDI notes (cents): {[round(e) for e in errors]}")
    if truth["lead_low_midi"] > truth["lead_high_midi"]:
        problems.append("truth: lead low above lead high")
    return problems
