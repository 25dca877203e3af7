"""Catalog throughput: ``stemhost batch`` on a local Dask cluster of 1 and of 2 worker processes.

A catalog of synthesized songs (each: 4 stereo stems with EQ and compressor, a reverb send, a
master limiter) is rendered in two variants (full, karaoke) by ``stemhost batch --force``, once
with one worker and once with two; the wall time includes starting the cluster. Reported: songs
and renders per minute for each, and the speed-up of two workers over one (the same run's baseline).

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

VARIANTS = "full,karaoke"
ROLES = ("drums", "bass", "keys", "lead_vocal")


def make_catalog(folder: Path, songs: int, seconds: float, phrases: list[np.ndarray], write_stem) -> Path:
    """songs folders of 4 stems (reusing the main benchmark's phrases and writer) with a session each."""
    frames = round(seconds * 48000)
    for s in range(songs):
        song = folder / f"song{s:02d}"
        song.mkdir(parents=True, exist_ok=True)
        stems = []
        for i, role in enumerate(ROLES):
            name = f"{role}.wav"
            write_stem(song / name, phrases[(s + i) % len(phrases)], frames)
            chain = [
                {"type": "PeakFilter", "cutoff_frequency_hz": 300.0 * (i + 1), "gain_db": 2.0, "q": 1.0},
                {"type": "Compressor", "threshold_db": -18.0, "ratio": 3.0},
            ]
            stems.append(
                {"name": role, "file": name, "role": role, "chain": chain, "sends": [{"bus": "hall", "level_db": -12}]}
            )
        session = {
            "title": f"Song {s}",
            "stems": stems,
            "buses": [
                {"name": "hall", "chain": [{"type": "Reverb", "room_size": 0.8, "wet_level": 1.0, "dry_level": 0.0}]}
            ],
            "master": {"chain": [{"type": "Limiter", "threshold_db": -1.0}]},
        }
        (song / "session.json").write_text(json.dumps(session, indent=2) + "\n")
    return folder


def throughput(stemhost: list[str], catalog: Path, out: Path, workers: int, measure) -> dict:
    """One batch run with this many local workers (``stemhost``: the command that runs the CLI)."""
    command = [*stemhost, "batch", str(catalog), "--variants", VARIANTS, "-o", str(out), "--workers", str(workers)]
    run = measure([*command, "--force", "--tail", "0"], out.parent / f"batch-{workers}.log")
    songs = len(list(catalog.glob("*/session.json")))
    renders = songs * len(VARIANTS.split(","))
    return {
        "workers": workers,
        "wall_s": round(run.wall_s, 2),
        "songs_per_min": round(songs * 60.0 / run.wall_s, 2),
        "renders_per_min": round(renders * 60.0 / run.wall_s, 2),
    }


def run(work: Path, stemhost: list[str], songs: int, seconds: float, phrases, write_stem, measure) -> dict:
    """Print and return the catalog figures."""
    started = time.perf_counter()
    catalog = make_catalog(work / "catalog", songs, seconds, phrases, write_stem)
    print(f"catalog ready: {songs} songs of {seconds:g} s, {len(VARIANTS.split(','))} variants each "
          f"({time.perf_counter() - started:.1f} s)")  # fmt: skip
    results = [throughput(stemhost, catalog, work / f"renders-{w}", w, measure) for w in (1, 2)]
    for r in results:
        print(f"  batch, {r['workers']} worker(s): {r['wall_s']:.1f} s, {r['songs_per_min']:.1f} songs/min, "
              f"{r['renders_per_min']:.1f} renders/min")  # fmt: skip
    speedup = results[0]["wall_s"] / results[1]["wall_s"]
    print(f"  2 workers / 1 worker throughput: {speedup:.2f}x")
    return {"catalog": results, "catalog_speedup_2_workers": round(speedup, 3)}
