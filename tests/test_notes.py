"""Note names, note ranges, voice ranges and key names."""

from __future__ import annotations

import pytest

from stemhost.errors import SessionError
from stemhost.session.notes import (
    KEY_NAMES,
    VOICE_RANGES,
    key_name,
    note_name,
    parse_key,
    parse_note,
    parse_range,
    transpose_key,
)


@pytest.mark.parametrize(
    ("text", "midi"),
    [
        ("A4", 69),
        ("C4", 60),
        ("A2", 45),
        ("C#4", 61),
        ("Eb3", 51),
        ("E4", 64),
        ("Bb2", 46),
        ("B#3", 60),
        ("Cb4", 59),
        ("F##4", 67),
        ("Abb4", 67),
        ("c4", 60),
        (" G3 ", 55),
        ("C-1", 0),
        ("G9", 127),
    ],
)
def test_parse_note_gives_midi_numbers(text, midi):
    assert parse_note(text) == float(midi)
    assert isinstance(parse_note(text), float)


@pytest.mark.parametrize("text", ["H2", "Z9", "", "A", "4", "C#", "A4.5", "A#b4", "Cb-1", "G#9", "C10", "la3"])
def test_parse_note_rejects_what_is_not_a_note(text):
    with pytest.raises(SessionError, match=r"(not a note|outside the MIDI range)"):
        parse_note(text)


@pytest.mark.parametrize(
    ("midi", "name"),
    [(57, "A3"), (60, "C4"), (61, "C#4"), (69, "A4"), (45, "A2"), (0, "C-1"), (127, "G9"), (70, "A#4")],
)
def test_note_name_spells_with_sharps(midi, name):
    assert note_name(midi) == name


def test_note_name_rounds_to_the_nearest_note():
    assert note_name(60.49) == "C4"
    assert note_name(60.5) == "C#4"
    assert note_name(59.6) == "C4"
    assert note_name(59.4) == "B3"


def test_note_name_and_parse_note_round_trip():
    for midi in range(128):
        assert parse_note(note_name(midi)) == midi


def test_note_name_rejects_nan():
    with pytest.raises(SessionError, match="not a note number"):
        note_name(float("nan"))


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("A2-E4", 45, 64),
        ("A2 - E4", 45, 64),
        ("A2 to E4", 45, 64),
        ("A2–E4", 45, 64),
        ("Bb2-F#4", 46, 66),
        ("C-1-C4", 0, 60),
        ("E4-E4", 64, 64),
        ("tenor", 48, 69),
        ("Bass", 40, 64),
    ],
)
def test_parse_range_gives_low_then_high(text, low, high):
    assert parse_range(text) == (float(low), float(high))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("E4-A2", "E4 is above A2; write the lower note first"),
        ("A2", "not a note range"),
        ("A2-H4", "not a note range"),
        ("", "not a note range"),
        ("falsetto", "one of soprano, mezzo, alto, tenor, baritone, bass"),
        ("A2-G#9x", "not a note range"),
    ],
)
def test_parse_range_rejects_bad_ranges(text, match):
    with pytest.raises(SessionError, match=match):
        parse_range(text)


def test_voice_ranges_are_the_usual_choral_ranges():
    assert VOICE_RANGES == {
        "soprano": ("C4", "A5"),
        "mezzo": ("A3", "F5"),
        "alto": ("F3", "D5"),
        "tenor": ("C3", "A4"),
        "baritone": ("A2", "F4"),
        "bass": ("E2", "E4"),
    }
    spans = {name: parse_range(f"{low}-{high}") for name, (low, high) in VOICE_RANGES.items()}
    for low, high in spans.values():
        assert 12 <= high - low <= 24  # an octave and a half or so each
    order = ["bass", "baritone", "tenor", "alto", "mezzo", "soprano"]
    lows = [spans[name][0] for name in order]
    assert lows == sorted(lows)


@pytest.mark.parametrize(
    ("pc", "mode", "name"),
    [
        (9, "major", "A major"),
        (6, "minor", "F# minor"),
        (0, "major", "C major"),
        (5, "major", "F major"),
        (10, "major", "Bb major"),
        (3, "major", "Eb major"),
        (8, "major", "Ab major"),
        (1, "major", "Db major"),
        (6, "major", "F# major"),
        (11, "major", "B major"),
        (2, "minor", "D minor"),
        (7, "minor", "G minor"),
        (0, "minor", "C minor"),
        (5, "minor", "F minor"),
        (10, "minor", "Bb minor"),
        (1, "minor", "C# minor"),
        (8, "minor", "G# minor"),
        (3, "minor", "D# minor"),
        (21, "major", "A major"),
        (-3, "minor", "A minor"),
    ],
)
def test_key_name_uses_conventional_spellings(pc, mode, name):
    assert key_name(pc, mode) == name


def test_key_names_are_distinct_and_sound_like_their_pitch_class():
    for mode, names in KEY_NAMES.items():
        assert len(set(names)) == 12
        for pc, tonic in enumerate(names):
            assert parse_note(f"{tonic}4") % 12 == pc
            assert parse_key(f"{tonic} {mode}") == (pc, mode)


def test_key_name_rejects_other_modes():
    with pytest.raises(SessionError, match="'dorian' is not a mode"):
        key_name(2, "dorian")


@pytest.mark.parametrize(
    ("pc", "mode", "semitones", "name"),
    [
        (9, "major", 2, "B major"),
        (0, "major", -2, "Bb major"),
        (4, "minor", -12, "E minor"),
        (4, "minor", 12, "E minor"),
        (9, "minor", 3, "C minor"),
        (7, "major", -1, "F# major"),
        (7, "major", 0.6, "Ab major"),
        (7, "major", -0.4, "G major"),
        (11, "major", 1, "C major"),
    ],
)
def test_transpose_key(pc, mode, semitones, name):
    assert transpose_key(pc, mode, semitones) == name


@pytest.mark.parametrize(
    ("text", "key"),
    [("F# minor", (6, "minor")), ("Bbm", (10, "minor")), ("Eb", (3, "major")), ("a min", (9, "minor"))],
)
def test_parse_key(text, key):
    assert parse_key(text) == key


def test_parse_key_rejects_other_text():
    with pytest.raises(SessionError, match="not a key"):
        parse_key("H dur")
