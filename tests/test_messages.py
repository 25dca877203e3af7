"""Messages that name the fix: "did you mean", a trailing comma's own line, a folder for a file, values as typed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stemhost.cli.main import main
from stemhost.engine.compile import compile_graph
from stemhost.errors import AudioFileError, SessionError, did_you_mean
from stemhost.session.files import load_session
from stemhost.session.variants import parse_variants

from conftest import read_audio, tone, write_audio, write_session

STEMS = [{"name": "bass", "file": "Bass.wav", "role": "bass"}, {"name": "vox", "file": "vox.wav", "role": "lead_vocal"}]


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """Two stems, Bass.wav (110 Hz) and vox.wav (440 Hz); returns the session path."""
    write_audio(tmp_path / "Bass.wav", tone(110, 1.0, level=0.3))
    write_audio(tmp_path / "vox.wav", tone(440, 1.0, level=0.2))
    return write_session(tmp_path, {"title": "Song", "stems": STEMS})


def error_line(capsys, *argv: object) -> str:
    """The one `error:` line of a failing command (exit status 1)."""
    assert main([str(a) for a in argv]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_did_you_mean_names_the_nearest_choices():
    assert did_you_mean("bas", ["bass", "vox"]) == "did you mean 'bass'?"
    assert did_you_mean("bass.wav", ["Bass.wav", "vox.wav"]) == "did you mean 'Bass.wav'?"
    assert did_you_mean("base", ["drums", "bass", "brass"], n=3, cutoff=0.5) == "did you mean 'bass' or 'brass'?"
    assert did_you_mean("zzz", ["bass", "vox"]) == ""


def test_a_mistyped_stem_file_names_the_file_beside_the_session(song, capsys):
    data = {"stems": [{**STEMS[0], "file": "bass.wav"}, STEMS[1]]}
    write_session(song.parent, data)
    with pytest.raises(
        AudioFileError, match=r"stems\[0\]\.file: .*bass\.wav' does not exist; did you mean 'Bass\.wav'\?"
    ):
        compile_graph(load_session(song), song, 512)
    line = error_line(capsys, "render", song, "-o", song.parent / "mix.wav")
    assert "did you mean 'Bass.wav'?" in line and "stems[0].file" in line


@pytest.mark.parametrize("option", ["--mute", "--solo"])
def test_a_mistyped_stem_name_gets_did_you_mean(song, capsys, option):
    line = error_line(capsys, "render", song, option, "bas", "-o", song.parent / "mix.wav")
    assert f"{option} 'bas': no stem has that name or role; did you mean 'bass'? stems: bass, vox" in line


@pytest.mark.parametrize(("option", "value"), [("--gain", "voxx=+3"), ("--pan", "voxx=0.5")])
def test_a_mistyped_stem_name_in_gain_and_pan_gets_did_you_mean(song, capsys, option, value):
    line = error_line(capsys, "render", song, option, value, "-o", song.parent / "mix.wav")
    assert "did you mean 'vox'?" in line


def test_a_preset_entry_with_a_mistyped_name_warns_with_did_you_mean(song, capsys):
    preset = song.parent / "quiet.json"
    preset.write_text(json.dumps({"stems": [{"name": "voxx", "gain_db": -6}]}))
    assert main(["render", str(song), "--preset", str(preset), "-o", str(song.parent / "mix.wav")]) == 0
    err = capsys.readouterr().err
    assert "quiet.json: stems[0]: no stem has the name 'voxx'; did you mean 'vox'?" in err


def test_an_unknown_role_names_the_nearest_roles(song, capsys):
    write_session(song.parent, {"stems": [{**STEMS[0], "role": "base"}, STEMS[1]]})
    line = error_line(capsys, "validate", song)
    assert "stems[0].role:" in line and line.endswith("(got 'base'); did you mean 'bass' or 'brass'?")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('{"stems": [\n  {"name": "bass", "file": "Bass.wav"},\n\n]}\n', 2),
        ('{\n  "title": "Song",\n  "stems": [{"name": "bass", "file": "Bass.wav"}],\n}\n', 3),
        ('{"stems": [{"name": "bass", "file": "Bass.wav",}]}', 1),
    ],
)
def test_a_trailing_comma_is_named_on_its_own_line(song, capsys, text, line):
    song.write_text(text)
    with pytest.raises(SessionError, match=rf"session\.json: line {line}: trailing comma on line {line}; remove it"):
        load_session(song)
    assert f"trailing comma on line {line}" in error_line(capsys, "validate", song)


def test_other_malformed_json_keeps_the_parsers_line_and_column(song):
    song.write_text('{"stems": [\n  {"name": "bass" "file": "Bass.wav"}\n]}')
    with pytest.raises(SessionError, match=r"line 2, column 19: malformed JSON"):
        load_session(song)


def test_a_folder_given_for_the_session_file_says_so(song, capsys):
    line = error_line(capsys, "render", song.parent, "-o", song.parent / "mix.wav")
    assert line == f"error: {song.parent}: is a folder; give the session file inside it, e.g. {song}"
    empty = song.parent / "empty"
    empty.mkdir()
    line = error_line(capsys, "validate", empty)
    assert line.endswith(f"is a folder; give the session file inside it, e.g. {empty / 'session.json'}")


@pytest.mark.parametrize("typed", ["+30", "-12.50", "+1e2"])
def test_key_out_of_range_is_echoed_as_typed(song, capsys, typed):
    line = error_line(capsys, "render", song, f"--key={typed}", "-o", song.parent / "mix.wav")
    assert line.startswith(f"error: --key {typed}: key_shift:"), line


def test_export_solo_takes_a_stem_name_and_renders_only_that_stem(song):
    session = load_session(song)
    [variant] = parse_variants("solo:vox", session)
    assert variant.name == "solo-vox"
    played = variant.apply(session)
    assert [s.name for s in played.stems if played.is_audible(s)] == ["vox"]
    assert main(["export", str(song), "--variants", "solo:vox,solo:bass", "-o", str(song.parent / "pack")]) == 0
    for name, file in (("vox", "vox.wav"), ("bass", "Bass.wav")):
        audio, _ = read_audio(song.parent / "pack" / f"song-solo-{name}.wav")
        stem, _ = read_audio(song.parent / file)
        expected = np.sqrt(0.5) * stem[0]  # a mono stem, centred: -3 dB each side
        np.testing.assert_allclose(audio[:, : stem.shape[1]], np.stack([expected, expected]), atol=1e-4)


def test_export_solo_with_a_mistyped_name_gets_did_you_mean(song):
    with pytest.raises(SessionError, match=r"'solo:voxx': no stem has the name or role 'voxx'; did you mean 'vox'\?"):
        parse_variants("solo:voxx", load_session(song))
