"""Benchmark: silence-aware processing on a sparse session, against every chain running all the time.

16 mono stems (48 kHz float WAV), each sounding in about half of its sections with digital silence
between, each with an EQ and a compressor, sending to a reverb bus. The session is rendered twice, each
time in a child process timed by ``/usr/bin/time``: as stemhost renders it, and with every chain kept
running (the silence gates' hold set to None). Printed: wall and CPU time of both, and the largest
difference between the two renders (it must stay below 1e-6).

Usage::

    scripts/bench_silence.py [--minutes 2] [--block-size 1024] [--keep DIR]

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile

SR = 48000
STEMS = 16
SECTIONS = 16


def write_session(folder: Path, minutes: float) -> Path:
    """The sparse session's stems and session.json in folder; returns the session's path."""
    rng = np.random.default_rng(16)
    frames = round(minutes * 60 * SR)
    edges = np.linspace(0, frames, SECTIONS + 1).astype(int)
    t = np.arange(frames) / SR
    stems = []
    for i in range(STEMS):
        freq = 55.0 * 2 ** (i / 4)
        audio = (0.2 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(frames)).astype(np.float32)
        for k in range(SECTIONS):
            if rng.random() < 0.5:
                audio[edges[k] : edges[k + 1]] = 0.0
        soundfile.write(str(folder / f"s{i:02d}.wav"), audio, SR, subtype="FLOAT")
        eq = {"type": "PeakFilter", "cutoff_frequency_hz": 300.0 * (1 + i % 5), "gain_db": 3.0, "q": 1.0}
        comp = {"type": "Compressor", "threshold_db": -18.0, "ratio": 3.0, "attack_ms": 5.0, "release_ms": 120.0}
        stems.append({"name": f"s{i:02d}", "file": f"s{i:02d}.wav", "chain": [eq, comp], "sends": [{"bus": "verb"}]})
    reverb = {"type": "Reverb", "room_size": 0.6, "wet_level": 0.3, "dry_level": 0.0}
    data = {"stems": stems, "buses": [{"name": "verb", "chain": [reverb]}]}
    path = folder / "session.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def render(session: Path, out: Path, block_size: int, always_on: bool) -> None:
    """Render in this process (the child's side)."""
    from stemhost.engine import silence
    from stemhost.render.driver import RenderOptions, render_session
    from stemhost.session.files import load_session

    if always_on:
        silence.hold_frames = lambda *args: None  # every chain runs every block
    options = RenderOptions(bit_depth="32f", tail_s=2.0, block_size=block_size)
    render_session(load_session(session), session, out, options)


def timed(session: Path, out: Path, block_size: int, always_on: bool) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one render in a child process."""
    command = [sys.executable, __file__, "--render", str(session), str(out), "--block-size", str(block_size)]
    command += ["--always-on"] if always_on else []
    done = subprocess.run(["/usr/bin/time", "-f", "%e %U %S", *command], capture_output=True, text=True, check=True)
    wall, user, system = (float(v) for v in done.stderr.strip().splitlines()[-1].split())
    return wall, user + system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--block-size", type=int, default=1024)
    parser.add_argument("--keep", type=Path)
    parser.add_argument("--render", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--always-on", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.render:
        render(*args.render, args.block_size, args.always_on)
        return 0
    with tempfile.TemporaryDirectory() as temporary:
        work = args.keep or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        session = write_session(work, args.minutes)
        figures = {}
        for label, always_on in (("always on", True), ("silence-aware", False)):
            figures[label] = timed(session, work / f"{label[:6]}.wav", args.block_size, always_on)
            print(f"{label:<14} {figures[label][0]:7.2f} s wall {figures[label][1]:7.2f} s CPU")
        a, _ = soundfile.read(str(work / "always.wav"), dtype="float32")
        b, _ = soundfile.read(str(work / "silenc.wav"), dtype="float32")
        print(f"max difference {np.abs(a - b).max():.3g} ({a.shape[0]} frames, equal length: {a.shape == b.shape})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
