"""The web mixer in a real browser (Debian's chromium through selenium) against a real ``stemhost serve`` process
playing on JACK's dummy device; what the pages change is checked in the API's state and in the recorded audio.

The song is three sines at distinct frequencies (vocals 880 Hz, keys 440 Hz, bass 220 Hz), so the recording tells
each stem apart by its frequency. Figures (latencies, the tick rate) are printed: run with ``-s`` to see them.
"""

from __future__ import annotations

import hashlib
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from web_server import SR, level, make_song, recording, serving, steady, wait_for

from conftest import peak_hz

pytest_plugins = ["browser"]  # the browsers fixture
FREQ = {"vocals": 880.0, "bass": 220.0, "keys": 440.0}  # make_song's stems, in its order
KEY_READY_S = 8.0  # the live key-change bound of tests/test_live.py
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.fixture(scope="module")
def server(tmp_path_factory, jack_device, chromium):
    """A real ``stemhost serve`` on a free loopback port, playing on JACK, with one 40 s song 'demo'."""
    folder = tmp_path_factory.mktemp("web") / "songs"
    session = make_song(folder, "demo", seconds=40.0, freqs=tuple(FREQ.values()), key="A major", bpm=96)
    with serving(folder) as running:
        running.session = session
        yield running


@pytest.fixture
def song(server):
    """The song opened afresh (the session's own mix, paused at 0), then playing."""
    server.open_song("demo")  # notes server.ports, the JACK outputs of its new stream
    server.ok("POST", "/api/transport", {"action": "play"})
    return server


def heard(take) -> np.ndarray:
    """The left channel recorded so far."""
    return take.audio[:, 0]


def mixer(driver, base: str):
    """The mixer page, loaded, with the song's strips drawn and the WebSocket live."""
    driver.get(base + "/mixer")
    wait_for(
        lambda: driver.execute_script(
            "return document.querySelector('[data-stem=\"vocals\"] .mute') && window.stemhostStats.ticks > 2"
        )
    )
    return driver


def stem_state(server, name: str) -> dict:
    return next(s for s in server.ok("GET", "/api/state")["stems"] if s["name"] == name)


# ---------------------------------------------------------------------------------------------- the tests


def test_the_library_lists_the_song_and_opens_it_in_the_mixer(server, browsers):
    driver = browsers()
    driver.get(server.url + "/?token=not-needed-on-loopback")
    button = wait_for(lambda: driver.find_elements("css selector", '[data-song="demo"]'))[0]
    assert "token" not in driver.current_url, "the token is taken out of the address bar"
    assert "vocals" in button.text and "bass" in button.text, button.text
    search = driver.find_element("id", "search")
    search.send_keys("no such song")
    assert not driver.find_elements("css selector", '[data-song="demo"]')
    search.clear()
    search.send_keys("keys")  # a stem's name finds the song
    driver.find_element("css selector", '[data-song="demo"]').click()
    wait_for(lambda: driver.current_url.endswith("/mixer"))
    title = server.ok("GET", "/api/state")["song"]["title"]
    wait_for(lambda: driver.find_element("id", "song-title").text == title)
    assert server.ok("GET", "/api/state")["song"]["id"] == "demo"
    names = [e.get_attribute("data-stem") for e in driver.find_elements("css selector", "[data-stem]")]
    assert names == list(FREQ)


CLICK_AND_WAIT = """
const [selector, name, field, done] = arguments;
const button = document.querySelector(selector);
const clicked = performance.now(), seen = window.stemhostStats.socketStates;
button.click();
(function look() {
  const stats = window.stemhostStats, state = stats.socketState;
  const strip = state && state.stems.find((s) => s.name === name);
  if (stats.socketStates > seen && strip && strip[field]) {
    done({ws_ms: stats.socketStateAt - clicked, latency_ms: state.latency_ms});
  } else setTimeout(look, 1);
})();
"""


def test_mute_in_the_browser_mutes_the_stem_and_the_recording_loses_it(song, browsers):
    driver = mixer(browsers(), song.url)
    with recording(song.ports) as take:
        time.sleep(1.0)
        before = heard(take)[-SR // 2 :]
        asked = len(heard(take))  # the frame arriving as the click is sent (a JACK period late at most)
        clicked = driver.execute_async_script(CLICK_AND_WAIT, '[data-stem="vocals"] .mute', "vocals", "mute")
        assert stem_state(song, "vocals")["mute"] is True
        time.sleep(1.0)
        audio = heard(take)
    gone = next(f for f in range(asked - 4800, len(audio) - 480, 48)
                if level(audio[f : f + 480], FREQ["vocals"]) < 0.5 * steady(before, FREQ["vocals"]))  # fmt: skip
    audible_ms = 1000 * (gone + 480 - asked) / SR  # the end of the first 10 ms window at half the level or less
    after = audio[-SR // 2 :]
    print(f"\nmute: click → WebSocket state {clicked['ws_ms']:.1f} ms; click → audible change {audible_ms:.0f} ms "
          f"(the player's latency {clicked['latency_ms']} ms)")  # fmt: skip
    assert steady(before, FREQ["vocals"]) > 0.05 and steady(before, FREQ["keys"]) > 0.05
    assert steady(after, FREQ["vocals"]) < 1e-4, "the muted stem is gone from the recording"
    assert steady(after, FREQ["keys"]) == pytest.approx(steady(before, FREQ["keys"]), rel=0.02), "the others play on"
    assert driver.find_element("css selector", '[data-stem="vocals"] .mute').get_attribute("aria-pressed") == "true"


def test_a_fader_moved_down_6_db_lowers_the_stem_by_6_db(song, browsers):
    from selenium.webdriver.common.keys import Keys

    driver = mixer(browsers(), song.url)
    with recording(song.ports) as take:
        time.sleep(1.0)
        before = heard(take)[-SR // 2 :]
        fader = driver.find_element("css selector", '[data-stem="keys"] .fader')
        fader.send_keys(Keys.ARROW_LEFT * 12)  # 12 steps of 0.5 dB, each sent to the server
        wait_for(lambda: stem_state(song, "keys")["gain_db"] == -6.0)
        time.sleep(1.0)
        after = heard(take)[-SR // 2 :]
    change = 20 * np.log10(steady(after, FREQ["keys"]) / steady(before, FREQ["keys"]))
    print(f"\nfader −6 dB: the recorded level changed by {change:+.2f} dB")
    assert change == pytest.approx(-6.0, abs=0.5)
    assert steady(after, FREQ["bass"]) == pytest.approx(steady(before, FREQ["bass"]), rel=0.02)
    assert driver.find_element("css selector", '[data-stem="keys"] .gain').text == "-6.0 dB"


def test_key_up_twice_moves_a_held_note_200_cents_within_the_live_bound(song, browsers):
    driver = mixer(browsers(), song.url)
    with recording(song.ports) as take:
        time.sleep(1.0)
        before = heard(take)[-SR:]
        driver.find_element("id", "key-up").click()
        driver.find_element("id", "key-up").click()
        asked = time.monotonic()
        wait_for(lambda: driver.find_element("id", "preparing").is_displayed(), timeout=2)
        wait_for(lambda: not driver.find_element("id", "preparing").is_displayed(), timeout=KEY_READY_S + 5, every=0.05)
        ready_s = time.monotonic() - asked
        state = song.ok("GET", "/api/state")
        time.sleep(1.5)
        after = heard(take)[-SR:]
    cents = 1200 * np.log2(peak_hz(after, FREQ["bass"] * 2 ** (2 / 12)) / peak_hz(before, FREQ["bass"]))
    print(f"\nkey +2: heard {ready_s:.2f} s after the click; the held note moved {cents:.1f} cents")
    assert state["key_shift"] == 2 and state["preparing"] == ""
    assert driver.find_element("id", "key-shift").text == "+2"
    assert ready_s < KEY_READY_S
    assert cents == pytest.approx(200, abs=10)


def test_a_render_from_the_page_equals_the_cli_export_byte_for_byte(server, browsers, tmp_path):
    from stemhost.cli.main import main

    driver = browsers()
    driver.get(server.url + "/renders")
    wait_for(lambda: driver.find_elements("css selector", '#song option[value="demo"]'))
    driver.find_element("css selector", 'input[value="full"]').click()  # off
    driver.find_element("css selector", 'input[value="karaoke"]').click()  # on
    driver.find_element("id", "start").click()
    state = lambda: [e.text for e in driver.find_elements("css selector", "[data-job] .state")][:1] or [""]  # noqa: E731
    wait_for(lambda: state()[0] in ("done", "failed"), timeout=180, every=0.2)
    assert state() == ["done"], driver.find_element("css selector", "[data-job] .error").text
    (link,) = driver.find_elements("css selector", "[data-job] .files a")
    with urllib.request.urlopen(link.get_attribute("href"), timeout=60) as answer:
        served = answer.read()
    assert main(["export", str(server.session), "--variants", "karaoke", "-o", str(tmp_path / "pack")]) == 0
    (exported,) = (tmp_path / "pack").glob("*.wav")
    assert hashlib.sha256(served).hexdigest() == hashlib.sha256(exported.read_bytes()).hexdigest()
    wait_for(lambda: driver.find_elements("css selector", "[data-job] iframe"))


OBSERVE = """
const [selector] = arguments;
window.seenAt = [];
new MutationObserver(() => window.seenAt.push(performance.timeOrigin + performance.now()))
  .observe(document.querySelector(selector), {attributes: true, attributeFilter: ["aria-pressed"]});
"""


def test_two_browsers_stay_in_step_within_100_ms(song, browsers):
    one, other = mixer(browsers(), song.url), mixer(browsers(), song.url)
    selector = '[data-stem="bass"] .mute'
    other.execute_script(OBSERVE, selector)
    delays = []
    for turn in range(6):
        clicked = one.execute_script(
            "const t = performance.timeOrigin + performance.now(); document.querySelector(arguments[0]).click(); return t;",
            selector,
        )
        pressed = "true" if turn % 2 == 0 else "false"
        wait_for(lambda: other.find_element("css selector", selector).get_attribute("aria-pressed") == pressed, 2)  # noqa: B023
        delays.append(other.execute_script("return window.seenAt[window.seenAt.length - 1]") - clicked)
        time.sleep(0.2)
    print(f"\ntwo browsers: a mute shows in the other after {np.median(delays):.1f} ms (median), "
          f"{max(delays):.1f} ms (most) over {len(delays)} clicks")  # fmt: skip
    assert max(delays) < 100


def test_the_page_gets_at_least_20_ticks_a_second_and_meters_move(song, browsers):
    driver = mixer(browsers(), song.url)
    time.sleep(0.5)
    start = driver.execute_script("return [window.stemhostStats.ticks, performance.now()]")
    time.sleep(3.0)
    end = driver.execute_script("return [window.stemhostStats.ticks, performance.now()]")
    rate = (end[0] - start[0]) / ((end[1] - start[1]) / 1000)
    print(f"\nthe page received {rate:.1f} ticks a second")
    assert rate >= 20
    scale = driver.execute_script("return document.querySelector('[data-stem=\"keys\"] .meter .fill').style.transform")
    assert scale.startswith("scaleX(") and float(scale[7:-1]) > 0.5, scale  # a 0.1 sine peaks near −20 dBFS


def test_a_lost_connection_comes_back_and_restores_the_view(song, browsers):
    driver = mixer(browsers(), song.url)
    driver.execute_script("window.stemhostSocket().close()")
    song.ok("PATCH", "/api/stems/bass", {"mute": True, "gain_db": -3.0})  # changed while away
    wait_for(
        lambda: driver.find_element("css selector", '[data-stem="bass"] .mute').get_attribute("aria-pressed") == "true",
        5,
    )  # noqa: E501
    assert driver.find_element("css selector", '[data-stem="bass"] .gain').text == "-3.0 dB"
    assert driver.find_element("id", "conn").text == "live"


def big_enough(driver) -> list[str]:
    """Every visible control smaller than 44x44 CSS px, and the page's widths."""
    return driver.execute_script("""
      const small = [];
      for (const e of document.querySelectorAll('button, input, select, textarea, a.button, nav a, summary')) {
        const box = e.getBoundingClientRect();
        if (!box.width && !box.height) continue;  // not shown
        if (box.width < 44 || box.height < 44) small.push(`${e.id || e.className || e.tagName} ${box.width}x${box.height}`);
      }
      return small;
    """)


def test_the_phone_remote_fits_390_px_with_44_px_touch_targets(song, browsers):
    phone = browsers(phone=True)
    song.ok("PATCH", "/api/stems/vocals", {"mute": True})
    for path in ("/", "/mixer", "/renders"):
        phone.get(song.url + path)
        wait_for(lambda: phone.execute_script("return document.readyState") == "complete")
        time.sleep(1.0)  # the page's first answers drawn
        widths = phone.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] == 390, f"{path}: the viewport is {widths[0]} CSS px wide"
        assert widths[1] <= widths[2], f"{path}: scrolls sideways ({widths[1]} > {widths[2]})"
        assert big_enough(phone) == [], path
        if path == "/mixer":
            position = phone.execute_script("return getComputedStyle(document.getElementById('transport')).position")
            assert position == "sticky"
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            phone.save_screenshot(str(SCREENSHOTS / "mixer-phone.png"))


def test_the_desktop_mixer_screenshot(song, browsers):
    base = song.url
    song.ok("PATCH", "/api/stems/vocals", {"mute": True})
    song.ok("PATCH", "/api/stems/keys", {"gain_db": -4.5, "pan": -0.3})
    song.ok("POST", "/api/transport", {"action": "loop", "loop_start_s": 8.0, "loop_end_s": 24.0, "loop_on": True})
    driver = mixer(browsers(), base)
    time.sleep(1.5)
    assert big_enough(driver) == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / "mixer-desktop.png"))


def test_the_api_page_lists_every_operation_with_its_fields(server, browsers):
    driver = browsers()
    driver.get(server.url + "/api/docs")
    wait_for(lambda: driver.find_elements("css selector", '[data-op="PATCH /api/stems/{name}"]'))
    spec = server.ok("GET", "/api/openapi.json")
    shown = {e.get_attribute("data-op") for e in driver.find_elements("css selector", "[data-op]")}
    listed = {f"{m.upper()} {p}" for p, item in spec["paths"].items() for m in item if m in ("get", "post", "patch")}
    assert shown == listed
    op = driver.find_element("css selector", '[data-op="PATCH /api/stems/{name}"]')
    op.find_element("tag name", "summary").click()
    assert "gain_db" in op.text and "≤ 12" in op.text and "≥ -60" in op.text


def test_a_band_leader_with_the_token_runs_the_show_from_a_phone(tmp_path, browsers, jack_device):
    """Off loopback with a token: the phone opens the printed address (?token=), the page keeps the token in its
    cookie and drops it from the address, and the library, the mixer and the WebSocket work; without it, 401."""
    folder = tmp_path / "songs"
    make_song(folder, "stage", seconds=20.0, freqs=tuple(FREQ.values()), key="D major", bpm=120)
    with serving(folder, host="0.0.0.0", token="band-leader-t0ken") as server:
        phone = browsers(phone=True)
        phone.get(server.url + "/")
        assert "open the address stemhost serve printed" in phone.find_element("tag name", "body").text
        phone.get(server.url + "/?token=band-leader-t0ken")
        wait_for(lambda: phone.find_elements("css selector", '[data-song="stage"]'))[0].click()
        assert "token" not in phone.current_url
        wait_for(lambda: phone.current_url.endswith("/mixer"))
        wait_for(lambda: phone.execute_script("return window.stemhostStats && window.stemhostStats.ticks > 2"))
        phone.find_element("css selector", "#play").click()
        wait_for(lambda: server.ok("GET", "/api/state")["playing"])
        phone.find_element("css selector", '[data-stem="vocals"] .mute').click()
        wait_for(lambda: stem_state(server, "vocals")["mute"])
        phone.find_element("css selector", "#key-down").click()
        wait_for(lambda: server.ok("GET", "/api/state")["key_shift_wanted"] == -1.0)
        assert server.call("GET", "/api/state", headers={"Authorization": "Bearer wrong"})[0] == 401
