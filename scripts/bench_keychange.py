"""The first key change: ``stemhost render --key +2`` with nothing cached, against Rubber Band run on each whole stem.

A song of eight stereo stems (the main benchmark's first eight phrases and roles: six pitched, the
drums and percussion not), four minutes long, dense (every stem sounds throughout) and sparse (each
stem sounds in about half of its sections, digital silence between). stemhost renders the song two
semitones up with an empty stem cache: the time until the mastered file is written, stretching
included. The baseline is what a user would run by hand for the same stems: the ``rubberband``
command with stemhost's own options (:meth:`StretchSettings.rubberband_options`) on each whole
pitched stem, as many at once as the machine has cores, and no mix at all. Both run as child
processes, timed by ``bench.measure`` (wall, CPU of the process and its children, peak memory).

Run by ``scripts/bench`` (``--no-keychange`` skips it); ``python scripts/bench_keychange.py baseline
SESSION OUTDIR`` is the baseline's own process.

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

STEMS = 8
KEY = 2.0
TARGET_SPARSE = 0.5  # stemhost / baseline, sparse song


def baseline(session: Path, out: Path) -> None:
    """Rubber Band with stemhost's options on each whole pitched stem, one process per core."""
    from stemhost.engine.stretch import StretchSettings
    from stemhost.session.model import VOCAL_ROLES, Session

    data = Session.model_validate(json.loads(session.read_text()))
    out.mkdir(parents=True, exist_ok=True)
    commands = [
        [
            "rubberband",
            *StretchSettings(KEY, 1.0, stem.role in VOCAL_ROLES).rubberband_options(2),
            str(session.parent / stem.file),
            str(out / Path(stem.file).name),
        ]
        for stem in data.stems
        if stem.is_pitched
    ]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for done in pool.map(lambda command: subprocess.run(command, capture_output=True), commands):
            if done.returncode != 0:
                raise SystemExit(f"error: rubberband failed: {done.stderr.decode(errors='replace')[-500:]}")


def run(work: Path, minutes: float, phrases, prepare, stemhost_command, run_logged) -> dict:
    """Time both contenders on the dense and the sparse song; print and return the figures."""
    if shutil.which("rubberband") is None:
        print("  skipped: the rubberband command is missing (apt-get install rubberband-cli)")
        return {}
    folder = work / "keychange"
    figures = {}
    for name, sparse in (("dense", False), ("sparse", True)):
        session = prepare(folder, minutes, phrases[:STEMS], sparse=sparse)
        cache = session.parent / "cache"
        shutil.rmtree(cache, ignore_errors=True)  # nothing cached: the first key change
        os.environ["STEMHOST_CACHE_DIR"] = str(cache)
        try:
            command = [*stemhost_command(session, session.parent / "out_key.wav"), "--key", f"{KEY:+g}"]
            ours = run_logged(f"stemhost --key {KEY:+g} {name}", command, session.parent / "key.log")
        finally:
            del os.environ["STEMHOST_CACHE_DIR"]
            shutil.rmtree(cache, ignore_errors=True)
        command = [sys.executable, __file__, "baseline", str(session), str(session.parent / "rubberband")]
        theirs = run_logged(f"rubberband per stem {name}", command, session.parent / "rubberband.log")
        shutil.rmtree(session.parent / "rubberband", ignore_errors=True)
        ratio = ours.wall_s / theirs.wall_s
        print(
            f"  {name}: first key change {ours.wall_s:.1f} s ({ours.cpu_s:.1f} s CPU), rubberband on each whole stem "
            f"{theirs.wall_s:.1f} s ({theirs.cpu_s:.1f} s CPU): {ratio:.3f}x"
        )
        figures.update(
            {
                f"keychange_{name}_stemhost_wall_s": round(ours.wall_s, 2),
                f"keychange_{name}_stemhost_cpu_s": round(ours.cpu_s, 2),
                f"keychange_{name}_rubberband_wall_s": round(theirs.wall_s, 2),
                f"keychange_{name}_rubberband_cpu_s": round(theirs.cpu_s, 2),
                f"keychange_{name}_ratio": round(ratio, 3),
            }
        )
    figures["keychange_minutes"] = minutes
    return figures


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "baseline":
        raise SystemExit("usage: bench_keychange.py baseline SESSION OUTDIR")
    baseline(Path(sys.argv[2]), Path(sys.argv[3]))
