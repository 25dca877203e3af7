"""The web mixer's HTTP API and WebSocket against a real ``stemhost serve`` on JACK's dummy device."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from web_server import SR, db, level, make_song, recording, serving, steady, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory, jack_device):
    folder = tmp_path_factory.mktemp("songs")
    make_song(folder, "song")
    make_song(folder, "other", seconds=4.0, freqs=(330.0, 165.0, 550.0))
    with serving(folder) as running:
        yield running


@pytest.fixture
def opened(server):
    """The song 'song' open, paused at 0, with a fresh mix."""
    state = server.open_song("song")
    assert state["song"]["id"] == "song" and not state["playing"] and state["position_s"] == 0.0
    return server


def stem(state: dict, name: str) -> dict:
    return next(s for s in state["stems"] if s["name"] == name)


def test_the_openapi_page_lists_every_endpoint_of_the_contract(server):
    spec = server.ok("GET", "/api/openapi.json")
    paths = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    wanted = {
        ("POST", "/api/songs/{song_id}/open"), ("GET", "/api/state"), ("POST", "/api/transport"),
        ("PATCH", "/api/stems/{name}"), ("PATCH", "/api/buses/{name}"), ("PATCH", "/api/master"),
        ("POST", "/api/key"), ("POST", "/api/tempo"), ("POST", "/api/presets"), ("POST", "/api/fit"),
        ("POST", "/api/save"),
    }  # fmt: skip
    assert wanted <= paths, sorted(wanted - paths)
    bounds = spec["components"]["schemas"]["StemChange"]["properties"]["gain_db"]["anyOf"][0]
    assert (bounds["minimum"], bounds["maximum"]) == (-60.0, 12.0)
    assert spec["components"]["schemas"]["StemChange"]["additionalProperties"] is False


def test_without_a_song_changes_are_409_and_the_state_says_none(tmp_path, jack_device):
    make_song(tmp_path / "songs", "song", seconds=2.0)
    with serving(tmp_path / "songs") as fresh:
        assert fresh.ok("GET", "/api/state")["song"] is None
        for method, path, body in [
            ("POST", "/api/transport", {"action": "play"}), ("PATCH", "/api/stems/vocals", {"mute": True}),
            ("PATCH", "/api/buses/band", {"mute": True}), ("PATCH", "/api/master", {"gain_db": -3}),
            ("POST", "/api/key", {"key_shift": 1}), ("POST", "/api/tempo", {"tempo": 1.1}),
            ("POST", "/api/presets", {"name": "karaoke"}), ("POST", "/api/fit", {"voice": "alto"}),
            ("POST", "/api/save", None),
        ]:  # fmt: skip
            status, answer, _ = fresh.call(method, path, body)
            assert status == 409, (path, status, answer)
            assert "no song is open" in answer["error"]


def test_open_refuses_unknown_songs_naming_the_known_ones(server):
    status, answer, _ = server.call("POST", "/api/songs/nothing/open")
    assert status == 404 and "'nothing'" in answer["error"] and "song" in answer["error"]
    assert "other" in answer["error"]
    status, answer, _ = server.call("POST", "/api/songs/Bad_Id/open")
    assert status == 404 and set(answer) == {"error", "field"}
    status, _, _ = server.call("GET", "/api/songs/song/open")
    assert status == 405, "no state change on GET"


def test_open_starts_paused_at_zero_and_silent(opened):
    time.sleep(0.5)
    state = opened.ok("GET", "/api/state")
    assert state["position_s"] == 0.0 and not state["playing"]
    assert [s["name"] for s in state["stems"]] == ["vocals", "bass", "keys"]
    assert state["buses"][0]["name"] == "band" and state["master"] == {"gain_db": 0.0, "mute": False}
    assert "karaoke" in state["presets"] and "streaming" not in state["presets"] and "streaming" in state["masters"]
    assert state["device"] == "system" and state["song"]["length_s"] == 8.0


def test_transport_plays_pauses_seeks_and_loops(opened):
    opened.ok("POST", "/api/transport", {"action": "play"})
    time.sleep(0.6)
    playing = opened.ok("GET", "/api/state")
    assert playing["playing"] and 0.3 < playing["position_s"] < 1.0
    opened.ok("POST", "/api/transport", {"action": "pause"})
    time.sleep(0.2)
    paused = opened.ok("GET", "/api/state")["position_s"]
    time.sleep(0.4)
    state = opened.ok("GET", "/api/state")
    assert not state["playing"] and state["position_s"] == paused
    state = opened.ok("POST", "/api/transport", {"action": "seek", "position_s": 5.0})
    assert state["position_s"] == 5.0
    state = opened.ok(
        "POST", "/api/transport", {"action": "loop", "loop_start_s": 1.0, "loop_end_s": 2.0, "loop_on": True}
    )
    assert state["loop"] == {"start_s": 1.0, "end_s": 2.0, "on": True}
    opened.ok("POST", "/api/transport", {"action": "play"})
    time.sleep(2.0)  # from 5 s, past the loop's end: back to 1..2 s
    assert 1.0 <= opened.ok("GET", "/api/state")["position_s"] <= 2.1
    assert not opened.ok("POST", "/api/transport", {"action": "loop", "loop_on": False})["loop"]["on"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"action": "jump"}, "action", "action:"),
        ({"action": "seek"}, "position_s", "position_s: a seek needs"),
        ({"action": "seek", "position_s": -1}, "position_s", "must be at least 0"),
        ({"action": "seek", "position_s": "1"}, "position_s", "must be a number"),
        ({"action": "play", "speed": 2}, "speed", "speed: is not a field"),
        ({"action": "loop", "loop_start_s": 3, "loop_end_s": 2}, "loop_end_s", "must end after"),
    ],
)
def test_bad_transport_requests_are_422_naming_the_field(opened, body, field, words):
    status, answer, _ = opened.call("POST", "/api/transport", body)
    assert status == 422 and answer["field"] == field and words in answer["error"], answer


def test_a_stem_change_shows_in_the_state_and_on_the_websocket_within_100_ms(opened):
    with opened.ws() as first, opened.ws() as second:
        for client in (first, second):
            assert json.loads(client.recv(timeout=5))["type"] == "state"
        asked = time.monotonic()
        state = opened.ok("PATCH", "/api/stems/vocals", {"gain_db": -7.5, "pan": 0.25, "solo": True})
        seen = []
        for client in (first, second):
            while True:
                message = json.loads(client.recv(timeout=5))
                if message["type"] == "state" and stem(message["state"], "vocals")["gain_db"] == -7.5:
                    seen.append(time.monotonic() - asked)
                    break
    print(f"state pushed to two clients {1000 * seen[0]:.1f} ms and {1000 * seen[1]:.1f} ms after the PATCH was sent")
    assert max(seen) < 0.1
    assert stem(state, "vocals") == {"name": "vocals", "role": "lead_vocal", "gain_db": -7.5, "pan": 0.25,
                                     "mute": False, "solo": True}  # fmt: skip
    assert stem(opened.ok("GET", "/api/state"), "vocals")["solo"] is True


@pytest.mark.parametrize(
    ("path", "body", "status", "words"),
    [
        ("/api/stems/drums", {"mute": True}, 404, "no stem named 'drums'; stems: vocals, bass, keys"),
        ("/api/stems/vocals", {"gain_db": 12.5}, 422, "gain_db: must be at most 12"),
        ("/api/stems/vocals", {"gain_db": -61}, 422, "gain_db: must be at least -60"),
        ("/api/stems/vocals", {"pan": 1.5}, 422, "pan: must be at most 1"),
        ("/api/stems/vocals", {"mute": "yes"}, 422, "mute: must be true or false"),
        ("/api/stems/vocals", {"gain": -3}, 422, "gain: is not a field"),
        ("/api/stems/vocals", [1, 2], 422, "JSON object"),
        ("/api/buses/band", {"pan": 0.5}, 422, "pan: is not a field"),
        ("/api/buses/nope", {"mute": True}, 404, "no bus named 'nope'; buses: band"),
        ("/api/master", {"solo": True}, 422, "solo: is not a field"),
        ("/api/key", {"key_shift": 13}, 422, "key_shift: must be at most 12"),
        ("/api/key", {}, 422, "key_shift: is required"),
        ("/api/tempo", {"tempo": 0.4}, 422, "tempo: must be at least 0.5"),
        ("/api/tempo", {"tempo": True}, 422, "tempo: must be a number"),
        ("/api/presets", {"name": "nope"}, 404, "no mix preset named 'nope'; presets: "),
        ("/api/presets", {"name": "streaming"}, 404, "no mix preset named 'streaming'; presets: "),
        ("/api/fit", {"voice": "alto", "range": "A2-E4"}, 422, "voice: give voice or range"),
        ("/api/fit", {}, 422, "voice: give voice or range"),
        ("/api/fit", {"range": "Q9-Z1"}, 400, "Q9"),
    ],
)
def test_bad_changes_are_one_line_errors_and_change_nothing(opened, path, body, status, words):
    before = opened.ok("GET", "/api/state")
    method = "PATCH" if path.startswith(("/api/stems", "/api/buses", "/api/master")) else "POST"
    got, answer, _ = opened.call(method, path, body)
    assert (got, set(answer)) == (status, {"error", "field"}), answer
    assert words in answer["error"] and "\n" not in answer["error"] and "Traceback" not in answer["error"]
    after = opened.ok("GET", "/api/state")
    assert (after["stems"], after["buses"], after["master"]) == (before["stems"], before["buses"], before["master"])


def test_malformed_json_and_oversize_bodies_are_refused(opened):
    status, answer, _ = opened.call("PATCH", "/api/stems/vocals", raw=b'{"mute": tru')
    assert status == 422 and "not valid JSON" in answer["error"]
    status, answer, _ = opened.call("PATCH", "/api/stems/vocals", raw=b'{"mute": true, "x": "' + b"a" * 70000 + b'"}')
    assert status == 413 and "64 KiB" in answer["error"]


def test_buses_master_key_tempo_presets_and_save(opened):
    path = opened.folder / "song" / "session.json"
    original = path.read_bytes()
    try:
        changes_and_save(opened, path)
    finally:
        path.write_bytes(original)  # the other tests open the song as it was


def changes_and_save(opened, path):
    state = opened.ok("PATCH", "/api/buses/band", {"gain_db": -3.0, "mute": True})
    assert state["buses"][0] | {} == {"name": "band", "gain_db": -3.0, "mute": True, "solo": False}
    state = opened.ok("PATCH", "/api/master", {"gain_db": -1.5})
    assert state["master"] == {"gain_db": -1.5, "mute": False}
    state = opened.ok("POST", "/api/presets", {"name": "karaoke"})
    assert stem(state, "vocals")["mute"] and not stem(state, "bass")["mute"]
    state = opened.ok("POST", "/api/tempo", {"tempo": 0.9})
    assert state["tempo_wanted"] == 0.9
    state = opened.ok("POST", "/api/key", {"key_shift": -2})
    assert state["key_shift_wanted"] == -2.0
    opened.ok("POST", "/api/transport", {"action": "play"})  # a key is switched to while playing
    heard = wait_for(
        lambda: (s := opened.ok("GET", "/api/state"))["key_shift"] == -2.0 and s["tempo"] == 0.9 and s, timeout=30
    )
    assert heard["preparing"] == "" and heard["error"] is None
    assert opened.ok("POST", "/api/save") == {"saved": "session.json"}
    saved = json.loads(path.read_text())
    assert saved["key_shift"] == -2.0 and saved["tempo"] == 0.9 and saved["master"]["gain_db"] == -1.5
    assert next(s for s in saved["stems"] if s["name"] == "vocals")["mute"] is True


def test_fit_chooses_a_key_for_the_lead_melody_and_sets_it(opened):
    answer = opened.ok("POST", "/api/fit", {"range": "C3-C4"})  # the vocals hold A4
    assert answer["fits"] and answer["lines"][0] == "singer: C3-C4"
    assert any(line.startswith("fits key shift") for line in answer["lines"])
    assert opened.ok("GET", "/api/state")["key_shift_wanted"] == answer["key_shift"]


def test_ticks_come_25_a_second_with_meters(opened):
    opened.ok("POST", "/api/transport", {"action": "play"})
    with opened.ws() as client:
        ticks, start = [], time.monotonic()
        while time.monotonic() - start < 2.0:
            message = json.loads(client.recv(timeout=2))
            if message["type"] == "tick":
                ticks.append(message)
    rate = len(ticks) / 2.0
    print(f"WebSocket ticks: {rate:.1f} per second")
    assert rate >= 20
    meters = ticks[-1]["meters"]
    assert {"stem:vocals", "stem:bass", "stem:keys", "bus:band", "master"} <= set(meters)
    assert -20 < meters["stem:vocals"] < -10  # a 0.2 sine: -14 dBFS
    assert ticks[-1]["position_s"] > ticks[0]["position_s"]


def test_a_client_going_away_does_not_stop_the_audio(opened):
    opened.ok("POST", "/api/transport", {"action": "play"})
    with opened.ws() as client:
        client.recv(timeout=5)
        client.socket.close()  # gone without a goodbye
        before = opened.ok("GET", "/api/state")["position_s"]
    time.sleep(0.5)
    after = opened.ok("GET", "/api/state")
    assert after["playing"] and after["position_s"] > before + 0.3


def test_mute_and_fader_are_heard_in_the_servers_output(opened):
    opened.ok("POST", "/api/transport", {"action": "play"})
    time.sleep(0.3)
    marks = {}
    with recording(opened.ports) as take:  # a moment is marked by the frames recorded by then
        time.sleep(1.0)
        marks["gain"] = take.frames
        opened.ok("PATCH", "/api/stems/bass", {"gain_db": -6.0})
        time.sleep(1.0)
        marks["mute"] = take.frames
        opened.ok("PATCH", "/api/stems/vocals", {"mute": True})
        time.sleep(1.0)
        marks["end"] = take.frames
    audio, half = take.audio[:, 0], SR // 2
    before, after, muted = (audio[marks[m] - half : marks[m]] for m in ("gain", "mute", "end"))
    assert db(steady(before, 440)) > -20 and db(steady(before, 110)) > -20, "every stem is heard at first"
    change = db(steady(after, 110)) - db(steady(before, 110))
    assert abs(change + 6.0) <= 0.5, f"bass at -6 dB changed by {change:.2f} dB"
    assert abs(db(steady(after, 660)) - db(steady(before, 660))) <= 0.5, "keys unchanged"
    assert db(steady(muted, 440)) < db(steady(after, 440)) - 60, "the muted vocal is gone"
    assert abs(db(steady(muted, 660)) - db(steady(after, 660))) <= 0.5
    heard_ms = 1000 * (gone_at(audio, marks["mute"], 440) - marks["mute"]) / SR
    print(f"click to audible: the mute was heard {heard_ms:.0f} ms after the PATCH was sent (JACK's capture included)")
    assert heard_ms < 250


def gone_at(audio: np.ndarray, start: int, freq: float, window: int = 480, hop: int = 48) -> int:
    """The end of the first 10 ms window after ``start`` where ``freq`` is at half its level before or less."""
    before = steady(audio[start - SR // 2 : start], freq)
    return next(
        at + window
        for at in range(start, audio.size - window, hop)
        if level(audio[at : at + window], freq) < 0.5 * before
    )
