"""The live show on the JACK dummy server: songs one after another on one stream, count-ins and gaps on their frames."""

from __future__ import annotations

import json
import logging
import threading
import time

import numpy as np
import pytest

from stemhost.live.devices import find_device
from stemhost.session.grid import count_in_beats, lead_in_frames
from stemhost.session.setlists import load_setlist
from stemhost.show.midi import MidiListener, load_mapping
from stemhost.show.runner import ShowControl, ShowRunner
from test_click import onsets
from test_midi import pedal  # noqa: F401  (the fixture: a virtual JACK MIDI port)

from conftest import peak_hz, tone, write_audio, write_session

SR = 48000


def setlist(tmp_path, songs: list[dict], lengths=(3.0, 2.0), freqs=None) -> object:
    """Songs of a held note (A 440 Hz, or freqs[k]), each in its own folder with a 120 bpm 4/4 grid; songs: the entries."""
    for k, seconds in enumerate(lengths):
        folder = tmp_path / f"song{k + 1}"
        folder.mkdir()
        write_audio(folder / "a.wav", tone(freqs[k] if freqs else 440.0, seconds, channels=2, level=0.2))
        data = {"stems": [{"name": "a", "file": "a.wav", "role": "keys"}], "bpm": 120.0, "time_signature": "4/4"}
        write_session(folder, data)
    path = tmp_path / "setlist.json"
    path.write_text(json.dumps({"songs": [{"session": f"song{k + 1}/session.json", **s} for k, s in enumerate(songs)]}))
    return load_setlist(path)


def show(runner: ShowRunner) -> threading.Thread:
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return thread


def first_loud(signal: np.ndarray, start: int = 0, floor: float = 0.01) -> int:
    """The first frame at or after start where ``(channels, frames)`` audio passes the floor."""
    return start + int(np.flatnonzero(np.max(np.abs(signal[:, start:]), axis=0) > floor)[0])


def test_a_two_song_show_plays_song_two_after_the_gap_with_its_count_in_on_the_frames_and_in_its_key(
    tmp_path, jack_device
):
    songs = [{"gap_s": 0.5, "advance": "auto"}, {"count_in_bars": 1, "key_shift": 2}]
    runner = ShowRunner(setlist(tmp_path, songs), find_device("system"), 256, capture_s=12.0)
    assert runner.channels == 4  # the count-in's implicit cue bus on 3-4
    thread = show(runner)
    thread.join(timeout=30)
    assert not thread.is_alive(), "the show did not end"
    out = runner.capture().T
    start1, start2 = (int(f) for f in runner.started)
    assert start1 >= 0 and start2 >= 0
    # song 1 from its first frame, on the main outputs, no click
    assert 0 <= first_loud(out[:2]) - start1 <= 2
    end1 = start1 + 3 * SR
    assert np.max(np.abs(out[:2, end1 : end1 + SR // 2])) == 0.0, "the gap is silent"
    session2, _ = runner.sessions[1]
    due = end1 + SR // 2
    start_error_ms = 1000 * (start2 - due) / SR
    # the count-in's clicks on the cue bus, on (end of song 1 + gap + the count-in's beat times)
    lead = lead_in_frames(session2, SR)
    beats = count_in_beats(session2)
    want = np.array([due + lead + round(t * SR) for t, _ in beats])
    got = onsets(out[2:4, due - SR // 4 :]) + due - SR // 4
    assert len(got) == len(want) == 4, got
    click_errors_ms = 1000 * np.abs(got - want) / SR
    # song 2's held note: 200 cents up from its first frames (the prepared version, not the recording's key)
    audio2 = first_loud(out[:2], due)
    head = out[0, audio2 + 480 : audio2 + 480 + SR // 4]
    cents = 1200 * np.log2(peak_hz(head, 440 * 2 ** (2 / 12)) / 440.0)
    song2 = runner.played[-1][1] if runner.played else None
    print(
        f"show: song 2 started {start_error_ms:+.3f} ms from end of song 1 + gap; count-in clicks worst "
        f"{click_errors_ms.max():.3f} ms from the computed frames; song 2's audio at {audio2 - due - lead:+d} frames "
        f"from its lead-in; its first 250 ms at {cents:+.1f} cents"
    )
    print("\n".join(runner.summary()))
    assert abs(start2 - due) <= SR // 1000, f"song 2 started {start_error_ms:+.2f} ms off"
    assert click_errors_ms.max() <= 1.0
    assert abs(audio2 - (due + lead)) <= SR // 1000
    assert abs(cents - 200) < 5, cents
    assert song2 is None or song2.render_underruns == 0
    assert all(" 0 render underruns" in line for line in runner.summary() if "played" in line), runner.summary()


def test_a_midi_note_starts_the_next_song_when_the_first_waits(tmp_path, pedal):  # noqa: F811
    import mido

    out, _ = pedal
    songs = [{"advance": "stop"}, {}]
    runner = ShowRunner(setlist(tmp_path, songs, lengths=(1.0, 1.0)), find_device("system"), 256, capture_s=8.0)
    rules = load_mapping(None, ["a"], songs=True)
    rules = [*rules, *load_mapping(_mapping(tmp_path), ["a"], songs=True)]
    listener = MidiListener("stemhost-pedal", rules, ShowControl(runner))
    try:
        thread = show(runner)
        deadline = time.monotonic() + 10
        while (runner.next is None or runner.ended_at < 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        assert runner.started[1] == -1, "song 1 was 'stop': song 2 waits"
        frame, sent = runner.frame, time.perf_counter()
        out.send(mido.Message("note_on", note=60, velocity=100))
        while runner.started[1] < 0 and time.perf_counter() - sent < 2:
            time.sleep(0.0005)
        seen_ms = 1000 * (time.perf_counter() - sent)
        thread.join(timeout=10)
    finally:
        listener.close()
    stream_ms = 1000 * (runner.started[1] - frame) / SR
    print(f"MIDI note to song 2's first frame: {stream_ms:.1f} ms of the stream ({seen_ms:.1f} ms seen)")
    assert [a for _, a in listener.handled] == ["next_song"]
    assert runner.started[1] >= 0 and stream_ms < 100
    song2 = runner.capture().T[:2, runner.started[1] :]
    assert first_loud(song2) <= 2


def _mapping(tmp_path):
    path = tmp_path / "midi.json"
    path.write_text(json.dumps([{"note": 60, "action": "next_song"}]))
    return path


def test_show_no_ui_plays_the_set_and_prints_a_summary(tmp_path, jack_device, capsys):
    from stemhost.cli.main import main

    songs = setlist(tmp_path, [{"gap_s": 0.2, "advance": "auto"}, {}], lengths=(0.5, 0.5))
    assert main(["show", str(songs.path), "--device", "system", "--no-ui"]) == 0
    out = capsys.readouterr().out
    assert "1. song1: from" in out and "2. song2: from" in out and "show: " in out, out


def _show_with_a_broken_middle_song(tmp_path, caplog):
    """Three songs (440, 550, 660 Hz); song 2's stem deleted after the setlist was checked, before it is prepared."""
    songs = [{"gap_s": 0.5, "advance": "auto"}, {"gap_s": 0.5, "advance": "auto"}, {}]
    runner = ShowRunner(
        setlist(tmp_path, songs, lengths=(2.0, 1.0, 1.0), freqs=(440.0, 550.0, 660.0)),
        find_device("system"), 256, capture_s=8.0,
    )  # fmt: skip
    assert sorted(runner.sessions) == [0, 1, 2], "all three songs passed the check"
    (tmp_path / "song2" / "a.wav").unlink()
    with caplog.at_level(logging.INFO, logger="stemhost"):
        thread = show(runner)
        thread.join(timeout=20)
    assert not thread.is_alive(), "the show did not end"
    return runner


def test_a_song_that_fails_to_prepare_is_skipped_with_a_log_line_and_the_next_starts_after_the_gap(
    tmp_path, jack_device, caplog
):
    runner = _show_with_a_broken_middle_song(tmp_path, caplog)
    out = runner.capture().T
    start1, start2, start3 = (int(f) for f in runner.started)
    skipped = [r.getMessage() for r in caplog.records if r.name == "stemhost" and "skipping 2. song2" in r.getMessage()]
    due = start1 + 2 * SR + SR // 2  # song 1's end + song 1's gap
    error_ms = 1000 * (start3 - due) / SR
    audio3 = first_loud(out[:2], start1 + 2 * SR)
    hz = peak_hz(out[0, audio3 + 480 : audio3 + 480 + SR // 4], 660.0)
    print(f"broken song 2: {skipped}; song 3 started {error_ms:+.3f} ms from end of song 1 + gap, at {hz:.2f} Hz")
    print("\n".join(runner.summary()))
    assert len(skipped) == 1, [r.getMessage() for r in caplog.records]
    assert start1 >= 0 and start2 == -1 and start3 >= 0
    assert np.max(np.abs(out[:2, start1 + 2 * SR : due])) == 0.0, "the gap is silent"
    assert abs(start3 - due) <= SR // 1000, f"song 3 started {error_ms:+.2f} ms off"
    assert 0 <= audio3 - start3 <= 2
    assert abs(hz - 660.0) < 1.0, hz
    played = [line for line in runner.summary() if "played" in line]
    assert [line.split(":")[0] for line in played] == ["1. song1", "3. song3"], runner.summary()


def test_the_summary_lists_a_song_that_failed_to_prepare_as_skipped(tmp_path, jack_device, caplog):
    runner = _show_with_a_broken_middle_song(tmp_path, caplog)
    assert "skipped: 2. song2" in runner.summary(), runner.summary()


def _previous_song_during_song_two(tmp_path, caplog):
    """Song 1 (440 Hz, 1 s, auto after 0.2 s), song 2 (660 Hz, 2 s); previous_song 0.3 s into song 2."""
    songs = [{"gap_s": 0.2, "advance": "auto"}, {}]
    runner = ShowRunner(
        setlist(tmp_path, songs, lengths=(1.0, 2.0), freqs=(440.0, 660.0)), find_device("system"), 256,
        capture_s=10.0,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="stemhost"):
        thread = show(runner)
        deadline = time.monotonic() + 10
        while runner.started[1] < 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        first1, start2 = int(runner.started[0]), int(runner.started[1])
        assert start2 >= 0, "song 2 did not start"
        while runner.frame < start2 + 3 * SR // 10:
            time.sleep(0.001)
        asked = runner.frame
        ShowControl(runner).previous_song()
        while int(runner.started[0]) == first1 and time.monotonic() < deadline:
            time.sleep(0.001)
        thread.join(timeout=10)  # song 1 plays out, then song 2 again after the gap, and the show ends
    assert not thread.is_alive(), "the show did not end"
    return runner, first1, start2, asked


def test_previous_song_during_song_two_starts_song_one_again_from_its_first_frame(tmp_path, jack_device, caplog):
    runner, first1, start2, asked = _previous_song_during_song_two(tmp_path, caplog)
    out = runner.capture().T
    again = int(runner.started[0])
    head = out[:2, again : again + SR // 10]
    opening = out[:2, first1 : first1 + SR // 10]
    hz = peak_hz(out[0, again : again + SR // 10], 440.0)
    wait_ms = 1000 * (again - asked) / SR
    print(
        f"previous_song {1000 * (asked - start2) / SR:.1f} ms into song 2: song 1 again {wait_ms:.1f} ms after the ask; "
        f"its first 100 ms differ from its opening by {np.max(np.abs(head - opening)):.2e}, at {hz:.2f} Hz"
    )
    assert again > asked > start2 > first1 >= 0
    assert np.max(np.abs(head - opening)) < 1e-6
    assert np.max(np.abs(opening)) > 0.1
    assert abs(hz - 440.0) < 2.0, hz
    assert 0 <= first_loud(out[:2], again) - again <= 2
    assert np.max(np.abs(out[:2, again - SR // 100 : again])) > 0.1, "song 2 was playing up to the switch"


def test_previous_song_logs_that_song_one_is_prepared_first_and_not_instant(tmp_path, jack_device, caplog):
    runner, *_ = _previous_song_during_song_two(tmp_path, caplog)
    said = [r.getMessage() for r in caplog.records if r.name == "stemhost"]
    assert any("1. song1" in m and ("not ready" in m or "not instant" in m) for m in said), said


def _tone_fit(x: np.ndarray, freq: float, start: int) -> np.ndarray:
    """The least-squares sine at ``freq`` through 1-D ``x`` (whose first frame is stream frame ``start``), as a
    function of stream frames: returns its coefficients on (sin, cos)."""
    t = 2 * np.pi * freq * (start + np.arange(x.size)) / SR
    coefs, *_ = np.linalg.lstsq(np.stack([np.sin(t), np.cos(t)], axis=1), x.astype(np.float64), rcond=None)
    return coefs


def _tone_at(coefs: np.ndarray, freq: float, start: int, frames: int) -> np.ndarray:
    t = 2 * np.pi * freq * (start + np.arange(frames)) / SR
    return coefs[0] * np.sin(t) + coefs[1] * np.cos(t)


@pytest.mark.parametrize("blocksize", [256, 128])  # a block longer than the fade, and shorter (the fade spans two)
def test_next_song_mid_song_fades_the_song_out_over_5_ms_then_the_next_starts(tmp_path, jack_device, blocksize):
    from stemhost.show.runner import CUT_FADE_S

    fade = round(CUT_FADE_S * SR)
    songs = [{"advance": "stop"}, {}]
    runner = ShowRunner(
        setlist(tmp_path, songs, lengths=(4.0, 1.0), freqs=(440.0, 550.0)), find_device("system"), blocksize,
        capture_s=8.0,
    )  # fmt: skip
    thread = show(runner)
    deadline = time.monotonic() + 10
    while (runner.started[0] < 0 or runner.next is None) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert runner.started[0] >= 0 and runner.next is not None, "song 1 did not start or song 2 was not armed"
    start1 = int(runner.started[0])
    while runner.frame < start1 + SR and thread.is_alive():
        time.sleep(0.001)
    asked = runner.frame
    runner.next_song()
    thread.join(timeout=10)  # song 2 (1 s) plays out and the show ends
    assert not thread.is_alive(), "the show did not end"
    out = runner.capture().T
    start2 = int(runner.started[1])
    # song 1 at full level before the fade: a 440 Hz sine of level 0.2 fitted over the 100 ms before it
    before = start2 - fade - SR // 10
    coefs = _tone_fit(out[0, before : start2 - fade], 440.0, before)
    level = float(np.hypot(*coefs))
    steady_error = np.max(np.abs(out[0, before : start2 - fade] - _tone_at(coefs, 440.0, before, SR // 10)))
    # over the fade, song 1 times a line from 1 down to 0 (numpy's linspace(1, 0, fade, endpoint=False))
    ramp = np.linspace(1.0, 0.0, fade, endpoint=False)
    tone1 = _tone_at(coefs, 440.0, start2 - fade, fade)
    fade_error = np.max(np.abs(out[0, start2 - fade : start2] - tone1 * ramp))
    envelope, *_ = np.linalg.lstsq(
        np.stack([tone1, tone1 * np.arange(fade) / fade], axis=1), out[0, start2 - fade : start2], rcond=None
    )
    # no click: the largest step around the switch is no bigger than the tones' own largest steps
    around = np.max(np.abs(np.diff(out[:2, start2 - 2 * fade : start2 + 2 * fade], axis=1)), axis=1)
    own = 2 * 0.2 * np.sin(np.pi * np.array([550.0, 825.0]) / SR)  # song 2's sines (the higher) on left, right
    hz = peak_hz(out[0, start2 : start2 + SR // 4], 550.0)
    print(
        f"next_song {1000 * (asked - start1) / SR:.1f} ms into song 1: song 2 started {1000 * (start2 - asked) / SR:.2f} "
        f"ms after the ask ({start2 - asked} frames, a block is {blocksize}, the fade {fade}); song 1 before the fade "
        f"at level {level:.4f} (fit error {steady_error:.1e}); over the fade its envelope {envelope[0]:.4f} -> "
        f"{envelope[0] + envelope[1]:.4f}, {fade_error:.1e} from the line; largest step around the switch "
        f"{around.max():.4f} against the tones' {own.max():.4f}; song 2's first 250 ms at {hz:.2f} Hz"
    )
    assert fade <= start2 - asked <= blocksize + fade, f"song 2 started {start2 - asked} frames after the ask"
    assert abs(level - 0.2) < 0.002 and steady_error < 1e-4, (level, steady_error)
    assert fade_error < 1e-4, fade_error
    assert abs(envelope[0] - 1.0) < 0.01 and abs(envelope[0] + envelope[1]) < 0.01, envelope
    assert np.all(around <= own * 1.001), (around, own)
    assert 0 <= first_loud(out[:2], start2) - start2 <= 2
    assert abs(hz - 550.0) < 1.0, hz


def test_a_song_whose_key_and_tempo_take_long_to_prepare_starts_late_in_its_key_after_a_log_line(
    tmp_path, jack_device, caplog, monkeypatch
):
    # an empty stem cache: song 2's 30 s shifted and stretched by Rubber Band take about 4 s on two cores
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "stem-cache"))
    songs = [{"gap_s": 0.0, "advance": "auto"}, {"key_shift": 2, "tempo": 0.8}]
    runner = ShowRunner(
        setlist(tmp_path, songs, lengths=(1.0, 30.0), freqs=(440.0, 660.0)), find_device("system"), 256,
        capture_s=60.0,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="stemhost"):
        thread = show(runner)
        deadline = time.monotonic() + 50
        while runner.started[1] < 0 and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        while runner.started[1] >= 0 and runner.frame < runner.started[1] + SR // 2 and thread.is_alive():
            time.sleep(0.005)
        runner.stop()
        thread.join(timeout=10)
    assert not thread.is_alive(), "the show did not end"
    out = runner.capture().T
    start1, start2 = (int(f) for f in runner.started)
    assert start1 >= 0 and start2 >= 0, "a song did not start"
    said = [r.getMessage() for r in caplog.records if r.name == "stemhost"]
    late = [m for m in said if "2. song2 is not ready yet" in m]
    end1 = start1 + SR  # song 1's last frame + its gap (0 s)
    want = 660.0 * 2 ** (2 / 12)
    audio2 = first_loud(out[:2], start2)
    cents = 1200 * np.log2(peak_hz(out[0, audio2 : audio2 + SR // 4], want) / 660.0)
    played = [line for line in runner.summary() if "played" in line]
    print(
        f"slow song 2: {late}; it started {(start2 - end1) / SR:.3f} s after song 1's end + gap, silent until then "
        f"(peak {np.max(np.abs(out[:, end1:start2])):.1e}); its first 250 ms at {cents:+.2f} cents"
    )
    print("\n".join(runner.summary()))
    assert len(late) == 1, said
    assert start2 > end1 + SR // 10, f"song 2 started {(start2 - end1) / SR:.3f} s after song 1's end: not late"
    assert np.max(np.abs(out[:2, end1 - SR // 100 : end1])) > 0.1, "song 1 played to its end"
    assert np.max(np.abs(out[:, end1:start2])) == 0.0, "silence until song 2 is ready (not its recording's key)"
    assert 0 <= audio2 - start2 <= 2
    assert abs(cents - 200) < 5, cents
    assert [line.split(":")[0] for line in played] == ["1. song1", "2. song2"], runner.summary()
    assert all(" 0 render underruns" in line for line in played), played


def test_a_song_played_again_in_its_gap_ends_anew_and_the_next_waits_its_gap_after_that(tmp_path, jack_device):
    songs = [{"gap_s": 1.0, "advance": "auto"}, {}]
    runner = ShowRunner(setlist(tmp_path, songs, lengths=(1.0, 0.5), freqs=(440.0, 660.0)), find_device("system"), 256,
                        capture_s=10.0)  # fmt: skip
    thread = show(runner)
    deadline = time.monotonic() + 10
    while runner.ended_at < 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert runner.ended_at >= 0 and runner.started[1] < 0
    first_end = runner.ended_at
    runner.now.seek(0.0)  # in the gap: song 1 again, as the mixer's Home key or the web's scrub would
    thread.join(timeout=15)
    assert not thread.is_alive()
    out = runner.capture().T
    again = first_loud(out[:2], first_end + 1)
    start2 = int(runner.started[1])
    print(f"song 1 again {1000 * (again - first_end) / SR:.0f} ms into its gap; song 2 at "
          f"{1000 * (start2 - again) / SR:.1f} ms after that (1 s of song + 1 s of gap)")  # fmt: skip
    assert again < first_end + SR, "song 1 played again within its gap"
    assert abs(start2 - (again + 2 * SR)) <= SR // 50, "song 2 waits its gap after song 1's second end"
    assert abs(peak_hz(out[0, again + SR // 10 : again + SR // 2], 440.0) - 440.0) < 2
