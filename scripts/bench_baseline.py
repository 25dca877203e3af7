"""The benchmark's baseline: a plain, single-threaded pedalboard mix on whole buffers.

It reads the same session.json as stemhost (as plain JSON, without importing stemhost) and does
the same DSP the way a short script would: load each stem whole, run its chain over the whole
buffer, apply fader and pan, add it to the master and, at the send level, to each bus; then run
every bus's chain over its whole buffer, add the buses to the master, run the master chain and
write a 24-bit WAV. Only what the benchmark's session uses is supported: stereo stems at one
sample rate, buses that feed the master, and effects built from their pedalboard keywords.

Usage::

    python scripts/bench_baseline.py SESSION.json OUT.wav

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import json
import math
import sys
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


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: bench_baseline.py SESSION.json OUT.wav", file=sys.stderr)
        return 2
    session_path, out_path = Path(argv[0]), Path(argv[1])
    session = json.loads(session_path.read_text())
    folder = session_path.parent

    rate = None
    master = None
    buses = {bus["name"]: None for bus in session.get("buses", [])}
    for stem in session["stems"]:
        with AudioFile(str(folder / stem["file"])) as f:
            if rate is None:
                rate = f.samplerate
            assert f.samplerate == rate, "the baseline handles one sample rate only"
            audio = f.read(f.frames)  # (channels, frames) float32
        assert audio.shape[0] == 2, "the baseline handles stereo stems only"
        processed = board(stem.get("chain", []))(audio, rate)
        left, right = pan_gains(stem.get("pan", 0.0), stem.get("gain_db", 0.0), audio.shape[0])
        processed[0] *= left
        processed[1] *= right
        if master is None:
            master = np.zeros_like(processed)
        master += processed
        for send in stem.get("sends", []):
            if buses[send["bus"]] is None:
                buses[send["bus"]] = np.zeros_like(processed)
            buses[send["bus"]] += processed * np.float32(linear(send.get("level_db", 0.0)))

    for bus in session.get("buses", []):
        assert bus.get("output", "master") == "master", "the baseline handles buses feeding the master only"
        mix = buses[bus["name"]]
        if mix is None:
            continue
        wet = board(bus.get("chain", []))(mix, rate)
        master += wet * np.float32(linear(bus.get("gain_db", 0.0)))

    out = board(session.get("master", {}).get("chain", []))(master, rate)
    out *= np.float32(linear(session.get("master", {}).get("gain_db", 0.0)))
    np.clip(out, -1.0, 1.0, out=out)
    with AudioFile(str(out_path), "w", rate, out.shape[0], bit_depth=24) as f:
        f.write(out)
    print(f"wrote {out_path} ({out.shape[1]} frames at {rate} Hz)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
