"""The benchmark's baselines: a plain pedalboard mix on whole buffers, on one thread or on a small pool.

It reads the same session.json as stemhost (as plain JSON, without importing stemhost) and does
the same DSP the way a short script would: load each stem whole, run its chain over the whole
buffer, apply fader and pan, add it to the master and, at the send level, to each bus; then run
every bus's chain over its whole buffer, add the buses to the master, run the master chain and
write a 32-bit float WAV (so that stemhost's output, written the same way, compares sample for
sample). With ``--threads N`` the stems' chains (reading included) and then the buses' chains run
on a ``concurrent.futures.ThreadPoolExecutor`` of N threads, still on whole buffers, as a user who
knows that pedalboard releases the GIL would write it; the sums are made in the session's order, so
the output is the same as one thread's, bit for bit. Only what the benchmark's session uses is supported: stereo stems at one
sample rate, buses that feed the master, and effects built from their pedalboard keywords.

Usage::

    python scripts/bench_baseline.py SESSION.json OUT.wav
    python scripts/bench_baseline.py --threads 2 SESSION.json OUT.wav

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pedalboard
from pedalboard.io import AudioFile

VST3_FOLDER = Path("/usr/lib/vst3")


def board(chain: list[dict]):
    """A chain as a function of (audio, rate): each effect's ``type`` is a pedalboard class name.

    A third-party plugin (``VST3Plugin``, its bundle in /usr/lib/vst3) is loaded by pedalboard with its
    parameter values set as a script would (``plugin.key = value``); a mono one runs as dual mono (one
    instance a channel), as a script must: pedalboard refuses a stereo buffer for it.
    """
    stages = []
    for effect in chain:
        if effect["type"] == "VST3Plugin":
            stages.append(third_party(effect))
        else:
            kwargs = {k: v for k, v in effect.items() if k != "type"}
            stages.append(getattr(pedalboard, effect["type"])(**kwargs))

    def process(audio: np.ndarray, rate: float) -> np.ndarray:
        for stage in stages:
            if isinstance(stage, list):  # dual mono
                audio = np.concatenate([p(audio[c : c + 1], rate) for c, p in enumerate(stage)])
            else:
                audio = stage(audio, rate)
        return audio

    return process


def third_party(effect: dict):
    def load() -> pedalboard.Plugin:
        plugin = pedalboard.load_plugin(str(VST3_FOLDER / effect["path_to_plugin_file"]))
        for key, value in effect.get("parameter_values", {}).items():
            setattr(plugin, key, value)
        return plugin

    first = load()
    return [first, load()] if "Mono" in first.category.split("|") else first


def linear(db: float) -> float:
    return 10.0 ** (db / 20.0)


def pan_gains(pan: float, gain_db: float, channels: int) -> tuple[float, float]:
    """Constant-power pan for mono, balance for stereo (unity at centre), times the fader."""
    gain = linear(gain_db)
    if channels == 1:
        angle = (pan + 1.0) * math.pi / 4.0
        return gain * math.cos(angle), gain * math.sin(angle)
    return gain * min(1.0, 1.0 - pan), gain * min(1.0, 1.0 + pan)


def render_stem(folder: Path, stem: dict) -> tuple[float, np.ndarray]:
    """Read a stem whole, run its chain, apply fader and pan: its rate and ``(channels, frames)`` float32."""
    with AudioFile(str(folder / stem["file"])) as f:
        rate = f.samplerate
        audio = f.read(f.frames)  # (channels, frames) float32
    assert audio.shape[0] == 2, "the baseline handles stereo stems only"
    processed = board(stem.get("chain", []))(audio, rate)
    left, right = pan_gains(stem.get("pan", 0.0), stem.get("gain_db", 0.0), audio.shape[0])
    processed[0] *= left
    processed[1] *= right
    return rate, processed


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_baseline.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("session", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="threads for the stems' and buses' chains (default 1)")
    args = parser.parse_args(argv)
    session_path, out_path = args.session, args.out
    session = json.loads(session_path.read_text())
    folder = session_path.parent
    pool = ThreadPoolExecutor(args.threads) if args.threads > 1 else None
    run = pool.map if pool else map

    rate = None
    master = None
    buses = {bus["name"]: None for bus in session.get("buses", [])}
    rendered = run(lambda stem: render_stem(folder, stem), session["stems"])
    for stem, (stem_rate, processed) in zip(session["stems"], rendered, strict=True):
        rate = stem_rate if rate is None else rate
        assert stem_rate == rate, "the baseline handles one sample rate only"
        if master is None:
            master = np.zeros_like(processed)
        master += processed
        for send in stem.get("sends", []):
            if buses[send["bus"]] is None:
                buses[send["bus"]] = np.zeros_like(processed)
            buses[send["bus"]] += processed * np.float32(linear(send.get("level_db", 0.0)))
        del processed

    def render_bus(bus: dict) -> np.ndarray | None:
        assert bus.get("output", "master") == "master", "the baseline handles buses feeding the master only"
        mix = buses[bus["name"]]
        return None if mix is None else board(bus.get("chain", []))(mix, rate)

    for bus, wet in zip(session.get("buses", []), run(render_bus, session.get("buses", [])), strict=True):
        if wet is not None:
            master += wet * np.float32(linear(bus.get("gain_db", 0.0)))
    if pool:
        pool.shutdown()

    out = board(session.get("master", {}).get("chain", []))(master, rate)
    out *= np.float32(linear(session.get("master", {}).get("gain_db", 0.0)))
    np.clip(out, -1.0, 1.0, out=out)
    with AudioFile(str(out_path), "w", rate, out.shape[0], bit_depth=32) as f:  # 32-bit float WAV
        f.write(out)
    print(f"wrote {out_path} ({out.shape[1]} frames at {rate} Hz, {args.threads} thread(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
