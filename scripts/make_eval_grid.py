"""Build and score the grid evaluation set: generated songs in 3/4, 4/4 and 6/8 with known beats and bars.

Each song is synthesised with numpy (no FluidSynth: every hit lands on the sample the truth names) into
``drums.wav`` (kick, snare, hi-hat, crash; absent from a quarter of the songs), ``bass.wav`` and ``keys.wav``
(chords that change on the bar), 44.1 kHz 16-bit mono, with a ``session.json`` and a ``truth.json``:
``{"bpm": 96.0, "time_signature": "6/8", "first_downbeat_s": 1.73, ...}`` in the grid's convention (bpm counts
dotted quarters in 6/8). Before bar 1: 0.2-1.5 s of silence, then a pickup of one or two beats (a bass note
and, with drums, a hi-hat fill), so the first downbeat is never at 0. Hits are moved by up to +-6 ms
(Gaussian, 3 ms) and their levels vary, as a drummer's do.

Grooves: 4/4 rock (kick 1 and 3, snare 2 and 4, eighth or sixteenth hats), 4/4 four-on-the-floor (kick on
every beat, open hats between), 3/4 waltz (kick 1, snare or hats 2 and 3), 6/8 (kick 1, snare 4, eighth
hats; or kick 1 and 3 ...). A crash on every fourth bar's downbeat (or every eighth).
Tempi: 4/4 and 3/4 at 60-180 quarter notes a minute, 6/8 at 56-100 dotted quarters.

Draws: ``--draw dev`` (seed 20261701) was looked at while analysis/grid.py was tuned; ``--draw test``
(seed 20261702) was scored once, when the first grid was final, and so was seen before the metre-aware
octave choice (analysis/metre.py); ``--draw test2`` (seed 20261703) is the fresh draw, built and scored
once, when that code was final.

Usage::

    python scripts/make_eval_grid.py --draw dev [--out /tmp/grid-dev] [--songs 30] [--score]

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import soundfile

RATE = 44100
DRAWS = {"dev": 20261701, "test": 20261702, "test2": 20261703}
METRES = ("4/4", "3/4", "6/8")
SUB = {"4/4": 2, "3/4": 2, "6/8": 3}  # pulses (eighths) a beat
BEATS = {"4/4": 4, "3/4": 3, "6/8": 2}  # beats a bar
TEMPI = {"4/4": (60, 180), "3/4": (60, 180), "6/8": (56, 100)}
PROGRESSIONS = ((0, 9, 5, 7), (0, 5, 7, 5), (0, 7, 9, 5), (9, 5, 0, 7), (0, 3, 10, 5))


def _env(n: int, decay_s: float) -> np.ndarray:
    return np.exp(-np.arange(n) / (decay_s * RATE))


def _sounds(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One drum kit: each piece a short mono sample (its timbre drawn per song)."""
    t = np.arange(int(0.4 * RATE)) / RATE
    f0, f1 = rng.uniform(90, 140), rng.uniform(42, 60)
    freq = f1 + (f0 - f1) * np.exp(-t / 0.03)
    kick = np.sin(2 * np.pi * np.cumsum(freq) / RATE) * _env(t.size, rng.uniform(0.12, 0.3))
    kick[:40] += np.linspace(0.6, 0, 40) * rng.standard_normal(40)
    n = int(0.3 * RATE)
    noise = rng.standard_normal(n)
    body = np.sin(2 * np.pi * rng.uniform(170, 230) * np.arange(n) / RATE)
    snare = (0.6 * noise * _env(n, rng.uniform(0.06, 0.14)) + 0.5 * body * _env(n, 0.05)) * 0.8
    n = int(0.12 * RATE)
    hiss = np.diff(rng.standard_normal(n + 1))
    hat = 0.25 * hiss * _env(n, rng.uniform(0.015, 0.04))
    n = int(0.5 * RATE)
    open_hat = 0.2 * np.diff(rng.standard_normal(n + 1)) * _env(n, 0.15)
    n = int(2.0 * RATE)
    crash = 0.35 * np.diff(rng.standard_normal(n + 1)) * _env(n, 0.8)
    return {"kick": kick, "snare": snare, "hat": hat, "open": open_hat, "crash": crash}


def _tone(midi: float, seconds: float, harmonics: int, decay_s: float) -> np.ndarray:
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    f = 440.0 * 2 ** ((midi - 69) / 12)
    wave = sum(np.sin(2 * np.pi * f * k * t) / k**1.5 for k in range(1, harmonics + 1) if f * k < 8000)
    attack = np.minimum(1.0, np.arange(n) / (0.004 * RATE))
    release = np.minimum(1.0, (n - np.arange(n)) / (0.02 * RATE))
    return wave * _env(n, decay_s) * attack * release


def _place(track: np.ndarray, sample: np.ndarray, at_s: float, gain: float) -> None:
    i = int(round(at_s * RATE))
    if i < 0 or i >= track.size:
        return
    end = min(track.size, i + sample.size)
    track[i:end] += gain * sample[: end - i]


def plan(draw: str, songs: int) -> list[dict]:
    """The songs of a draw: metre, tempo, groove, lead-in, pickup, key and whether there are drums."""
    rng = np.random.default_rng(DRAWS[draw] if draw in DRAWS else int(draw))
    out = []
    for i in range(songs):
        metre = METRES[i % 3]
        low, high = TEMPI[metre]
        grooves = {"4/4": ("rock", "rock16", "four"), "3/4": ("waltz", "waltz_hats"), "6/8": ("six", "six_kicks")}
        out.append(
            {
                "index": i,
                "metre": metre,
                "bpm": float(round(rng.uniform(low, high), 1)),
                "groove": str(rng.choice(grooves[metre])),
                "drums": bool(i % 4 != 3),
                "lead_in_s": float(round(rng.uniform(0.2, 1.5), 3)),
                "pickup_beats": min(int(rng.integers(1, 3)), BEATS[metre] - 1),  # less than a bar
                "tonic": int(rng.integers(0, 12)),
                "progression": int(rng.integers(0, len(PROGRESSIONS))),
                "crash_every": int(rng.choice((4, 8))),
                "seed": int(rng.integers(0, 2**31)),
            }
        )
    return out


def synthesise(song: dict, seconds: float = 30.0) -> dict[str, np.ndarray]:
    """The song's stems as ``(frames,)`` float arrays at RATE, and its truth under ``truth``."""
    rng = np.random.default_rng(song["seed"])
    metre, sub, beats = song["metre"], SUB[song["metre"]], BEATS[song["metre"]]
    beat_s = 60.0 / song["bpm"]
    pulse_s = beat_s / sub
    downbeat = song["lead_in_s"] + song["pickup_beats"] * beat_s
    n = int(seconds * RATE)
    drums, bass, keys = np.zeros(n), np.zeros(n), np.zeros(n)
    kit = _sounds(rng)
    groove = song["groove"]

    def jitter() -> float:
        return float(np.clip(rng.normal(0, 0.003), -0.006, 0.006))

    def vel(base: float) -> float:
        return base * float(rng.uniform(0.85, 1.0))

    pulses_per_bar = sub * beats
    first = -song["pickup_beats"] * sub
    last = int((seconds - downbeat) / pulse_s) - 1
    progression = PROGRESSIONS[song["progression"]]
    for p in range(first, last):
        at = downbeat + p * pulse_s
        bar, pos = divmod(p, pulses_per_bar)
        beat, part = divmod(pos, sub)
        on_beat = part == 0
        if song["drums"]:
            if p < 0:  # the pickup: a hi-hat fill
                _place(drums, kit["hat"], at + jitter(), vel(0.7))
            else:
                _drum_pulse(drums, kit, groove, metre, bar, beat, part, at, jitter, vel, song["crash_every"], pulse_s)
        root = 36 + (song["tonic"] + progression[bar % 4] if p >= 0 else song["tonic"] + 7) % 12
        if p < 0 and on_beat:
            _place(bass, _tone(root, beat_s * 0.9, 5, 0.5), at + jitter(), vel(0.5))
        if p < 0:
            continue
        bass_on = (
            pos == 0
            or (metre == "4/4" and pos == 4)
            or (metre == "6/8" and pos == 3)
            or (metre == "4/4" and groove == "four" and pos == 6 and bar % 2)
        )
        if bass_on:
            note = root if pos == 0 else root + 7
            length = beat_s * (2 if metre == "4/4" else 1) * 0.95
            _place(bass, _tone(note, length, 5, 0.6), at + jitter(), vel(0.8 if pos == 0 else 0.6))
        chord = [root + 24 + i for i in (0, 4, 7)] if progression[bar % 4] not in (9, 3) else [
            root + 24 + i for i in (0, 3, 7)
        ]  # fmt: skip
        if metre == "6/8":  # arpeggiated eighths
            note = chord[(0, 1, 2, 1, 2, 1)[pos % 6]] + (12 if pos in (2, 4) else 0)
            _place(keys, _tone(note, pulse_s * 1.5, 6, 0.4), at + jitter(), vel(0.3 if pos else 0.38))
        elif metre == "3/4" and on_beat:  # oom-pah-pah: chords on two and three
            if beat:
                for m in chord:
                    _place(keys, _tone(m, beat_s * 0.8, 6, 0.3), at + jitter(), vel(0.14))
        elif on_beat and (beat % 2 == 0 or rng.random() < 0.5):  # 4/4: chords on 1 and 3, sometimes between
            for m in chord:
                _place(keys, _tone(m, beat_s * 1.8, 6, 0.6), at + jitter(), vel(0.15 if beat else 0.18))
    truth = {
        "bpm": song["bpm"],
        "time_signature": metre,
        "first_downbeat_s": round(downbeat, 6),
        "beat": "dotted quarter" if sub == 3 else "quarter",
    }
    return {"drums": drums, "bass": bass, "keys": keys, "truth": truth}


def _drum_pulse(drums, kit, groove, metre, bar, beat, part, at, jitter, vel, crash_every, pulse_s) -> None:
    """The hits of one eighth (pulse) of a groove."""
    sixteenths = groove == "rock16"
    hat_gain = 0.5 if part == 0 else 0.35
    if groove == "four":
        if part == 0:
            _place(drums, kit["kick"], at + jitter(), vel(1.0))
            if beat in (1, 3):
                _place(drums, kit["snare"], at + jitter(), vel(0.9))
            _place(drums, kit["hat"], at + jitter(), vel(0.3))
        else:
            _place(drums, kit["open"], at + jitter(), vel(0.5))
    elif metre == "4/4":
        if part == 0 and beat in (0, 2):
            _place(drums, kit["kick"], at + jitter(), vel(1.0 if beat == 0 else 0.9))
        if part == 1 and beat == 2 and bar % 2:
            _place(drums, kit["kick"], at + jitter(), vel(0.7))
        if part == 0 and beat in (1, 3):
            _place(drums, kit["snare"], at + jitter(), vel(0.9))
        _place(drums, kit["hat"], at + jitter(), vel(hat_gain))
        if sixteenths:
            _place(drums, kit["hat"], at + pulse_s / 2 + jitter(), vel(0.25))
    elif metre == "3/4":
        if part == 0 and beat == 0:
            _place(drums, kit["kick"], at + jitter(), vel(1.0))
        if part == 0 and beat:
            _place(drums, kit["snare" if groove == "waltz" else "open"], at + jitter(), vel(0.6))
        _place(drums, kit["hat"], at + jitter(), vel(hat_gain))
    else:  # 6/8
        if part == 0 and beat == 0:
            _place(drums, kit["kick"], at + jitter(), vel(1.0))
        if groove == "six_kicks" and beat == 0 and part == 2:
            _place(drums, kit["kick"], at + jitter(), vel(0.7))
        if part == 0 and beat == 1:
            _place(drums, kit["snare"], at + jitter(), vel(0.9))
        _place(drums, kit["hat"], at + jitter(), vel(0.5 if part == 0 else 0.3))
    if beat == 0 and part == 0 and bar % crash_every == 0:
        _place(drums, kit["crash"], at + jitter(), vel(0.8))


def build(draw: str, out: Path, songs: int, seconds: float = 30.0) -> list[Path]:
    """Write the draw's songs into ``out``; returns their folders."""
    folders = []
    for song in plan(draw, songs):
        made = synthesise(song, seconds)
        name = f"{song['index'] + 1:02d}-{song['metre'].replace('/', '-')}-{song['groove']}"
        folder = out / (name if song["drums"] else f"{name}-nodrums")
        folder.mkdir(parents=True, exist_ok=True)
        stems = [("bass", "bass"), ("keys", "keys")] + ([("drums", "drums")] if song["drums"] else [])
        peak = max(np.max(np.abs(made[name])) for name, _ in stems)
        for name, _ in stems:
            soundfile.write(folder / f"{name}.wav", (0.7 * made[name] / peak).astype(np.float32), RATE, "PCM_16")
        session = {"stems": [{"name": name, "file": f"{name}.wav", "role": role} for name, role in stems]}
        (folder / "session.json").write_text(json.dumps(session, indent=2) + "\n")
        truth = {**made["truth"], **{k: song[k] for k in ("groove", "drums", "pickup_beats")}}
        (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")
        folders.append(folder)
    return folders


def score(folders: list[Path]) -> dict:
    """Analyse each song (no cache) and compare its grid with the truth; prints a table and the totals."""
    from stemhost.analysis import analyze_session
    from stemhost.session.files import load_session

    rows = []
    for folder in folders:
        truth = json.loads((folder / "truth.json").read_text())
        path = folder / "session.json"
        found = analyze_session(load_session(path), path)
        grid = found.time_signature is not None
        bpm_err = abs(found.beat_bpm / truth["bpm"] - 1) * 100 if grid else math.inf
        db_err = abs(found.first_downbeat_s - truth["first_downbeat_s"]) * 1000 if grid else math.inf
        metre_ok = grid and found.time_signature == truth["time_signature"]
        rows.append((folder.name, bpm_err, db_err, metre_ok))
        found = (
            f"{found.beat_bpm:7.2f} {found.time_signature:>4} {found.first_downbeat_s:7.3f} "
            f"(tempo {found.tempo_bpm:6.1f}, conf {found.downbeat_confidence:.2f}/{found.metre_confidence:.2f})"
            if grid
            else "none"
        )
        print(
            f"{folder.name:<28} truth {truth['bpm']:6.1f} {truth['time_signature']:>4} "
            f"{truth['first_downbeat_s']:7.3f}  found {found}  "
            f"bpm {bpm_err:6.2f}% downbeat {db_err:7.1f} ms {'ok' if metre_ok else 'METRE'}",
            flush=True,
        )
    bpm = np.array([r[1] for r in rows])
    db = np.array([r[2] for r in rows])
    metre = np.array([r[3] for r in rows])
    finite = db[np.isfinite(db)]
    totals = {
        "songs": len(rows),
        "bpm_within_1pct": float(np.mean(bpm <= 1.0)),
        "downbeat_within_30ms": float(np.mean(db <= 30.0)),
        "time_signature_right": float(np.mean(metre)),
        "all_three": float(np.mean((bpm <= 1.0) & (db <= 30.0) & metre)),
        "bpm_error_pct_mean": float(np.mean(bpm[np.isfinite(bpm)])) if finite.size else None,
        "bpm_error_pct_max": float(np.max(bpm)),
        "downbeat_error_ms_mean": float(np.mean(finite)) if finite.size else None,
        "downbeat_error_ms_max": float(np.max(db)),
    }
    print(json.dumps(totals, indent=2))
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draw", default="dev", help="dev, test, test2, or a seed")
    parser.add_argument("--out", type=Path, help="default: /tmp/stemhost-grid-DRAW")
    parser.add_argument("--songs", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--score", action="store_true", help="analyse the songs and print the scores")
    parser.add_argument("--no-build", action="store_true", help="score the songs already in --out")
    args = parser.parse_args(argv)
    out = args.out or Path(f"/tmp/stemhost-grid-{args.draw}")
    start = time.monotonic()
    if args.no_build:
        folders = sorted(p.parent for p in out.glob("*/truth.json"))
    else:
        folders = build(args.draw, out, args.songs, args.seconds)
    print(f"built {len(folders)} songs in {out} ({time.monotonic() - start:.1f} s)", file=sys.stderr)
    if args.score:
        score(folders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
