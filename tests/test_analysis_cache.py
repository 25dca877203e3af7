"""Song analyses kept in the cache: fit, render --fit and analyze analyse a song once while its stems stay the same."""

from __future__ import annotations

import json

import numpy as np
import pytest

import stemhost.analysis.stored as stored
from stemhost.analysis.stored import analysis_key, cached_analysis, from_plain, to_plain
from stemhost.cli.main import main
from stemhost.engine.cache import StemCache
from stemhost.session.files import load_session
from test_fit import song  # noqa: F401 (the fixture)

from conftest import without_steps, write_audio


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """A cache of this test's own: the suite's shared one may hold these songs' analyses already."""
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def counted(monkeypatch):
    """Counts the analyses actually run."""
    calls = []
    real = stored.analyze_session

    def analyze(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(stored, "analyze_session", analyze)
    return calls


def test_fit_render_fit_and_analyze_analyse_a_song_once(song, tmp_path, counted, capsys):  # noqa: F811
    assert main(["fit", str(song), "--voice", "alto"]) == 0
    assert main(["render", str(song), "--fit", "alto", "-o", str(tmp_path / "a.wav")]) == 0
    assert main(["analyze", str(song)]) == 0
    assert main(["fit", str(song), "--voice", "tenor"]) == 0
    assert len(counted) == 1
    out = capsys.readouterr().out
    assert out.count("fits key shift -4") == 2 and "key: A major" in out
    assert main(["cache"]) == 0
    assert "1 song analysis" in capsys.readouterr().out


def test_a_changed_stem_or_role_is_analysed_again(song, counted):  # noqa: F811
    session = load_session(song)
    first = cached_analysis(session, song)
    write_audio(song.parent / "keys.wav", np.zeros((1, 48000), np.float32))  # same name, other content
    second = cached_analysis(session, song)
    data = json.loads(song.read_text())
    data["stems"][1]["role"] = "bass"
    song.write_text(json.dumps(data))
    cached_analysis(load_session(song), song)
    assert len(counted) == 3
    assert first.stems[1].peak_dbfs > -30 and second.stems[1].peak_dbfs == -np.inf


def test_the_record_round_trips_exactly(song):  # noqa: F811
    session = load_session(song)
    analysis = cached_analysis(session, song)
    again = from_plain(type(analysis), json.loads(json.dumps(to_plain(analysis))))
    assert again == analysis
    assert again.lead_vocal.histogram and all(isinstance(k, int) for k in again.lead_vocal.histogram)


@pytest.mark.parametrize("damage", ["checksum", "shape"])
def test_a_damaged_or_foreign_record_is_analysed_again(song, counted, damage):  # noqa: F811
    session = load_session(song)
    cached_analysis(session, song)
    (record,) = StemCache.default().records()
    stored_text = json.loads(record.read_text())
    if damage == "checksum":
        stored_text["record"]["duration_s"] = 99.0  # edited without its sha256
    else:
        stored_text = {"sha256": "", "record": {"key": "not a key"}}
    record.write_text(json.dumps(stored_text))
    assert cached_analysis(session, song).duration_s != 99.0
    assert len(counted) == 2
    assert StemCache.default().record(analysis_key(session, song)) is not None  # replaced by a good one


def test_a_cache_that_cannot_be_used_costs_a_warning_not_the_analysis(song, tmp_path, monkeypatch, capsys):  # noqa: F811
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(blocker))
    assert main(["fit", str(song), "--voice", "alto"]) == 0
    err = without_steps(capsys.readouterr().err)
    assert (
        err.startswith("warning: the analysis is not kept for next time: STEMHOST_CACHE_DIR=") and err.count("\n") == 1
    )
    assert blocker.read_text() == "x"


def test_a_missing_stem_is_the_analysis_own_error(song, capsys):  # noqa: F811
    (song.parent / "keys.wav").unlink()
    assert main(["fit", str(song), "--voice", "alto"]) == 1
    err = without_steps(capsys.readouterr().err)
    assert err.startswith("error: ") and "keys.wav" in err and "internal error" not in err and err.count("\n") == 1
