"""Keys by name and tempo by BPM: ``--key C``, ``--key 'A minor'``, ``--up``/``--down``, ``--bpm 96``,
``analyze --apply``, and packs in several tempos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile

import stemhost.analysis.stored as stored
from stemhost.cli.arguments import prepared_session
from stemhost.cli.main import build_parser, main
from stemhost.errors import SessionError
from stemhost.session.notes import shift_to_key
from stemhost.session.variants import parse_variants
from test_fit import song  # noqa: F401 (the fixture: A major chords and a melody)

from conftest import tone, write_audio, write_session


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def tagged(tmp_path: Path) -> Path:
    """A song whose session knows its key (Eb major) and tempo (120 BPM)."""
    write_audio(tmp_path / "keys.wav", tone(311.13, 0.5))
    write_audio(tmp_path / "vox.wav", tone(466.16, 0.5))
    stems = [
        {"name": "keys", "file": "keys.wav", "role": "keys"},
        {"name": "vox", "file": "vox.wav", "role": "lead_vocal"},
    ]
    return write_session(tmp_path, {"title": "Tagged", "key": "Eb major", "bpm": 120, "stems": stems})


def transport(session_path: Path, *argv: str):
    args = build_parser().parse_args(["validate", str(session_path), *argv])
    played = prepared_session(args)
    return played.key_shift, played.tempo


@pytest.mark.parametrize(
    ("argv", "shift"),
    [
        (["--key", "C"], -3.0),  # Eb to C: down 3 is nearer than up 9
        (["--key", "C", "--up"], 9.0),
        (["--key", "C", "--down"], -3.0),
        (["--key", "Eb"], 0.0),
        (["--key", "Eb major", "--up"], 0.0),
        (["--key", "G"], 4.0),
        (["--key", "G", "--down"], -8.0),
        (["--key", "A"], 6.0),  # a tritone: up
        (["--key", "Bb"], -5.0),
        (["--key", "-3"], -3.0),
    ],
)
def test_key_by_name_moves_from_the_session_key(tagged, argv, shift, capsys):
    assert transport(tagged, *argv) == (shift, 1.0)
    if argv[1] != "-3":
        assert capsys.readouterr().err.splitlines() == [
            f"key: Eb major (the key in session.json) to {argv[1]}: key shift {shift:+g}"
        ]


def test_a_minor_key_for_a_major_song_names_the_relative_key(tagged, capsys):
    assert main(["validate", str(tagged), "--key", "A minor"]) == 1
    assert capsys.readouterr().err == (
        "error: --key 'A minor': the song is in Eb major, a major key, so it cannot play in A minor; its relative "
        "major key is C major: use --key 'C'\n"
    )


def test_minor_song_takes_minor_names():
    assert shift_to_key("A minor", "C minor") == 3
    assert shift_to_key("A minor", "F#m", "down") == -3
    with pytest.raises(SessionError, match="relative minor key is A minor"):
        shift_to_key("E minor", "C major")


def test_up_or_down_without_a_key_name_is_an_error(tagged, capsys):
    assert main(["validate", str(tagged), "--key", "-2", "--up"]) == 1
    assert capsys.readouterr().err == "error: --up picks the way to a key by name; give one, e.g. --key C --up\n"


def test_a_bad_key_name_is_a_usage_error(tagged, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["validate", str(tagged), "--key", "H"])
    assert exit_.value.code == 2
    assert "'H' is neither semitones (-3, +1.5) nor a key (C, 'A minor', Eb, F#m)" in capsys.readouterr().err


def test_bpm_sets_the_tempo_from_the_session_bpm(tagged, capsys):
    assert transport(tagged, "--bpm", "96") == (0.0, 0.8)
    assert capsys.readouterr().err == "tempo: 120 BPM (the bpm in session.json) to 96 BPM: tempo 0.8\n"
    assert main(["validate", str(tagged), "--bpm", "300"]) == 1
    assert capsys.readouterr().err == (
        "error: --bpm 300: the song is 120 BPM, so that is tempo 2.5; give a BPM from 60 to 240 (tempo 0.5 to 2.0)\n"
    )


def test_bpm_and_tempo_together_are_a_usage_error(tagged):
    with pytest.raises(SystemExit):
        main(["validate", str(tagged), "--bpm", "96", "--tempo", "0.8"])


def test_analyze_apply_writes_key_and_tempo_and_later_commands_use_them(song, capsys, monkeypatch):  # noqa: F811
    assert main(["analyze", str(song), "--apply"]) == 0
    out = capsys.readouterr().out
    data = json.loads(song.read_text())
    assert data["key"] == "A major"
    assert "bpm" in data and "time_signature" in data  # the grid's beat, metre and bar 1 (analysis/grid.py)
    grid = f", time_signature {data['time_signature']!r}, first_downbeat_s {data['first_downbeat_s']:g}"
    assert out.splitlines()[-1] == f"wrote key 'A major', bpm {data['bpm']:g}{grid} into {song}"
    analysed = []
    monkeypatch.setattr(stored, "analyze_session", lambda *a, **k: analysed.append(a) or None)
    assert transport(song, "--key", "C") == (3.0, 1.0)
    assert "(the key in session.json)" in capsys.readouterr().err
    assert analysed == []


def test_key_by_name_without_a_session_key_uses_the_cached_analysis(song, capsys):  # noqa: F811
    assert transport(song, "--key", "G") == (-2.0, 1.0)
    first = capsys.readouterr().err.splitlines()
    assert first[0] == "analysing the song for its key and tempo (once; then it is cached)"
    assert first[-1].startswith("key: A major (analysed now; ")
    assert transport(song, "--key", "G", "--up") == (10.0, 1.0)
    assert capsys.readouterr().err.startswith("key: A major (a cached analysis; `stemhost analyze --apply` writes")


def test_tempo_variants_expand_and_play_at_their_speed(tagged, tmp_path, capsys):
    session = json.loads(tagged.read_text())
    variants = parse_variants("full,karaoke*tempo=0.8,0.9", None)
    assert [(v.name, v.tempo) for v in variants] == [
        ("full", None), ("karaoke-tempo0.8", 0.8), ("karaoke-tempo0.9", 0.9)
    ]  # fmt: skip
    with pytest.raises(SessionError, match=r"'3' is not a speed from 0.5 to 2"):
        parse_variants("tempo=0.8,3", None)
    out = tmp_path / "pack"
    assert main(["export", str(tagged), "--variants", "karaoke*tempo=0.8", "-o", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    (entry,) = manifest["files"]
    assert entry["file"] == "tagged-karaoke-tempo0.8.wav"
    assert entry["tempo"] == 0.8
    frames = soundfile.info(str(out / entry["file"])).frames
    assert frames == pytest.approx(0.5 * 48000 / 0.8, abs=64)
    assert session["bpm"] == 120
