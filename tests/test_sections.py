"""Song sections live on the JACK device: a jump lands on the next downbeat, a loop repeats a section's frames.

The oracle is the offline render of the same session (live equals offline, frame for frame): every window of
what the callback played is found in the render, so each played frame's place in the song is known exactly.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from stemhost.live.play import PlayOptions, playing
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.files import load_session

from conftest import noise, read_audio, write_audio, write_session

SR = 48000
BPM = 240.0  # a beat is 0.25 s, a 4/4 bar 1 s
FIRST_DOWNBEAT_S = 0.25
SECTIONS = [{"name": "Intro", "start_s": 0.25}, {"name": "Verse", "start_s": 2.25}, {"name": "Chorus", "start_s": 4.25}]
WINDOW = 480  # 10 ms


def song(tmp_path, seconds: float = 7.0, grid: bool = True, tempo: float = 1.0):
    """Stereo noise (each window unique) with a grid and three sections; the session and its offline render."""
    write_audio(tmp_path / "band.wav", noise(seconds, channels=2, level=0.2, seed=7))
    data = {"stems": [{"name": "band", "file": "band.wav"}], "sections": SECTIONS, "tempo": tempo}
    if grid:
        data |= {"bpm": BPM, "time_signature": "4/4", "first_downbeat_s": FIRST_DOWNBEAT_S}
    path = write_session(tmp_path, data)
    session = load_session(path)
    render_session(session, path, tmp_path / "offline.wav", RenderOptions(bit_depth="32f", tail_s=0.0))
    return session, path, read_audio(tmp_path / "offline.wav")[0]


def song_frames(played: np.ndarray, offline: np.ndarray) -> np.ndarray:
    """For every WINDOW of what was played, the offline frame it starts at (-1 where it matches nowhere: fades)."""
    found = np.full(len(played) // WINDOW, -1, np.int64)
    for w in range(len(found)):
        j = w * WINDOW
        for c in np.flatnonzero(np.abs(offline[0] - played[j, 0]) < 1e-7):
            if c + WINDOW <= offline.shape[1] and np.allclose(
                offline[:, c : c + WINDOW].T, played[j : j + WINDOW], atol=1e-6
            ):
                found[w] = c
                break
    return found


def runs(found: np.ndarray) -> list[tuple[int, int, int]]:
    """Stretches played straight from the song: (first window, last window, offset: played index − song frame)."""
    out: list[list[int]] = []
    for w, frame in enumerate(found):
        if frame < 0:
            continue
        offset = w * WINDOW - int(frame)
        if out and out[-1][2] == offset:
            out[-1][1] = w
        else:
            out.append([w, w, offset])
    return [tuple(r) for r in out if r[1] > r[0]]


def landing(found: np.ndarray, target: int) -> tuple[int, int, int]:
    """The jump to song frame ``target``: (offset before it, offset after it, the first window after it). The run
    that starts at the target is the jump's (a render underrun's silence shifts the offset elsewhere)."""
    stretches = runs(found)
    for k, (first, _, offset) in enumerate(stretches):
        if k and 0 <= first * WINDOW - offset - target <= 2 * WINDOW:
            return stretches[k - 1][2], offset, first
    raise AssertionError(f"no jump to frame {target} in {stretches}")


def wait_heard(player, seconds: float, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while player.position_s < seconds and time.monotonic() < deadline:
        time.sleep(0.005)
    assert player.position_s >= seconds, f"playback reached only {player.position_s:.2f} s"


@pytest.mark.parametrize("tempo", [1.0, 0.8])
def test_a_jump_asked_mid_bar_lands_on_the_next_downbeat(tmp_path, jack_device, tempo):
    session, path, offline = song(tmp_path, tempo=tempo)
    with playing(session, path, PlayOptions(device="system", capture_s=4.5 / tempo)) as (player, _):
        assert player.session.tempo == tempo and player.sections.downbeats[:3] == (0.25, 1.25, 2.25)
        wait_heard(player, 0.6 / tempo)  # bar 1 is 0.25–1.25 s of the recording: mid-bar
        asked = player.captured
        assert player.sections.jump(to="next") == "Verse"
        assert player.sections.current() == "Verse"  # shown at once (the jump waits for the downbeat)
        while player.captured < len(player._capture) and player.error is None:
            time.sleep(0.05)
        played = player.capture()
        assert player.error is None
    before, after, first = landing(song_frames(played, offline), round(2.25 / tempo * SR))
    downbeat = round(1.25 / tempo * SR)  # the next downbeat, in frames of the version playing
    landed = round(2.25 / tempo * SR) + after  # where the Verse's first frame was played
    error_ms = 1000 * (landed - (downbeat + before)) / SR
    print(f"tempo {tempo}: jump asked {(asked - before) / SR * tempo:.3f} s into the recording, landed "
          f"{error_ms:+.3f} ms from the downbeat at {1.25:.2f} s")  # fmt: skip
    assert asked < downbeat + before
    assert abs(error_ms) <= 1.0
    assert first * WINDOW - (downbeat + before) < 2 * WINDOW  # the Verse is heard from the downbeat on


def test_a_looped_section_repeats_its_frames_and_plays_on_when_released(tmp_path, jack_device):
    session, path, offline = song(tmp_path)
    start, end = round(2.25 * SR), round(4.25 * SR)  # the Verse
    with playing(session, path, PlayOptions(device="system", capture_s=9.0)) as (player, _):
        wait_heard(player, 2.5)
        assert player.sections.loop() == "Verse" and player.sections.looping == "Verse"
        wait_heard_loops = time.monotonic() + 15
        while player.captured < 6.9 * SR and time.monotonic() < wait_heard_loops:
            time.sleep(0.01)
        player.sections.release()
        assert player.sections.looping is None
        while player.captured < len(player._capture) and player.error is None:
            time.sleep(0.05)
        played = player.capture()
        assert player.error is None
    if player.render_underruns:  # the machine's stalls leave gaps in what was played: nothing exact to compare
        pytest.skip(f"{player.render_underruns} render underruns (the machine stalled): the loop could not be compared")
    stretches = runs(song_frames(played, offline))
    offsets = [offset for _, _, offset in stretches]
    # the song up to the Verse's end, the Verse twice more, then on into the Chorus
    assert len(offsets) >= 3, stretches
    for previous, offset in zip(offsets, offsets[1:], strict=False):
        assert offset - previous == end - start  # each repeat starts exactly one Verse later
    fade = round(0.005 * SR)
    for k in range(1, len(offsets)):  # every repeat is the Verse, frame for frame, but its 5 ms fades
        at = start + offsets[k]
        np.testing.assert_allclose(
            played[at + fade : at + end - start - fade].T, offline[:, start + fade : end - fade], atol=1e-6
        )
    last_window, last_offset = stretches[-1][1], offsets[-1]
    assert last_window * WINDOW - last_offset > end + SR // 2, "released, the song plays on past the Verse"


def test_without_a_grid_a_jump_is_at_once(tmp_path, jack_device):
    session, path, offline = song(tmp_path, grid=False)
    with playing(session, path, PlayOptions(device="system", capture_s=2.0)) as (player, _):
        assert player.sections.downbeats == ()
        wait_heard(player, 0.5)
        asked = player.captured
        player.sections.jump("Chorus")
        while player.captured < len(player._capture):
            time.sleep(0.05)
        played = player.capture()
    _, after, first = landing(song_frames(played, offline), round(4.25 * SR))
    assert (first * WINDOW - asked) / SR < 0.2  # at once: the ring's render-ahead and a block of fade
    assert first * WINDOW - after >= round(4.25 * SR)


def test_next_previous_and_names_move_between_sections(tmp_path, jack_device):
    from stemhost.errors import SessionError
    from stemhost.live.sections import UnknownSection

    session, path, _ = song(tmp_path)
    with playing(session, path, PlayOptions(device="system")) as (player, _):
        sections = player.sections
        assert sections.names == ["Intro", "Verse", "Chorus"] and sections.current() is None  # before the Intro
        wait_heard(player, 0.3)
        assert sections.current() == "Intro"
        assert sections.jump(to="next") == "Verse"
        assert sections.jump(to="next") == "Chorus"  # quick presses add up
        with pytest.raises(SessionError, match="'Chorus' is the last section"):
            sections.jump(to="next")
        assert sections.jump(to="previous") == "Verse"
        with pytest.raises(UnknownSection, match="no section named 'Bridge'; sections: Intro, Verse, Chorus"):
            sections.jump("Bridge")
        assert sections.span(2) == (4.25, pytest.approx(7.0))


def test_the_web_route_jumps_loops_and_releases_and_every_client_sees_it(tmp_path, jack_device):
    import json

    from web_server import make_song, serving

    grid = {"bpm": BPM, "time_signature": "4/4", "first_downbeat_s": FIRST_DOWNBEAT_S, "sections": SECTIONS}
    make_song(tmp_path / "songs", "song", seconds=7.0, **grid)
    with serving(tmp_path / "songs") as server:
        state = server.open_song("song")
        assert state["sections"] == SECTIONS and state["section"] is None and state["section_loop"] is None
        with server.ws() as first, server.ws() as second:
            for client in (first, second):
                assert json.loads(client.recv(timeout=5))["type"] == "state"
            state = server.ok("POST", "/api/sections", {"action": "jump", "name": "Chorus"})  # paused: at once
            assert state["section"] == "Chorus" and state["position_s"] == pytest.approx(4.25)
            state = server.ok("POST", "/api/sections", {"action": "loop"})
            assert state["section_loop"] == "Chorus"
            for client in (first, second):  # two browsers stay in step
                while not ((m := json.loads(client.recv(timeout=5)))["type"] == "state" and m["state"]["section_loop"]):
                    pass
                assert m["state"]["section"] == "Chorus" and m["state"]["section_loop"] == "Chorus"
        server.ok("POST", "/api/transport", {"action": "play"})
        state = server.ok("POST", "/api/sections", {"action": "jump", "to": "previous"})
        assert state["section"] == "Verse" and state["section_loop"] is None  # a jump on the downbeat ends the loop
        assert server.ok("POST", "/api/sections", {"action": "release"})["section_loop"] is None
        for body, status, words in [
            ({"action": "jump", "name": "Bridge"}, 404, "no section named 'Bridge'; sections: Intro, Verse, Chorus"),
            ({"action": "jump"}, 422, "a jump needs name or to"),
            ({"action": "loop", "to": "next"}, 422, "only a jump goes to the next or previous section"),
            ({"action": "skip"}, 422, "action"),
        ]:
            code, answer, _ = server.call("POST", "/api/sections", body)
            assert code == status and words in answer["error"], answer


def test_marker_import_round_trip_and_listing(tmp_path, capsys):
    from stemhost.cli.main import main

    write_audio(tmp_path / "band.wav", noise(7.0, channels=2))
    path = write_session(tmp_path, {"stems": [{"name": "band", "file": "band.wav"}]})
    labels = tmp_path / "labels.txt"  # as Audacity exports them: unsorted, a region label, a frequency line
    labels.write_text("4.250000\t5.000000\tChorus\n0.250000\t0.250000\tIntro\n\\\t100.0\t2000.0\n"
                      "2.250000\t2.250000\tVerse\n5.500000\t5.500000\tChorus\n6.000000\t6.000000\t\n")  # fmt: skip
    assert main(["sections", str(path), "--import", str(labels)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"wrote 5 sections from {labels} into {path}:"
    assert load_session(path).sections == load_session(path).model_validate(
        {**load_session(path).model_dump(), "sections": [
            {"name": "Intro", "start_s": 0.25}, {"name": "Verse", "start_s": 2.25},
            {"name": "Chorus", "start_s": 4.25}, {"name": "Chorus 2", "start_s": 5.5},
            {"name": "Section 5", "start_s": 6.0}]}).sections  # fmt: skip
    assert main(["sections", str(path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "  0:00.250  Intro", "  0:02.250  Verse", "  0:04.250  Chorus", "  0:05.500  Chorus 2", "  0:06.000  Section 5"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("0\t0\tIntro\n9.5\t9.5\tLate\n", "labels.txt: line 2: the label at 9.5 s is past the song's end (7.000 s)"),
        ("0\t0\tIntro\nverse at 3\n", "labels.txt: line 2: 'verse at 3' is not 'start<TAB>end<TAB>label'"),
        ("1\t1\tA\n1\t1\tB\n", "labels.txt: line 2: a label at 1 s again (line 1)"),
        ("-1\t0\tA\n", "labels.txt: line 1: -1 to 0 s is not a time in the song"),
    ],
)
def test_a_bad_marker_file_is_one_error_line_and_writes_nothing(tmp_path, capsys, text, words):
    from stemhost.cli.main import main

    write_audio(tmp_path / "band.wav", noise(7.0, channels=2))
    path = write_session(tmp_path, {"stems": [{"name": "band", "file": "band.wav"}]})
    before = path.read_text()
    (tmp_path / "labels.txt").write_text(text)
    assert main(["sections", str(path), "--import", str(tmp_path / "labels.txt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err, err
    assert path.read_text() == before


def test_mixer_keys_page_down_and_semicolon_jump_and_loop(tmp_path, jack_device):
    from test_mixer import press, run, until

    _, path, _ = song(tmp_path)

    async def script(app, pilot, player) -> None:
        assert await until(pilot, lambda: player.position_s > 0.4)
        assert "Intro" in app.section_text().plain
        await press(pilot, "pagedown")  # a foot pedal's
        assert await until(pilot, lambda: player.sections.current() == "Verse")
        assert "to Verse on the next downbeat" in str(app.message.content)
        await press(pilot, "semicolon")
        assert player.sections.looping == "Verse" and "looping Verse" in app.section_text().plain
        await press(pilot, "semicolon", "pageup")
        assert player.sections.looping is None
        assert await until(pilot, lambda: player.sections.current() == "Intro")

    run(path, script, size=(80, 30))
