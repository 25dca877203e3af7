"""`stemhost fit`, `render --fit` and `analyze` end to end, and the arithmetic of choosing a key."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from stemhost.analysis.fit import fit_key, singer_range
from stemhost.cli.main import main
from stemhost.errors import SessionError
from stemhost.session.notes import parse_note

from conftest import read_audio, without_steps, write_audio, write_session

SR = 48000
MELODY = ["B3", "E4", "A4", "C#5", "E5", "C#5", "A4", "E4"]  # B3 to E5, most time around A4


def voice(notes: list[str], seconds: float = 0.6) -> np.ndarray:
    """A sung line: each note a vowel-like harmonic tone with vibrato, with short gaps between."""
    pieces = []
    for name in notes:
        f0 = 440.0 * 2 ** ((parse_note(name) - 69) / 12)
        t = np.arange(round(seconds * SR)) / SR
        phase = 2 * np.pi * np.cumsum(f0 * 2 ** (25 / 1200 * np.sin(2 * np.pi * 5.5 * t))) / SR
        tone = sum(np.sin(k * phase) / k for k in range(1, 7)) * np.minimum(1, np.minimum(t, t[-1] - t) / 0.03)
        pieces += [0.2 * tone, np.zeros(SR // 10)]
    return np.concatenate(pieces).astype(np.float32)[None]


@pytest.fixture
def song(tmp_path: Path) -> Path:
    write_audio(tmp_path / "lead.wav", voice(MELODY))
    t = np.arange(round(5.5 * SR)) / SR
    chords = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) * 0.05  # A major
    write_audio(tmp_path / "keys.wav", chords.astype(np.float32)[None])
    return write_session(
        tmp_path,
        {
            "stems": [
                {"name": "lead", "file": "lead.wav", "role": "lead_vocal"},
                {"name": "keys", "file": "keys.wav", "role": "keys"},
            ]
        },
    )


def test_fit_takes_the_smallest_shift_that_fits_comfortably():
    low, high = parse_note("F3"), parse_note("D5")  # alto
    choice = fit_key(parse_note("B3"), parse_note("E5"), (parse_note("E4"), parse_note("C#5")), low, high)
    assert choice.fits and choice.comfortable and (choice.shift, choice.octave) == (-2, 0)  # -3 to -6 fit as well
    assert (choice.low_midi, choice.high_midi) == (parse_note("A3"), parse_note("D5"))
    assert (choice.room_low, choice.room_high) == (4, 0)


def test_fit_prefers_no_shift_when_the_melody_is_already_centred():
    choice = fit_key(60, 72, (64, 68), 55, 77)
    assert choice.fits and choice.shift == 0 and choice.octave == 0


@pytest.mark.parametrize(("singer", "shift"), [("D3-B3", -5), ("A3-F#4", +2)])
def test_notes_are_compared_as_notes(singer, shift):
    """A top E4 sung 4 cents sharp is an E4: the G3-E4 melody fits a nine-semitone range exactly."""
    low, high, _ = singer_range(singer)
    choice = fit_key(parse_note("G3") - 0.03, parse_note("E4") + 0.04, (56.8, 63.1), low, high)
    assert choice.fits and not choice.comfortable and (choice.shift, choice.octave) == (shift, 0)
    assert (choice.room_low, choice.room_high) == (0, 0)


def test_a_soprano_sings_a_low_melody_an_octave_up_over_the_band_in_its_key():
    low, high, _ = singer_range("soprano")
    choice = fit_key(parse_note("G3"), parse_note("E4"), (parse_note("A3"), parse_note("D4")), low, high)
    assert (choice.shift, choice.octave, choice.sung) == (0, 12, "an octave up")
    assert (choice.low_midi, choice.high_midi) == (parse_note("G4"), parse_note("E5"))


def test_a_bass_sings_a_high_melody_an_octave_down():
    low, high, _ = singer_range("bass")  # E2-E4
    choice = fit_key(parse_note("G3"), parse_note("E5"), (parse_note("B3"), parse_note("C5")), low, high)
    assert (choice.shift, choice.octave, choice.comfortable) == (0, -12, True)


def test_when_nothing_fits_the_closest_shift_overshoots_least():
    choice = fit_key(parse_note("B3"), parse_note("E5"), (64, 73), parse_note("A2"), parse_note("C3"))
    assert not choice.fits
    assert (choice.shift, choice.octave) == (-9, -12)  # 17 semitones centred on a 3-semitone range
    assert choice.room_low == choice.room_high == -7


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("alto", (53, 74)), ("Tenor", (48, 69)), ("A2-E4", (45, 64)), ("C#3-F#4", (49, 66))],
)
def test_singer_range_takes_voice_types_and_note_ranges(spec, expected):
    assert singer_range(spec)[:2] == expected


@pytest.mark.parametrize("spec", ["H2-Z9", "E4-A2", "counter", "A2-"])
def test_bad_ranges_are_clear_errors(spec):
    with pytest.raises(SessionError):
        singer_range(spec)


def test_fit_prints_the_shift_new_key_range_and_room_and_applies_it(song, capsys):
    assert main(["fit", str(song), "--voice", "alto", "--apply"]) == 0
    out = capsys.readouterr().out
    assert "singer: alto (F3-D5)" in out
    assert "melody: B3-E5 (tessitura B3-E5)" in out  # every note as long: the tessitura is the whole range
    assert "fits key shift -4, new key F major (from A major)\n" in out  # the one comfortable shift: G3-C5 in F3-D5
    assert "new melody range: G3-C5\n" in out
    assert "room: +2 semitones below, +2 above" in out
    assert json.loads(song.read_text())["key_shift"] == -4


def test_a_range_nothing_fits_is_an_error_and_nothing_is_applied(song, capsys):
    before = song.read_text()
    assert main(["fit", str(song), "--range", "A2-C3", "--apply"]) == 1
    out, err = capsys.readouterr()
    err = without_steps(err)
    assert "closest: key shift -9" in out and "new melody range: D2-G3 (sung an octave down)" in out
    assert "room: -7 semitones below, -7 above" in out
    assert err.count("\n") == 1 and err.startswith("error: session.json: no key shift from -12 to +12 fits the melody")
    assert song.read_text() == before


def test_render_fit_refuses_a_range_nothing_fits(song, tmp_path, capsys):
    out = tmp_path / "fitted.wav"
    assert main(["render", str(song), "--fit", "A2-C3", "-o", str(out)]) == 1
    assert "no key shift" in capsys.readouterr().err and not out.exists()


def test_fit_says_which_octave_the_singer_takes(song, capsys):
    assert main(["fit", str(song), "--voice", "bass"]) == 0  # B3-E5 for E2-E4: an octave down
    out = capsys.readouterr().out
    assert "(sung an octave down)" in out


def test_render_fit_renders_in_the_fitted_key(song, tmp_path, capsys):
    out = tmp_path / "fitted.wav"
    assert main(["render", str(song), "--fit", "alto", "--mute", "keys", "-o", str(out), "--bit-depth", "32f"]) == 0
    assert "fits key shift -4, new key F major" in capsys.readouterr().out
    audio, _ = read_audio(out)
    first = audio[0, round(0.15 * SR) : round(0.45 * SR)]  # the first note: B3 down 4 semitones is G3
    spectrum = np.abs(np.fft.rfft(first * np.hanning(first.size), 1 << 20))
    hz = np.fft.rfftfreq(1 << 20, 1 / SR)
    band = (hz > 150) & (hz < 250)
    found = hz[band][np.argmax(spectrum[band])]
    assert abs(1200 * math.log2(found / (440 * 2 ** ((parse_note("G3") - 69) / 12)))) < 30


@pytest.mark.parametrize(
    ("stems", "message"),
    [
        ([{"name": "keys", "file": "keys.wav", "role": "keys"}], "no stem has the role 'lead_vocal'"),
        ([{"name": "lead", "file": "silent.wav", "role": "lead_vocal"}], "holds no sung note"),
    ],
)
def test_fit_without_a_usable_lead_vocal_is_one_clear_error(song, capsys, stems, message):
    write_audio(song.parent / "silent.wav", np.zeros((1, SR), np.float32))
    path = write_session(song.parent, {"stems": stems}, name="other.json")
    assert main(["fit", str(path), "--range", "A2-E4"]) == 1
    err = without_steps(capsys.readouterr().err)
    assert err.count("\n") == 1 and message in err and err.startswith("error: other.json: ")


@pytest.mark.parametrize(("spec", "message"), [("H2-Z9", "'H2-Z9'"), ("E4-A2", "E4 is above A2")])
def test_fit_with_a_bad_range_is_one_clear_error(song, capsys, spec, message):
    assert main(["fit", str(song), "--range", spec]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_analyze_prints_and_writes_json(song, tmp_path, capsys):
    target = tmp_path / "figures.json"
    assert main(["analyze", str(song), "--json", str(target)]) == 0
    out = capsys.readouterr().out
    assert "key: A major" in out and "lead vocal: B3 to E5" in out
    figures = json.loads(target.read_text())
    assert figures["key"]["name"] == "A major"
    assert figures["lead_vocal"]["low_note"] == "B3" and figures["lead_vocal"]["high_note"] == "E5"
    assert [s["name"] for s in figures["stems"]] == ["lead", "keys"]


def test_render_never_loads_librosa(song, tmp_path):
    code = (
        "import sys; from stemhost.cli.main import main; "
        f"status = main(['render', {str(song)!r}, '-o', {str(tmp_path / 'o.wav')!r}]); "
        "print(status, 'librosa' in sys.modules, 'numba' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split()[-3:] == ["0", "False", "False"], done.stderr


def test_analyze_also_names_the_key_and_tempo_the_session_plays_at(song, capsys):
    assert main(["analyze", str(song), "--key", "-4", "--tempo", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "key: A major" in out
    assert "F major in this session (key_shift -4)" in out
