"""``stemhost show SETLIST --render``: the set in one file, songs where the setlist puts them, the cue bus aligned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from stemhost.cli.main import main
from stemhost.errors import AudioFileError
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.setlists import load_setlist
from stemhost.show.entries import prepared_entry
from stemhost.show.render import render_show

from conftest import noise, read_audio, tone, write_audio, write_session

SR = 48000
EXACT = RenderOptions(tail_s=0.0, bit_depth="32f")


def make_song(folder: Path, name: str, seconds: float, freq: float, cue: bool = False, **fields) -> str:
    """A song of two stems (a tone and noise) of a known length; with cue, a third stem on a cue bus kept out of the mix."""
    song = folder / name
    song.mkdir(parents=True)
    write_audio(song / "tone.wav", tone(freq, seconds, channels=2))
    write_audio(song / "noise.wav", noise(seconds, seed=round(freq)))
    stems = [{"name": "tone", "file": "tone.wav"}, {"name": "noise", "file": "noise.wav", "pan": -0.5}]
    if cue:
        write_audio(song / "ticks.wav", tone(1000, seconds, level=0.5))
        stems.append({"name": "ticks", "file": "ticks.wav", "output": "cue"})
        fields["buses"] = [{"name": "cue", "device_channels": [3, 4]}]
    write_session(song, {"stems": stems, **fields})
    return f"{name}/session.json"


@pytest.fixture
def show(tmp_path: Path) -> Path:
    """Three songs of 1.5 s, 0.8 s (with a cue bus) and 1.2 s, gaps of 0.5 s and 0.25 s."""
    songs = [make_song(tmp_path, "one", 1.5, 220), make_song(tmp_path, "two", 0.8, 330, cue=True),
             make_song(tmp_path, "three", 1.2, 440)]  # fmt: skip
    data = {"title": "Friday", "songs": [
        {"session": songs[0], "gap_s": 0.5},
        {"session": songs[1], "gap_s": 0.25, "gain": {"tone": -6}},
        {"session": songs[2], "gap_s": 9, "key_shift": 0},
    ]}  # fmt: skip
    path = tmp_path / "setlist.json"
    path.write_text(json.dumps(data))
    return path


def song_renders(
    setlist: Path, out: Path, options: RenderOptions = EXACT
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """Each song rendered alone as the setlist plays it: (main, cue bus or None)."""
    loaded = load_setlist(setlist)
    renders = []
    for i in range(len(loaded.setlist.songs)):
        session, path = prepared_entry(loaded, i)
        render_session(session, path, out / f"alone-{i}.wav", options, stems_out=out / f"alone-{i}")
        cue = out / f"alone-{i}" / "bus-cue.wav"
        renders.append((read_audio(out / f"alone-{i}.wav")[0], read_audio(cue)[0] if cue.exists() else None))
    return renders


def test_the_set_is_the_songs_and_gaps_joined_bit_exactly_and_the_cue_aligned(show, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shown = render_show(show, out / "set.wav", EXACT, stems_out=out / "stems")
    alone = song_renders(show, out)
    lengths = [round(s * SR) for s in (1.5, 0.8, 1.2)]
    gaps = [round(0.5 * SR), round(0.25 * SR), 0]  # none after the last song
    assert [p.frames for p in shown.songs] == lengths == [main.shape[1] for main, _ in alone]
    assert [p.gap_frames for p in shown.songs] == gaps
    assert [p.start_frame for p in shown.songs] == [
        0,
        lengths[0] + gaps[0],
        lengths[0] + gaps[0] + lengths[1] + gaps[1],
    ]
    pieces, cues = [], []
    for (song, cue), gap in zip(alone, gaps, strict=True):
        pieces += [song, np.zeros((2, gap), np.float32)]
        cues += [cue if cue is not None else np.zeros_like(song), np.zeros((2, gap), np.float32)]
    joined, rate = read_audio(out / "set.wav")
    assert rate == SR and shown.result.frames == joined.shape[1] == sum(lengths) + sum(gaps)
    np.testing.assert_array_equal(joined, np.concatenate(pieces, axis=1))
    cue, _ = read_audio(out / "stems" / "bus-cue.wav")
    np.testing.assert_array_equal(cue, np.concatenate(cues, axis=1))
    assert np.abs(cue[:, shown.songs[1].start_frame :][:, : lengths[1]]).max() > 0.3  # song two's ticks, on time
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["set.wav", "stems", "alone-0.wav", "alone-0", "alone-1.wav", "alone-1", "alone-2.wav", "alone-2"]
    )  # no leftovers
    assert json.loads((out / "stems" / "stems.json").read_text())["files"][0]["file"] == "bus-cue.wav"
    assert soundfile.info(str(out / "set.wav")).subtype == "FLOAT"


def test_output_options_are_honoured(show, tmp_path):
    options = RenderOptions(tail_s=0.0, bit_depth="16", sample_rate=44100)
    shown = render_show(show, tmp_path / "set.flac", options, stems_out=tmp_path / "stems")
    info, cue = soundfile.info(str(tmp_path / "set.flac")), soundfile.info(str(tmp_path / "stems" / "bus-cue.flac"))
    assert (info.samplerate, info.subtype, info.format) == (44100, "PCM_16", "FLAC")
    assert info.frames == cue.frames == shown.result.frames
    lengths = [round(s * 44100) for s in (1.5, 0.8, 1.2)]
    assert [p.frames for p in shown.songs] == lengths
    assert shown.songs[2].start_frame == lengths[0] + lengths[1] + round(0.75 * 44100)


@pytest.mark.parametrize("relative", [False, True])  # as typed in the setlist's folder: "--render set.wav"
def test_a_whole_set_loudness_target_masters_the_joined_file(show, tmp_path, monkeypatch, relative):
    import pyloudnorm

    out = tmp_path / "set.wav"
    if relative:
        monkeypatch.chdir(tmp_path)
        out = Path("set.wav")
    code = main(["show", str(show), "--render", str(out), "--loudness", "-16", "--tail", "0"])
    assert code == 0
    audio, rate = read_audio(tmp_path / "set.wav")
    assert audio.shape[1] == round(3.5 * SR) + round(0.75 * SR)
    assert pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64)) == pytest.approx(-16, abs=0.5)


def test_the_cli_prints_a_line_per_song_and_the_summary(show, tmp_path, capsys):
    assert main(["show", str(show), "--render", str(tmp_path / "set.wav"), "--tail", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        "  1. one: from 0:00.000, 0:01.500 (72000 frames), then 0.5 s of silence",
        "  2. two: from 0:02.000, 0:00.800 (38400 frames), then 0.25 s of silence",
        "  3. three: from 0:03.050, 0:01.200 (57600 frames)",
    ]
    assert lines[3] == f"wrote {tmp_path / 'set.wav'}"


def test_a_song_that_fails_stops_the_render_naming_it_and_writes_nothing(show, tmp_path):
    (tmp_path / "three" / "noise.wav").write_bytes(b"not audio")
    with pytest.raises(
        AudioFileError, match=r"^setlist.json: songs\[2\] \(three/session.json\): session.json: stems\[1\]"
    ):
        render_show(show, tmp_path / "set.wav", EXACT)
    assert not (tmp_path / "set.wav").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # temporary files removed


def test_the_set_file_is_never_one_of_its_inputs(show, tmp_path):
    from stemhost.errors import OutputError

    with pytest.raises(OutputError, match="one of the session's stems"):
        render_show(show, tmp_path / "one" / "tone.wav", EXACT)


def test_a_count_in_comes_before_its_song_with_the_main_mix_silent(tmp_path):
    """Song two counts in one bar of 4/4 at 120 BPM (2 s): its main mix starts silent, its cue clicks."""
    one, two = make_song(tmp_path, "one", 1.0, 220), make_song(tmp_path, "two", 1.0, 330, bpm=120)
    path = tmp_path / "setlist.json"
    path.write_text(json.dumps({"songs": [{"session": one, "gap_s": 0.5}, {"session": two, "count_in_bars": 1}]}))
    shown = render_show(path, tmp_path / "set.wav", EXACT, stems_out=tmp_path / "stems")
    count_in = 2 * SR
    assert shown.songs[1].start_frame == SR + SR // 2
    assert shown.songs[1].frames == count_in + SR
    main, _ = read_audio(tmp_path / "set.wav")
    cue, _ = read_audio(tmp_path / "stems" / "bus-cue.wav")
    start = shown.songs[1].start_frame
    assert cue.shape == main.shape
    assert not main[:, start : start + count_in].any() and main[:, start + count_in :].any()
    beats = [start + k * SR // 2 for k in range(4)]  # the count-in's four clicks
    assert all(np.abs(cue[:, b : b + 100]).max() > 0.1 for b in beats)
    assert not cue[:, :start].any()
