"""The web app's show: setlists listed and checked, a show opened on one stream, Next song heard, the mixer on the
song playing, a real ``stemhost serve`` on JACK's dummy device (and chromium for the show page).

Song one holds 440/110/660 Hz (vocals, bass, keys), song two 330/165/550 Hz, so the recording tells them apart.
Figures (Next song to song 2 heard) are printed: run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from web_server import SR, db, level, make_song, recording, serving, steady, wait_for

pytest_plugins = ["browser"]  # the browsers fixture
ONE = {"vocals": 440.0, "bass": 110.0, "keys": 660.0}
TWO = {"vocals": 330.0, "bass": 165.0, "keys": 550.0}


@pytest.fixture(scope="module")
def server(tmp_path_factory, jack_device):
    """Songs 'one' (3 s, sections intro and verse) and 'two' (2 s); setlists 'setlist' (both, advance stop),
    'broken' (one song missing) and
    'friday' (sets/friday.json, its song in sets/late, deeper than the library looks) and 'auto' (sets/late twice,
    the second 1 s after the first on its own)."""
    folder = tmp_path_factory.mktemp("show") / "songs"
    sections = [{"name": "intro", "start_s": 0.0}, {"name": "verse", "start_s": 1.5}]
    make_song(folder, "one", seconds=3.0, freqs=tuple(ONE.values()), sections=sections)
    make_song(folder, "two", seconds=2.0, freqs=tuple(TWO.values()))
    write(folder / "setlist.json", {"title": "Friday late", "songs": [{"session": "one/session.json"},
                                                                      {"session": "two/session.json"}]})  # fmt: skip
    write(folder / "broken.json", {"songs": [{"session": "one/session.json"}, {"session": "gone/session.json"}]})
    make_song(folder / "sets", "late", seconds=1.0)
    write(folder / "sets" / "friday.json", {"songs": [{"session": "late/session.json", "gap_s": 0.5}]})
    auto = {"session": "late/session.json", "advance": "auto", "gap_s": 1.0}
    write(folder / "sets" / "auto.json", {"songs": [auto, {"session": "late/session.json"}]})
    with serving(folder) as running:
        yield running


def write(path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def show_state(server) -> dict:
    return server.ok("GET", "/api/state")["show"]


@pytest.fixture
def ready(server):
    """The setlist 'setlist' opened afresh (its JACK ports noted), song 1 prepared and waiting for Next song."""
    server.open_setlist("setlist")
    wait_for(lambda: show_state(server)["songs"][0]["state"] == "ready", timeout=20)
    return server


def heard(take) -> np.ndarray:
    return take.audio[:, 0]


def first_heard(audio: np.ndarray, start: int, freq: float, floor: float = 0.05, window: int = 480) -> int:
    """The end of the first 10 ms window from ``start`` where ``freq`` reaches ``floor`` (a 0.2 sine reads 0.2)."""
    return next(
        at + window for at in range(start, audio.size - window, 48) if level(audio[at : at + window], freq) > floor
    )


# ---------------------------------------------------------------------------------------------- the library


def test_setlists_are_listed_with_their_songs_and_problems_and_are_not_songs(server):
    listed = {s["id"]: s for s in server.ok("GET", "/api/setlists")}
    assert set(listed) == {"setlist", "broken", "friday", "auto"}, listed
    assert listed["setlist"] == {"id": "setlist", "title": "Friday late", "songs": ["one", "two"], "problems": []}
    assert listed["friday"]["songs"] == ["late"] and listed["friday"]["problems"] == []
    problems = listed["broken"]["problems"]
    assert len(problems) == 1 and "songs[1]" in problems[0] and "gone/session.json" in problems[0], problems
    assert "\n" not in problems[0]
    songs = server.ok("GET", "/api/songs")
    assert [s["id"] for s in songs] == ["one", "two"] and all(s["error"] is None for s in songs), songs


def test_a_setlist_leading_outside_the_folder_is_listed_with_that_problem_and_never_opened(tmp_path, jack_device):
    folder, outside = tmp_path / "songs", tmp_path / "elsewhere"
    make_song(outside, "secret", seconds=1.0)
    write(outside / "set.json", {"songs": [{"session": "secret/session.json"}]})
    folder.mkdir()
    (folder / "set.json").symlink_to(outside / "set.json")
    with serving(folder) as fresh:
        [listed] = fresh.ok("GET", "/api/setlists")
        assert listed["songs"] == [] and "outside" in listed["problems"][0], listed
        status, answer, _ = fresh.call("POST", "/api/setlists/set/open")
        assert status == 400 and "outside" in answer["error"] and fresh.ok("GET", "/api/state")["show"] is None


def test_the_setlists_listing_never_reads_or_stats_a_file_outside_the_folder(tmp_path, monkeypatch):
    """A linked setlist outside, a linked sub-folder outside and a setlist naming ../ sessions: nothing outside is
    opened (read_json) or looked at (file_stamp), yet each leading outside is listed with its problem."""
    from stemhost.web import setlists

    folder, outside = tmp_path / "songs", tmp_path / "elsewhere"
    write(outside / "set.json", {"songs": [{"session": "secret/session.json"}]})
    write(outside / "sub" / "deep.json", {"songs": [{"session": "x/session.json"}]})
    folder.mkdir()
    (folder / "set.json").symlink_to(outside / "set.json")
    (folder / "linked").symlink_to(outside / "sub")
    write(folder / "peek.json", {"songs": [{"session": "../elsewhere/set.json"}]})
    looked: list[Path] = []
    for name in ("read_json", "file_stamp"):
        real = getattr(setlists, name)
        monkeypatch.setattr(setlists, name, lambda path, real=real: looked.append(Path(path).resolve()) or real(path))
    listed = {entry.name: entry for entry in setlists.Setlists(folder).listing()}
    assert sorted(listed) == ["deep", "peek", "set"], listed
    assert "outside" in listed["set"].problems[0] and "outside" in listed["deep"].problems[0]
    assert listed["peek"].problems, "a session outside the folder is a problem of the check"
    assert looked and all(path.is_relative_to(folder.resolve()) for path in looked), looked


# ---------------------------------------------------------------------------------------------- the show


def test_open_prepares_song_one_and_waits_for_next_song(ready):
    state = ready.ok("GET", "/api/state")
    show = state["show"]
    assert (show["title"], show["index"], show["waiting"], show["starts_in_s"]) == ("Friday late", -1, True, -1.0)
    assert [s["state"] for s in show["songs"]] == ["ready", ""]
    assert show["songs"][0] == {"index": 0, "title": "one", "state": "ready", "key_shift": 0.0, "tempo": 1.0,
                                "count_in_bars": 0, "advance": "stop", "gap_s": 2.0}  # fmt: skip
    assert state["song"] is None and state["device"] == "system"
    status, answer, _ = ready.call("PATCH", "/api/stems/vocals", {"mute": True})
    assert status == 409 and "the show has not started" in answer["error"], answer


def test_next_song_plays_song_one_then_song_two_and_the_mixer_acts_on_the_song_playing(ready):
    marks = {}
    with recording(ready.ports) as take:
        time.sleep(0.5)
        marks["start"] = take.frames
        state = ready.ok("POST", "/api/show", {"action": "next_song"})
        assert state["show"]["index"] == 0 and state["song"]["id"] == "one" and state["playing"], state["show"]
        assert [s["state"] for s in state["show"]["songs"]][0] == "playing"
        time.sleep(1.0)
        marks["mute"] = take.frames
        state = ready.ok("PATCH", "/api/stems/vocals", {"mute": True})  # the mixer's route, on song one
        assert next(s for s in state["stems"] if s["name"] == "vocals")["mute"] is True
        time.sleep(0.8)
        marks["next"] = take.frames
        sent = time.perf_counter()
        state = ready.ok("POST", "/api/show", {"action": "next_song"})
        answered_ms = 1000 * (time.perf_counter() - sent)
        assert state["show"]["index"] == 1 and state["song"]["id"] == "two", state["show"]
        assert [s["state"] for s in state["show"]["songs"]] == ["played", "playing"]
        assert all(not s["mute"] for s in state["stems"]), "song two has its own mix"
        time.sleep(1.0)
        marks["end"] = take.frames
    audio = heard(take)
    silent = audio[marks["start"] - SR // 4 : marks["start"]]
    one = audio[marks["mute"] - SR // 2 : marks["mute"]]
    muted = audio[marks["next"] - SR // 2 : marks["next"]]
    two = audio[marks["end"] - SR // 2 : marks["end"]]
    assert np.max(np.abs(silent)) == 0.0, "song 1 waits for Next song in silence"
    assert db(steady(one, ONE["vocals"])) > -20 and db(steady(one, ONE["bass"])) > -20, "song one is heard"
    assert db(steady(muted, ONE["vocals"])) < db(steady(one, ONE["vocals"])) - 60, "its muted vocals are gone"
    assert abs(db(steady(muted, ONE["keys"])) - db(steady(one, ONE["keys"]))) <= 0.5, "its keys go on"
    assert db(steady(two, TWO["vocals"])) > -20 and db(steady(two, TWO["bass"])) > -20, "song two is heard"
    assert max(steady(two, f) for f in ONE.values()) < 1e-3, "song one is gone"
    started_ms = 1000 * (first_heard(audio, marks["start"], ONE["vocals"]) - marks["start"]) / SR
    switched_ms = 1000 * (first_heard(audio, marks["next"], TWO["vocals"]) - marks["next"]) / SR
    print(f"\nshow: Next song → song 1 heard {started_ms:.0f} ms; Next song → song 2 heard {switched_ms:.0f} ms "
          f"(the answer came after {answered_ms:.0f} ms; JACK's capture included)")  # fmt: skip
    assert started_ms < 250 and switched_ms < 250


def test_the_show_is_pushed_to_websocket_clients_as_songs_switch(ready):
    with ready.ws() as client:
        assert json.loads(client.recv(timeout=5))["state"]["show"]["index"] == -1
        ready.ok("POST", "/api/show", {"action": "start_song", "index": 1})  # song 2 is not prepared: not instant
        deadline = time.monotonic() + 20
        while True:
            message = json.loads(client.recv(timeout=5))
            if message["type"] == "state" and message["state"]["show"]["index"] == 1:
                break
            assert time.monotonic() < deadline, "no state with song 2 playing was pushed"
        assert message["state"]["song"]["id"] == "two"
        assert [s["state"] for s in message["state"]["show"]["songs"]] == ["", "playing"]
        ready.ok("POST", "/api/show", {"action": "previous_song"})
        wait_for(lambda: show_state(ready)["index"] == 0, timeout=20)
        ended = wait_for(lambda: (s := show_state(ready))["songs"][0]["state"] == "ended" and s, timeout=10)
        assert ended["waiting"] and ended["songs"][1]["state"] == "ready", "song 1 ends ('stop'): song 2 waits"


def test_an_auto_gap_counts_down_to_the_next_song_in_the_state_and_the_ticks(server):
    server.open_setlist("auto")
    wait_for(lambda: show_state(server)["songs"][0]["state"] == "ready", timeout=20)
    with server.ws() as client:
        server.ok("POST", "/api/show", {"action": "next_song"})
        counting, ticks = None, []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            message = json.loads(client.recv(timeout=5))
            if message["type"] == "state" and message["state"]["show"]["starts_in_s"] >= 0 and counting is None:
                counting = message["state"]["show"]
            if counting is not None and message["type"] == "tick":
                ticks.append(message["starts_in_s"])
            if message["type"] == "state" and message["state"]["show"]["index"] == 1:
                break
    assert counting is not None, "the countdown's start was pushed"
    assert [s["state"] for s in counting["songs"]] == ["ended", "ready"] and 0.5 < counting["starts_in_s"] <= 1.0
    assert ticks and ticks == sorted(ticks, reverse=True) and ticks[-1] < 0.5, ticks
    assert show_state(server)["index"] == 1


def test_a_show_does_not_save_mixes_and_close_ends_it(ready):
    ready.ok("POST", "/api/show", {"action": "next_song"})
    status, answer, _ = ready.call("POST", "/api/save")
    assert (status, answer) == (409, {"error": "a show does not save mixes: open the song on its own to save its mix",
                                      "field": None})  # fmt: skip
    state = ready.ok("POST", "/api/show", {"action": "close"})
    assert state["show"] is None and state["song"] is None
    status, answer, _ = ready.call("POST", "/api/show", {"action": "next_song"})
    assert status == 409 and "no show is open" in answer["error"]


def test_opening_a_song_closes_the_show_and_a_show_closes_the_song(server):
    server.open_setlist("friday")  # its song lies in sets/late: not in the library, still played
    server.ok("POST", "/api/show", {"action": "next_song"})
    state = wait_for(lambda: (s := server.ok("GET", "/api/state"))["song"] and s)
    assert state["song"]["title"] == "late" and state["song"]["id"] is None
    state = server.open_song("two")
    assert state["show"] is None and state["song"]["id"] == "two"
    state = server.open_setlist("setlist")
    assert state["song"] is None and state["show"]["title"] == "Friday late"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field", "words"),
    [
        ("POST", "/api/setlists/nothing/open", None, 404, "id", "no setlist 'nothing'"),
        ("POST", "/api/setlists/Bad_Id/open", None, 404, "id", "ids are lower-case"),
        ("POST", "/api/setlists/..%2Fsetlist/open", None, 404, None, "not found"),
        ("POST", "/api/setlists/%2e%2e/open", None, 404, None, "not found"),
        ("POST", "/api/show", {"action": "start_song", "index": 2}, 404, "index", "no song 2 in the setlist"),
        ("POST", "/api/show", {"action": "start_song", "index": -1}, 422, "index", "index: must be at least 0"),
        ("POST", "/api/show", {"action": "start_song"}, 422, "index", "index: start_song needs index"),
        ("POST", "/api/show", {"action": "next_song", "index": 1}, 422, "index", "only start_song takes an index"),
        ("POST", "/api/show", {"action": "next"}, 422, "action", "action:"),
        ("POST", "/api/show", {"action": "start_song", "index": "1"}, 422, "index", "index:"),
    ],
)
def test_bad_show_requests_are_one_line_errors(ready, method, path, body, status, field, words):
    got, answer, _ = ready.call(method, path, body)
    assert (got, set(answer)) == (status, {"error", "field"}), answer
    assert answer["field"] == field and words in answer["error"] and "\n" not in answer["error"], answer
    assert show_state(ready)["index"] == -1, "nothing changed"
    assert server_has_not_listed_it(ready)


def server_has_not_listed_it(server) -> bool:
    """No traversal reached a file: the setlists are still the three of the folder."""
    return {s["id"] for s in server.ok("GET", "/api/setlists")} == {"setlist", "broken", "friday", "auto"}


# ---------------------------------------------------------------------------------------------- the show page


def show_page(driver, base: str):
    """The show page, loaded, with the show's songs drawn from the server's state."""
    driver.get(base + "/show")
    wait_for(lambda: driver.execute_script("return document.querySelectorAll('[data-index]').length > 0"))
    return driver


def page_state(driver) -> dict:
    return driver.execute_script("return window.stemhostStats.state.show")


def test_the_show_page_starts_song_one_on_a_click_and_song_two_on_page_down(ready, browsers):
    from selenium.webdriver.common.keys import Keys

    driver = show_page(browsers(), ready.url)
    assert driver.find_element("id", "next-title").text == "1. one"
    assert driver.find_element("css selector", '[data-index="0"]').get_attribute("data-state") == "ready"
    with recording(ready.ports) as take:
        time.sleep(0.3)
        clicked = take.frames
        driver.find_element("id", "next-song").click()
        wait_for(lambda: show_state(ready)["index"] == 0)
        wait_for(lambda: driver.find_element("id", "now-title").text == "1. one")
        wait_for(lambda: show_state(ready)["songs"][1]["state"] == "ready", timeout=20)
        time.sleep(0.5)
        pressed = take.frames
        driver.find_element("tag name", "body").send_keys(Keys.PAGE_DOWN)  # a USB foot pedal
        wait_for(lambda: show_state(ready)["index"] == 1)
        wait_for(lambda: page_state(driver)["index"] == 1)
        time.sleep(0.5)
    audio = heard(take)
    one_ms = 1000 * (first_heard(audio, clicked, ONE["vocals"]) - clicked) / SR
    two_ms = 1000 * (first_heard(audio, pressed, TWO["vocals"]) - pressed) / SR
    assert max(steady(audio[-SR // 4 :], f) for f in ONE.values()) < 1e-3, "song one is gone"
    assert driver.find_element("id", "now-title").text == "2. two"
    assert not driver.find_element("id", "sections-bar").is_displayed(), "song two has no sections"
    assert driver.find_element("css selector", '[data-index="1"]').get_attribute("aria-current") == "true"
    print(f"\nshow page: click Next song → song 1 heard {one_ms:.0f} ms; PageDown → song 2 heard {two_ms:.0f} ms")
    assert one_ms < 400 and two_ms < 400


def test_the_show_page_on_a_phone_picks_a_setlist_and_fits_390_px_with_44_px_targets(server, browsers):
    from test_web_browser import SCREENSHOTS

    if server.ok("GET", "/api/state")["show"] is not None:
        server.ok("POST", "/api/show", {"action": "close"})
    phone = browsers(phone=True)
    phone.get(server.url + "/show")
    problems = wait_for(lambda: phone.find_elements("css selector", '[aria-label="Problems of broken"] li'))
    assert "gone/session.json" in problems[0].text
    fits(phone, "the setlists")
    phone.find_element("css selector", '[data-setlist="setlist"]').click()
    wait_for(lambda: phone.find_elements("css selector", '[data-index="0"][data-state="ready"]'), timeout=20)
    phone.find_element("id", "next-song").click()
    wait_for(lambda: show_state(server)["index"] == 0)
    wait_for(lambda: phone.find_element("id", "now-title").text == "1. one")
    phone.find_element("css selector", '[data-section="verse"]').click()  # no grid: at once
    wait_for(lambda: server.ok("GET", "/api/state")["section"] == "verse")
    wait_for(
        lambda: phone.find_element("css selector", '[data-section="verse"]').get_attribute("aria-pressed") == "true"
    )
    pedal = phone.find_element("id", "next-song").rect
    assert pedal["height"] >= 88 and pedal["width"] >= 150, pedal
    assert phone.find_element("id", "to-mixer").get_attribute("href").endswith("/mixer")
    fits(phone, "the show")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    phone.save_screenshot(str(SCREENSHOTS / "show-phone.png"))


def fits(phone, what: str) -> None:
    from test_web_browser import big_enough

    widths = phone.execute_script(
        "return [window.innerWidth, document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] == 390, f"{what}: the viewport is {widths[0]} CSS px wide"
    assert widths[1] <= widths[2], f"{what}: scrolls sideways ({widths[1]} > {widths[2]})"
    assert big_enough(phone) == [], what
