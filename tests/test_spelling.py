"""Notes and keys spelled in the key's own accidentals: fit and analyze output, ranges echoed as given, and key
tags within their format's rules (ID3's TKEY: three characters at most)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from stemhost.cli.main import main
from stemhost.session.notes import note_name, short_key_name, spell_key, uses_flats
from test_fit import SR, voice

from conftest import tone, write_audio, write_session

MELODY_EB = ["Eb3", "G3", "Bb3", "C4", "Bb3", "G3", "Eb3", "Bb3"]  # Eb3 to C4


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def flat_song(tmp_path):
    """A melody in Eb major over Eb major chords."""
    write_audio(tmp_path / "lead.wav", voice(MELODY_EB))
    t = np.arange(round(5.5 * SR)) / SR
    chords = sum(np.sin(2 * np.pi * f * t) for f in (155.56, 196.0, 233.08)) * 0.05  # Eb G Bb
    write_audio(tmp_path / "keys.wav", chords.astype(np.float32)[None])
    stems = [
        {"name": "lead", "file": "lead.wav", "role": "lead_vocal"},
        {"name": "keys", "file": "keys.wav", "role": "keys"},
    ]
    return write_session(tmp_path, {"stems": stems})


@pytest.mark.parametrize(
    ("midi", "key", "name"),
    [
        (63, (3, "major"), "Eb4"),  # Eb major
        (51, (0, "minor"), "Eb3"),  # C minor: three flats
        (70, (5, "major"), "Bb4"),  # F major: one flat
        (70, (2, "minor"), "Bb4"),  # D minor
        (61, (9, "major"), "C#4"),  # A major
        (66, (4, "minor"), "F#4"),  # E minor
        (66, (6, "major"), "F#4"),  # F# major, not Gb
        (61, None, "C#4"),
        (60, (3, "major"), "C4"),
    ],
)
def test_notes_are_spelled_in_the_key(midi, key, name):
    assert note_name(midi, key) == name


def test_flat_keys_are_the_five_flat_majors_and_their_relative_minors():
    assert sorted(pc for pc in range(12) if uses_flats(pc, "major")) == [1, 3, 5, 8, 10]  # Db Eb F Ab Bb
    assert sorted(pc for pc in range(12) if uses_flats(pc, "minor")) == [0, 2, 5, 7, 10]  # C D F G Bb


@pytest.mark.parametrize(
    ("key", "short"),
    [("Eb minor", "Ebm"), ("A major", "A"), ("F# minor", "F#m"), ("Bbm", "Bbm"), ("c minor", "Cm"), ("Db", "Db")],
)
def test_id3_key_names_have_three_characters_at_most(key, short):
    assert short_key_name(key) == short
    assert len(short) <= 3


def test_a_key_is_spelled_as_written_until_it_moves():
    assert spell_key("Eb minor") == "Eb minor"  # not D# minor
    assert spell_key("ebm", 12) == "Eb minor"
    assert spell_key("Eb minor", 2) == "F minor"
    assert spell_key("Eb major", -3) == "C major"


def test_fit_spells_the_melody_in_the_song_key_and_echoes_the_range(flat_song, capsys):
    assert main(["fit", str(flat_song), "--range", "Bb3-F5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "singer: Bb3-F5"
    assert out[1].startswith("melody: Eb3-C4 (tessitura ")
    assert "#" not in out[1]


def test_analyze_spells_the_lead_vocal_in_the_song_key(flat_song, capsys):
    assert main(["analyze", str(flat_song)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(("key: Eb major", "key: C minor"))
    (vocal,) = [line for line in out if line.startswith("lead vocal: ")]
    assert vocal.startswith("lead vocal: Eb3 to C4, tessitura ")
    notes = [line.split()[0] for line in out[out.index(vocal) + 1 :]]
    assert set(notes) == {"Eb3", "G3", "Bb3", "C4"}
    assert main(["analyze", str(flat_song), "--json", "-"]) == 0
    figures = json.loads(capsys.readouterr().out)["lead_vocal"]
    assert (figures["low_note"], figures["high_note"]) == ("Eb3", "C4")
    assert {entry["note"] for entry in figures["histogram"]} == {"Eb3", "G3", "Bb3", "C4"}


@pytest.mark.parametrize(("shift", "tkey"), [(0, "Ebm"), (2, "Fm"), (-1, "Dm")])
def test_mp3_key_tag_is_id3_short_form(tmp_path, shift, tkey):
    mutagen = pytest.importorskip("mutagen")
    write_audio(tmp_path / "keys.wav", tone(311.13, 0.3))
    session = write_session(
        tmp_path, {"key": "Eb minor", "key_shift": shift, "stems": [{"name": "k", "file": "keys.wav", "role": "drums"}]}
    )
    assert main(["render", str(session), "-o", str(tmp_path / "out.mp3"), "--tail", "0"]) == 0
    frames = mutagen.File(str(tmp_path / "out.mp3")).tags
    assert str(frames["TKEY"]) == tkey and len(str(frames["TKEY"])) <= 3
    assert main(["render", str(session), "-o", str(tmp_path / "out.flac"), "--tail", "0"]) == 0
    assert mutagen.File(str(tmp_path / "out.flac"))["KEY"] == [tkey]
    assert main(["render", str(session), "-o", str(tmp_path / "out.wav"), "--tail", "0"]) == 0
    name = {0: "Eb minor", 2: "F minor", -1: "D minor"}[shift]
    assert _comment(tmp_path / "out.wav") == f"key {name}"  # the WAV comment keeps the name


def _comment(path) -> str:
    with soundfile.SoundFile(str(path)) as f:
        return f.comment
