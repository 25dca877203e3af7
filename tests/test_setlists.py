"""Setlists and singers: the format, one song prepared as played, ``show --check`` and the schemas."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from stemhost.cli.main import main
from stemhost.errors import SessionError
from stemhost.session.setlists import load_setlist, setlist_schema
from stemhost.session.singers import singers_schema
from stemhost.show.entries import prepared_entry

from conftest import tone, without_steps, write_audio, write_session

ROOT = Path(__file__).resolve().parents[1]
SR = 48000


def make_song(folder: Path, name: str, seconds: float = 1.0, **fields) -> str:
    """folder/name/session.json with a drum and a lead vocal stem; returns its path relative to folder."""
    song = folder / name
    song.mkdir(parents=True, exist_ok=True)
    write_audio(song / "drums.wav", tone(100, seconds))
    write_audio(song / "vox.wav", tone(440, seconds))
    stems = [
        {"name": "drums", "file": "drums.wav", "role": "drums"},
        {"name": "vox", "file": "vox.wav", "role": "lead_vocal"},
    ]
    write_session(song, {"stems": stems, **fields})
    return f"{name}/session.json"


def write_setlist(folder: Path, data: dict, name: str = "setlist.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(data))
    return path


def check(path: Path, capsys) -> tuple[int, list[str], str]:
    code = main(["show", str(path), "--check"])
    out, err = capsys.readouterr()
    return code, [line for line in without_steps(err).splitlines() if line.startswith("error: ")], out


def test_the_issue_example_is_a_setlist_with_defaults(tmp_path):
    make_song(tmp_path, "silver")
    make_song(tmp_path, "twinkle")
    path = write_setlist(tmp_path, {"songs": [
        {"session": "silver/session.json", "count_in_bars": 1, "gap_s": 2.0, "advance": "auto"},
        {"session": "twinkle/session.json", "preset": ["karaoke"], "key_shift": -2},
    ]})  # fmt: skip
    songs = load_setlist(path).setlist.songs
    assert (songs[0].count_in_bars, songs[0].gap_s, songs[0].advance) == (1, 2.0, "auto")
    assert (songs[1].preset, songs[1].key_shift, songs[1].advance, songs[1].count_in_bars) == (
        ("karaoke",),
        -2,
        "stop",
        None,
    )


def test_a_song_is_prepared_with_presets_mix_key_tempo_and_count_in(tmp_path):
    song = make_song(tmp_path, "a", bpm=120)
    path = write_setlist(tmp_path, {"songs": [{
        "session": song, "preset": ["karaoke"], "key_shift": -2, "tempo": 0.9, "count_in_bars": 2,
        "solo": ["drums"], "gain": {"drums": -3.5}, "pan": {"lead_vocal": 0.25},
    }]})  # fmt: skip
    session, session_path = prepared_entry(load_setlist(path), 0)
    assert session_path == (tmp_path / song).resolve()
    drums, vox = session.stems
    assert vox.mute  # karaoke
    assert (drums.solo, drums.gain_db, vox.pan) == (True, -3.5, 0.25)
    assert (session.key_shift, session.tempo) == (-2, 0.9)
    assert session.click is not None and (session.click.count_in_bars, session.click.enabled) == (2, False)


@pytest.mark.parametrize(
    ("song", "expected"),
    [
        ({"session": "nope/session.json"}, "songs[0].session: 'nope/session.json': no such session file"),
        ({"session": "../outside/session.json"}, "songs[0].session: '../outside/session.json' lies outside the setlist's folder"),
        ({"session": "link/session.json"}, "songs[0].session: 'link/session.json' lies outside the setlist's folder"),
        ({"session": "a/session.json", "preset": ["karaok"]}, "songs[0].preset[0]: 'karaok' is neither a bundled preset nor a file in the folder; did you mean 'karaoke'?"),
        ({"session": "a/session.json", "preset": ["mine.json"]}, "songs[0].preset[0]: 'mine.json': no such preset file"),
        ({"session": "a/session.json", "singer": "Anna"}, "songs[0].singer: 'Anna' is not in singers.json; did you mean 'Ana'? singers: Ana, Ben"),
        ({"session": "a/session.json", "singer": "Ana", "key_shift": 2}, "songs[0]: give key_shift or singer, not both"),
        ({"session": "a/session.json", "mute": ["voxx"]}, "songs[0].mute[0]: no stem has the name or role 'voxx'; did you mean 'vox'?"),
        ({"session": "a/session.json", "gain": {"bass": 2}}, "songs[0].gain.bass: no stem has the name or role 'bass'"),
        ({"session": "a/session.json", "count_in_bars": 1}, "songs[0].count_in_bars: 1: a count-in needs the song's tempo"),
        ({"session": "late/session.json"}, "songs[0] (late/session.json): session.json: sections[1].start_s: 5 s ('Outro') is past the song's end (1.00 s"),
        ({"session": "metre/session.json"}, "songs[0] (metre/session.json): session.json: time_signature: write beats per bar"),
        ({"session": "far/session.json"}, "songs[0] (far/session.json): one of the session's stems (stems[0].file): "),
        ({"session": "gone/session.json"}, "songs[0] (gone/session.json): session.json: stems[1].file"),
        ({"session": "a/session.json", "advance": "later"}, "setlist.json: songs[0].advance: input should be 'stop' or 'auto' (got 'later')"),
        ({"session": "a/session.json", "gian": {}}, "setlist.json: songs[0].gian: unknown field; did you mean 'gain'?"),
    ],
)  # fmt: skip
def test_each_bad_song_is_one_error_line_naming_the_song_and_field(tmp_path, capsys, song, expected):
    show = tmp_path / "show"
    make_song(show, "a")
    make_song(tmp_path, "outside")
    os.symlink(tmp_path / "outside", show / "link")
    make_song(show, "late", sections=[{"name": "Intro", "start_s": 0}, {"name": "Outro", "start_s": 5}])
    make_song(show, "metre", bpm=100, time_signature="4/5")
    write_audio(tmp_path / "far.wav", tone(220, 1))
    write_session(
        show / "far" if (show / "far").mkdir() is None else None, {"stems": [{"name": "x", "file": "../../far.wav"}]}
    )
    make_song(show, "gone")
    (show / "gone" / "vox.wav").unlink()
    (show / "singers.json").write_text(
        json.dumps({"singers": [{"name": "Ana", "voice": "alto"}, {"name": "Ben", "range": "A2-E4"}]})
    )
    code, errors, _ = check(write_setlist(show, {"songs": [song]}), capsys)
    assert code == 1
    assert len(errors) == 1, errors
    assert errors[0].startswith("error: setlist.json: songs[0]") and expected in errors[0], errors[0]


def test_check_lists_every_problem_at_once(tmp_path, capsys):
    good = make_song(tmp_path, "good", title="Good Song")
    make_song(tmp_path, "late", sections=[{"name": "Coda", "start_s": 9}])
    (tmp_path / "late" / "drums.wav").unlink()
    path = write_setlist(tmp_path, {"songs": [
        {"session": good},
        {"session": "missing/session.json"},
        {"session": good, "preset": ["nope"]},
        {"session": "late/session.json"},
    ]})  # fmt: skip
    code, errors, out = check(path, capsys)
    assert code == 1 and out == ""
    assert [e.split(":")[2].strip()[:8] for e in errors] == ["songs[1]", "songs[2]", "songs[3]", "songs[3]"]
    assert "stems[0].file" in errors[2] and "sections[0].start_s: 9 s ('Coda')" in errors[3]


def test_a_clean_check_prints_one_line_per_song(tmp_path, capsys):
    one = make_song(tmp_path, "one", seconds=2.0, title="First", bpm=120)
    two = make_song(tmp_path, "two", seconds=1.5)
    path = write_setlist(tmp_path, {"songs": [
        {"session": one, "count_in_bars": 1, "gap_s": 3, "advance": "auto", "tempo": 0.8},
        {"session": two, "key_shift": -2},
    ]})  # fmt: skip
    code, errors, out = check(path, capsys)
    assert code == 0 and errors == []
    assert out.splitlines() == [
        "  1. First: 0:02.500, key +0, tempo 0.8, count-in 1 bar, gap 3 s, then auto",
        "  2. two: 0:01.500, key -2, count-in 0 bars, gap 2 s, then stop",
        f"ok: {path} (2 songs, 0:04.000 of music)",
    ]


def test_a_setlist_that_is_not_json_is_one_error(tmp_path, capsys):
    path = tmp_path / "setlist.json"
    path.write_text('{"songs": [}')
    code, errors, _ = check(path, capsys)
    assert code == 1 and len(errors) == 1 and errors[0].startswith("error: ") and "setlist.json: line 1" in errors[0]


# singers


def test_a_singer_plays_the_song_in_the_key_fit_picks_with_her_presets_and_mix(tmp_path):
    from stemhost.analysis.fit_report import fit_report
    from test_fit import MELODY, voice

    song = tmp_path / "song"
    song.mkdir()
    write_audio(song / "lead.wav", voice(MELODY))
    write_audio(song / "keys.wav", tone(220, 5.5))
    stems = [
        {"name": "lead", "file": "lead.wav", "role": "lead_vocal"},
        {"name": "keys", "file": "keys.wav", "role": "keys"},
    ]
    session_file = write_session(song, {"stems": stems})
    (tmp_path / "singers.json").write_text(json.dumps({"singers": [
        {"name": "Ana", "voice": "alto", "preset": ["karaoke"], "mix": {"gain": {"keys": -3}}},
        {"name": "Ben", "range": "A2-E4"},
    ]}))  # fmt: skip
    path = write_setlist(tmp_path, {"songs": [{"session": "song/session.json", "singer": "Ana", "tempo": 0.9}]})
    session, _ = prepared_entry(load_setlist(path), 0)
    from stemhost.session.files import load_session

    expected = fit_report(load_session(session_file), session_file, "alto").choice.shift
    assert session.key_shift == expected == -4  # B3-E5 sung by an alto (F3-D5): G3-C5
    lead, keys = session.stems
    assert lead.mute and keys.gain_db == -3 and session.tempo == 0.9


@pytest.mark.parametrize(
    ("singers", "expected"),
    [
        ({"singers": [{"name": "Ana"}]}, "singers.json: singers[0]: give exactly one of 'voice'"),
        ({"singers": [{"name": "Ana", "voice": "alto", "range": "A2-E4"}]}, "give exactly one of 'voice'"),
        ({"singers": [{"name": "Ana", "range": "H2-E4"}]}, "singers.json: singers[0].range: 'H2-E4' is not a note range"),
        ({"singers": [{"name": "Ana", "voice": "altoo"}]}, "singers.json: singers[0].voice: input should be"),
        ({"singers": [{"name": "Ana", "voice": "alto"}, {"name": "Ana", "voice": "bass"}]}, "singers[1].name: 'Ana' is used twice"),
    ],
)  # fmt: skip
def test_bad_singers_files_are_one_line(tmp_path, singers, expected):
    make_song(tmp_path, "a")
    (tmp_path / "singers.json").write_text(json.dumps(singers))
    path = write_setlist(tmp_path, {"songs": [{"session": "a/session.json", "singer": "Ana"}]})
    with pytest.raises(SessionError, match="^singers.json: singers") as caught:
        prepared_entry(load_setlist(path), 0)
    assert expected in str(caught.value)


def test_a_singer_without_a_singers_file_says_where_one_goes(tmp_path):
    make_song(tmp_path, "a")
    path = write_setlist(tmp_path, {"songs": [{"session": "a/session.json", "singer": "Ana"}]})
    with pytest.raises(SessionError, match=r"songs\[0\]\.singer: 'Ana': the setlist has no singers file"):
        prepared_entry(load_setlist(path), 0)


def test_a_singers_file_outside_the_folder_is_refused(tmp_path):
    show = tmp_path / "show"
    make_song(show, "a")
    (tmp_path / "singers.json").write_text(json.dumps({"singers": [{"name": "Ana", "voice": "alto"}]}))
    path = write_setlist(
        show, {"singers": "../singers.json", "songs": [{"session": "a/session.json", "singer": "Ana"}]}
    )
    with pytest.raises(SessionError, match="setlist.json: singers: '../singers.json' lies outside"):
        prepared_entry(load_setlist(path), 0)


# schemas


@pytest.mark.parametrize(("name", "made"), [("setlist", setlist_schema), ("singers", singers_schema)])
def test_committed_schemas_are_current(name, made):
    committed = json.loads((ROOT / "presets" / f"{name}.schema.json").read_text())
    assert committed == made(), f"run: stemhost schema {name} > presets/{name}.schema.json"


@pytest.mark.parametrize("name", ["setlist", "singers"])
def test_schema_command_prints_the_committed_schema(name, capsys):
    assert main(["schema", name]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads((ROOT / "presets" / f"{name}.schema.json").read_text())


def test_the_schema_forbids_key_shift_with_singer():
    song = setlist_schema()["$defs"]["Song"]
    assert song["not"] == {"required": ["key_shift", "singer"]} and song["additionalProperties"] is False
