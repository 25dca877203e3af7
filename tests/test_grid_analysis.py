"""The grid analysis: beats, metre and bar 1 on generated songs with known grids (scripts/make_eval_grid.py),
what ``analyze`` prints and ``--apply`` writes, and the cached record."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from stemhost.analysis import SessionAnalysis, analyze_session
from stemhost.analysis.stored import cached_analysis, from_plain, to_plain
from stemhost.cli.main import main
from stemhost.session.files import load_session

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_eval_grid.py"
SEED = "1717"  # a draw of its own: neither the dev nor the test draw
SONGS = 6  # 4/4, 3/4, 6/8, twice; the fourth has no drums
SECONDS = 16.0


def _generator():
    spec = importlib.util.spec_from_file_location("make_eval_grid", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_eval_grid"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> list[Path]:
    return _generator().build(SEED, tmp_path_factory.mktemp("grid"), SONGS, SECONDS)


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))


def test_generated_songs_meet_the_targets_bpm_1_percent_downbeat_30_ms_metre_right(songs):
    """Every song meets all three targets, including the two at the ends of the tempo range whose tempo
    estimate is an octave off (a 3/4 at 179 BPM heard as a 6/8 at 60, a drumless 4/4 at 60 as 121): the
    grid chooses its own bar from where the chords change."""
    misses = []
    for folder in songs:
        truth = json.loads((folder / "truth.json").read_text())
        path = folder / "session.json"
        found = analyze_session(load_session(path), path)
        assert found.time_signature is not None, folder.name
        bpm_error = abs(found.beat_bpm / truth["bpm"] - 1)
        downbeat_error = abs(found.first_downbeat_s - truth["first_downbeat_s"])
        if bpm_error > 0.01 or downbeat_error > 0.030 or found.time_signature != truth["time_signature"]:
            misses.append((folder.name, found.beat_bpm, found.time_signature, found.first_downbeat_s, truth))
    assert misses == []


def test_analyze_prints_the_grid_and_apply_writes_bpm_metre_and_bar_1(songs, capsys):
    folder = songs[2]  # 6/8
    truth = json.loads((folder / "truth.json").read_text())
    session = folder / "session.json"
    before = json.loads(session.read_text())
    try:
        assert main(["analyze", str(session), "--apply"]) == 0
        out = capsys.readouterr().out.splitlines()
        data = json.loads(session.read_text())
    finally:
        session.write_text(json.dumps(before, indent=2) + "\n")
    (grid,) = [line for line in out if line.startswith("grid: ")]
    assert grid.startswith(f"grid: 6/8 at {data['bpm']:.2f} BPM (dotted quarters), bar 1 at ")
    assert data["time_signature"] == "6/8"
    assert data["bpm"] == pytest.approx(truth["bpm"], rel=0.01)
    assert data["first_downbeat_s"] == pytest.approx(truth["first_downbeat_s"], abs=0.03)
    assert out[-1] == (
        f"wrote key {data['key']!r}, bpm {data['bpm']:g}, time_signature '6/8', "
        f"first_downbeat_s {data['first_downbeat_s']:g} into {session}"
    )
    assert data["stems"] == before["stems"]


def test_the_cached_record_keeps_the_grid(songs):
    path = songs[0] / "session.json"
    session = load_session(path)
    first = cached_analysis(session, path)
    assert first.time_signature == "4/4" and first.first_downbeat_s is not None
    assert from_plain(SessionAnalysis, json.loads(json.dumps(to_plain(first)))) == first
    again = cached_analysis(session, path)
    assert again == first
    plain = first.to_dict()
    assert plain["time_signature"] == "4/4"
    assert plain["first_downbeat_s"] == round(first.first_downbeat_s, 3)
    assert plain["beat_bpm"] == round(first.beat_bpm, 2)


def test_a_record_from_before_the_grid_reads_without_one(songs):
    path = songs[0] / "session.json"
    plain = to_plain(analyze_session(load_session(path), path))
    for name in ("time_signature", "first_downbeat_s", "beat_bpm", "downbeat_confidence", "metre_confidence"):
        del plain[name]
    old = from_plain(SessionAnalysis, plain)
    assert old.time_signature is None and old.first_downbeat_s is None
