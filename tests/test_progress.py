"""Progress wherever something takes seconds: a line per step without a terminal, a live display on one, and
``play`` sounding at once while a key change is rendered."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import stemhost.live.play
from stemhost.cli.main import main
from stemhost.cli.progress import StepsHandler
from stemhost.live.player import Player
from stemhost.steps import Steps

from conftest import tone, write_audio, write_session

SRC = Path(__file__).resolve().parents[1] / "src"


def song(folder: Path, seconds: float, stems: int = 2) -> Path:
    for i in range(stems):
        write_audio(folder / f"k{i}.wav", tone(220.0 * (i + 1), seconds, level=0.1))
    entries = [{"name": f"keys{i}", "file": f"k{i}.wav", "role": "keys"} for i in range(stems)]
    return write_session(folder, {"stems": entries})


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """Nothing stretched or analysed before: each test's own cache."""
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))


def test_analyze_without_a_terminal_says_each_step_before_the_result(tmp_path):
    path = song(tmp_path, 3.0)
    code = f"from stemhost.cli.main import main; raise SystemExit(main(['analyze', {str(path)!r}]))"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[:4] == ["analysing session.json…", "reading keys0 (1/5)…", "reading keys1 (2/5)…", "key (3/5)…"]
    loading = lines.index("loading the analysis libraries (compiling on first use, up to a minute)…")
    assert lines[loading + 1].startswith("done in ")
    assert "tempo (4/5)…" in lines and "lead vocal range (5/5)…" in lines and lines[-1].startswith("done in ")
    assert "\r" not in done.stderr and done.stdout.startswith("key: ")


def test_a_key_changed_render_without_a_terminal_says_each_stem_stretched(tmp_path, capsys):
    path = song(tmp_path, 2.0)
    assert main(["render", str(path), "--key", "2", "-o", str(tmp_path / "up.wav")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "stretching 2 stems to key +2, tempo 1…"
    assert sorted(lines[1:3]) == ["stretching keys0 (1/2)…", "stretching keys1 (2/2)…"]
    assert lines[3].startswith("done in ")
    assert main(["render", str(path), "--key", "2", "-o", str(tmp_path / "again.wav")]) == 0
    assert "stretching" not in capsys.readouterr().err  # cached: nothing to wait for


def test_the_terminal_display_shows_each_part_and_the_time_left():
    steps = Steps("stretching 3 stems", [("bass", 10.0), ("drums", 10.0), ("vox", 20.0)], "stretching")
    handler = StepsHandler(terminal=True)
    handler.open.append(steps)
    steps.start("bass")
    steps.start("drums")
    assert steps.eta_s() is None  # nothing done: no pace yet
    steps.started -= 10.0  # begun 10 s ago: bass, 10 s of audio, took 10 s
    steps.done("bass")
    shown = handler.render().plain.splitlines()
    assert shown[0].startswith("stretching 3 stems 1/3 (") and "s left)" in shown[0]
    assert shown[1:] == [f"  ✓ bass {steps.took['bass']:.1f} s", "  … drums", "  · vox"]
    assert steps.eta_s() == pytest.approx(30.0, abs=0.5)  # 30 of 40 s of audio left, counted down from there


def test_play_with_a_key_sounds_at_once_and_switches_when_ready(tmp_path, jack_device, monkeypatch, capsys):
    path = song(tmp_path, 20.0, stems=4)  # whole stems would take seconds to stretch
    heard: list[float] = []
    sounding: list[int] = []  # frames of each callback that sounded

    class Timed(Player):
        def callback(self, outdata, frames, _time, status) -> None:
            super().callback(outdata, frames, _time, status)
            if np.any(outdata):
                heard.append(time.monotonic())
                sounding.append(frames)

    monkeypatch.setattr(stemhost.live.play, "Player", Timed)
    began = time.monotonic()
    assert main(["play", str(path), "--no-ui", "--device", "system", "--key", "2", "--duration", "2"]) == 0
    captured = capsys.readouterr()
    first = heard[0] - began
    wall = sum(sounding) / 48000  # in frames: on a loaded machine JACK's dummy clock runs behind the wall clock
    played = next(line for line in captured.out.splitlines() if line.startswith("played "))
    minutes, seconds = played.split()[1].split(":")
    print(f"first sound {first:.2f} s after the command; played {played.split()[1]}, heard for {wall:.2f} s")
    assert first < 1.0
    assert "preparing key +2, tempo 1; playing key +0 until it is ready" in captured.err
    assert "playing key +2, tempo 1 (ready after" in captured.err
    assert abs(60 * int(minutes) + float(seconds) - wall) < 0.2
