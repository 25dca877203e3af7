"""The terminal mixer, driven by Textual's pilot, with a real player on the JACK device.

Keys are posted as the terminal driver posts them (``events.Key``); ``pilot.press`` would wait for
the process to go idle after each key, which it never does while audio renders (about 2 s a key).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import numpy as np
import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets import Footer

from stemhost.engine.mix import pan_gains
from stemhost.errors import DeviceError, SessionError
from stemhost.live.mixer import FADER_STEP_DB, MixerApp, mss, run_mixer
from stemhost.live.mixer_keys import BINDINGS, ConfirmScreen, HelpScreen, key_name
from stemhost.live.play import PlayOptions, playing
from stemhost.live.player import Player
from stemhost.session.files import load_session

from conftest import tone, write_audio, write_session

SECONDS = 14.0
STEMS = (("bass", "bass", 110.0), ("keys", "keys", 440.0), ("vox", "lead_vocal", 660.0))
CHARACTERS = {
    "plus": "+",
    "minus": "-",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "left_square_bracket": "[",
    "right_square_bracket": "]",
    "space": " ",
    "question_mark": "?",
}

Script = Callable[[MixerApp, Pilot, Player], Awaitable[None]]


@pytest.fixture
def session_path(tmp_path: Path, jack_device) -> Path:
    """Three 14 s stems at 48 kHz whose level swells and falls twice a second (so meters move), and a bus."""
    return make_session(tmp_path, SECONDS)


def make_session(tmp_path: Path, seconds: float) -> Path:
    t = np.arange(round(seconds * 48000)) / 48000
    swell = (0.55 + 0.45 * np.sin(2 * np.pi * 2.0 * t)).astype(np.float32)
    for name, _, freq in STEMS:
        write_audio(tmp_path / f"{name}.wav", tone(freq, seconds, level=0.3) * swell)
    stems = [{"name": name, "file": f"{name}.wav", "role": role} for name, role, _ in STEMS]
    stems[2]["sends"] = [{"bus": "room", "level_db": -6}]
    return write_session(tmp_path, {"stems": stems, "buses": [{"name": "room"}], "title": "mixer test"})


def run(
    session_path: Path,
    script: Script,
    save_path: Path | None = None,
    duration_s: float | None = None,
    size: tuple[int, int] = (160, 30),
) -> MixerApp:
    """Play the session on the JACK device and run ``script`` against the mixer."""
    session = load_session(session_path)

    async def main() -> MixerApp:
        with playing(session, session_path, PlayOptions(device="system", duration_s=duration_s)) as (player, device):
            app = MixerApp(player, save_path or session_path, device.name)
            async with app.run_test(size=size) as pilot:
                await pilot.pause(0.1)
                await script(app, pilot, player)
        return app

    return asyncio.run(main())


async def press(pilot: Pilot, *keys: str) -> None:
    """Send keys as the terminal would, each handled before the next is sent."""
    for key in keys:
        pilot.app.post_message(events.Key(key, CHARACTERS.get(key, key if len(key) == 1 else None)))
        await pilot.pause(0.01)


async def until(pilot: Pilot, condition: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.02)
    return True


async def peaks_for(pilot: Pilot, app: MixerApp, key: tuple[str, str], seconds: float) -> list[float]:
    """The meter's peak (dBFS) at every refresh for a while."""
    row, seen, deadline = app.rows[key], [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(row.peak_db)
        await pilot.pause(1 / 30)
    return seen


def node(player: Player, name: str):
    return next(n for n in player.graph.stems if n.name == name)


def test_m_mutes_the_selected_stem_and_its_meter_falls_silent(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        assert app.strip.name == "bass"
        assert max(await peaks_for(pilot, app, ("stem", "bass"), 0.3)) > -20.0
        await press(pilot, "m")
        assert player.strips[("stem", "bass")].mute
        assert await until(pilot, lambda: node(player, "bass").gains == (0.0, 0.0))
        await pilot.pause(0.2)  # the blocks rendered before the change have been metered
        assert set(await peaks_for(pilot, app, ("stem", "bass"), 0.4)) == {-np.inf}
        assert node(player, "keys").gains != (0.0, 0.0)
        await press(pilot, "m")
        assert not player.strips[("stem", "bass")].mute
        assert await until(pilot, lambda: node(player, "bass").gains == pan_gains(0.0, 0.0, 1))
        assert max(await peaks_for(pilot, app, ("stem", "bass"), 0.4)) > -20.0

    run(session_path, script)


def test_down_selects_the_next_strip_and_s_solos_it(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "down")
        assert app.strip.name == "keys"
        assert app.rows[("stem", "keys")].has_class("selected")
        assert not app.rows[("stem", "bass")].has_class("selected")
        await press(pilot, "s")
        assert player.strips[("stem", "keys")].solo
        assert await until(pilot, lambda: node(player, "bass").gains == node(player, "vox").gains == (0.0, 0.0))
        assert node(player, "keys").gains == pan_gains(0.0, 0.0, 1)
        await press(pilot, "up", "up", "s")  # the selection stops at the first strip
        assert app.strip.name == "bass"
        assert player.strips[("stem", "bass")].solo

    run(session_path, script)


def test_fader_keys_move_the_selected_fader_by_one_db(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "down", "down")
        vox = player.strips[("stem", "vox")]
        await press(pilot, "shift+up")
        assert vox.gain_db == pytest.approx(FADER_STEP_DB) == pytest.approx(1.0)
        await press(pilot, "shift+up", "shift+up", "shift+down")
        assert vox.gain_db == pytest.approx(2.0)
        assert await until(pilot, lambda: node(player, "vox").gains == pan_gains(0.0, 2.0, 1))
        await press(pilot, "shift+down", "shift+down", "shift+down")
        assert vox.gain_db == pytest.approx(-1.0)
        assert "-1.0 dB" in str(app.rows[("stem", "vox")].content)
        await press(pilot, "down", "shift+down")  # a bus fader
        assert player.strips[("bus", "room")].gain_db == pytest.approx(-1.0)
        assert await until(pilot, lambda: player.graph.buses[0].gain == pytest.approx(10 ** (-1 / 20)))

    run(session_path, script)


def test_m_and_s_mute_and_solo_a_bus_and_m_mutes_the_master(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "down", "down", "down", "m")
        assert app.strip.kind == "bus" and player.strips[("bus", "room")].mute
        assert await until(pilot, lambda: player.graph.buses[0].gain == 0.0)
        await pilot.pause(0.2)  # the blocks rendered before the change have been metered
        assert set(await peaks_for(pilot, app, ("bus", "room"), 0.3)) == {-np.inf}
        assert max(await peaks_for(pilot, app, ("master", "master"), 0.3)) > -20.0
        await press(pilot, "m", "s")  # soloed: only vox's send through the room reaches the master
        assert await until(pilot, lambda: player.graph.buses[0].gain == 1.0)
        levels = lambda: [e.level for e in player.graph.master.edges]  # noqa: E731
        assert await until(pilot, lambda: levels() == [0.0, 0.0, 0.0, 1.0])
        assert player.graph.buses[0].edges[0].level == pytest.approx(10 ** (-6 / 20))
        await press(pilot, "s", "down", "s")
        assert app.strip.kind == "master" and "no solo" in str(app.message.content)
        await press(pilot, "m")
        assert player.strips[("master", "master")].mute
        assert await until(pilot, lambda: player.graph.master.gain == 0.0)
        await pilot.pause(0.2)
        assert set(await peaks_for(pilot, app, ("master", "master"), 0.3)) == {-np.inf}

    run(session_path, script)


def test_muted_and_soloed_are_letters_in_the_row(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        row = lambda: app.rows[("stem", "bass")].line().plain  # noqa: E731
        assert "  · ·  " in row()
        await press(pilot, "m")
        assert "  M ·  " in row()
        await press(pilot, "s")
        assert "  M S  " in row()
        await press(pilot, "down", "down", "down", "down", "m")
        assert "  M    " in app.rows[("master", "master")].line().plain

    run(session_path, script)


def test_ctrl_arrows_step_the_fader_a_tenth_of_a_db_and_r_resets_it(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        bass = player.strips[("stem", "bass")]
        await press(pilot, "ctrl+up", "ctrl+up", "ctrl+up", "ctrl+down")
        assert bass.gain_db == pytest.approx(0.2)
        assert "+0.2 dB" in app.rows[("stem", "bass")].line().plain
        assert await until(pilot, lambda: node(player, "bass").gains == pan_gains(0.0, 0.2, 1))
        await press(pilot, "shift+down", "r")
        assert bass.gain_db == 0.0

    run(session_path, script)


def test_shift_left_and_right_pan_the_selected_stem(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        keys = player.strips[("stem", "keys")]
        await press(pilot, "down", "shift+right")
        assert keys.pan == pytest.approx(0.1)
        await press(pilot, "shift+left", "shift+left")
        assert keys.pan == pytest.approx(-0.1)
        assert " L10 " in app.rows[("stem", "keys")].line().plain
        assert await until(pilot, lambda: node(player, "keys").gains == pan_gains(-0.1, 0.0, 1))

    run(session_path, script)


def test_six_quick_lefts_move_thirty_seconds(tmp_path: Path, jack_device) -> None:
    session_path = make_session(tmp_path, 40.0)

    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        player.seek(36.0)
        assert await until(pilot, lambda: player.position_s > 36.0)
        await press(pilot, *["left"] * 6)
        shown = player.transport().position_s  # the transport shows where the presses lead, at once
        assert 5.0 < shown < 7.0
        assert await until(pilot, lambda: player.position_s < 8.0)
        assert player.position_s == pytest.approx(shown, abs=0.5)

    run(session_path, script)


def test_home_end_and_number_keys_jump(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "5")
        assert await until(pilot, lambda: 6.9 < player.position_s < 7.5)
        await press(pilot, "home")
        assert await until(pilot, lambda: player.position_s < 0.5)
        await press(pilot, "9")
        assert await until(pilot, lambda: 12.5 < player.position_s < 13.2)
        await press(pilot, "end")
        assert await until(pilot, lambda: player.ended)

    run(session_path, script)


def test_after_the_end_space_plays_again_from_the_start(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        player.seek(13.5)
        assert await until(pilot, lambda: player.ended)
        await press(pilot, "space")
        assert await until(pilot, lambda: not player.ended and 0.0 < player.position_s < 1.5)
        assert player.playing

    run(session_path, script)


def test_the_footer_fits_80_columns_and_question_mark_lists_every_key(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        footer = app.query_one(Footer)
        keys = list(footer.children)
        assert keys and max(k.region.right for k in keys) <= 80 and footer.virtual_size.width <= 80
        await press(pilot, "question_mark")
        assert await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help").content)
        for binding in BINDINGS:
            assert key_name(binding) in text and binding.description in text
        await press(pilot, "x")
        assert await until(pilot, lambda: not isinstance(app.screen, HelpScreen))

    run(session_path, script, size=(80, 30))


def test_space_pauses_and_resumes(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "space")
        assert await until(pilot, lambda: not player.playing)
        await pilot.pause(0.2)  # what was rendered ahead plays out
        held = player.position_s
        await pilot.pause(0.4)
        assert player.position_s == pytest.approx(held, abs=0.01)
        assert "paused" in str(app.transport_line.content)
        await press(pilot, "space")
        assert await until(pilot, lambda: player.playing)  # the render thread goes on at its next block
        await pilot.pause(0.5)
        assert player.position_s - held == pytest.approx(0.5, abs=0.25)
        assert "playing" in str(app.transport_line.content)

    run(session_path, script)


def test_right_and_left_seek_five_seconds(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        before = player.position_s
        await press(pilot, "right")
        assert await until(pilot, lambda: player.position_s > before + 4.0)
        assert player.position_s - before == pytest.approx(5.0, abs=0.4)
        before = player.position_s
        await press(pilot, "left")
        assert await until(pilot, lambda: player.position_s < before - 4.0)
        assert before - player.position_s == pytest.approx(5.0, abs=0.4)

    run(session_path, script)


def test_brackets_set_the_loop_and_l_turns_it_on(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "l")
        assert not player.loop_on
        assert "set the loop first" in str(app.message.content)
        await pilot.pause(0.3)
        start = player.position_s
        await press(pilot, "left_square_bracket")
        assert player.loop == pytest.approx((start, SECONDS), abs=0.05)
        await pilot.pause(0.5)
        end = player.position_s
        await press(pilot, "right_square_bracket", "l")
        assert player.loop == pytest.approx((start, end), abs=0.05)
        assert player.loop_on
        looped = f"loop {mss(player.loop[0], True)}–{mss(player.loop[1], True)} on"
        assert await until(pilot, lambda: looped in str(app.transport_line.content))
        await press(pilot, "l")
        assert not player.loop_on

    run(session_path, script)


def test_a_loop_set_with_the_keys_keeps_playback_inside_it(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await pilot.pause(0.3)
        await press(pilot, "left_square_bracket")
        start = player.loop[0]
        await pilot.pause(0.6)
        await press(pilot, "right_square_bracket", "l")
        end = player.loop[1]
        seen = []
        for _ in range(40):  # two seconds
            seen.append(player.position_s)
            await pilot.pause(0.05)
        assert min(seen) >= start - 0.05 and max(seen) <= end + 0.1
        assert max(await peaks_for(pilot, app, ("master", "master"), 0.5)) > -20.0  # not faded out for good

    run(session_path, script)


def test_plus_minus_and_angle_brackets_ask_a_semitone_and_five_percent_more_or_less(
    session_path: Path, monkeypatch
) -> None:
    calls: list[tuple[str, float]] = []

    def refuse(value: float) -> None:
        raise SessionError(f"tempo {value!r} is above 2.0")

    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        monkeypatch.setattr(player, "set_key", lambda semitones: calls.append(("key", semitones)))
        monkeypatch.setattr(player, "set_tempo", lambda tempo: calls.append(("tempo", tempo)))
        await press(pilot, "plus", "plus", "minus", "greater_than_sign", "greater_than_sign", "less_than_sign")
        assert calls == [("key", 1.0), ("key", 2.0), ("key", 1.0), ("tempo", 1.05), ("tempo", 1.1), ("tempo", 1.05)]
        await press(pilot, "minus", "minus", "less_than_sign", "less_than_sign")
        assert calls[-4:] == [("key", 0.0), ("key", -1.0), ("tempo", 1.0), ("tempo", 0.95)]
        monkeypatch.setattr(player, "set_tempo", refuse)
        await press(pilot, "greater_than_sign")
        assert "tempo 1.0 is above 2.0" in str(app.message.content)
        assert app.is_running and app.tempo == 0.95

    run(session_path, script)


def test_plus_on_the_real_player_prepares_the_new_key_then_plays_it(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "plus")
        assert str(app.message.content) == "key +1 semitones"
        assert await until(pilot, lambda: "\npreparing key +1" in str(app.transport_line.content), timeout=1.0)
        assert await until(pilot, lambda: player.transport().key_shift == 1.0, timeout=60.0)
        line = lambda: str(app.transport_line.content)  # noqa: E731
        assert await until(pilot, lambda: "key +1" in line() and "preparing" not in line())
        assert player.error is None

    run(session_path, script)


def test_transport_line_and_meters_move_while_playing(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        first = str(app.transport_line.content)
        meters = [str(row.content) for row in app.rows.values()]
        await pilot.pause(1.2)
        second = str(app.transport_line.content)
        assert first != second
        assert "/ 0:14" in second and "tempo 1.00" in second and "key +0" in second
        assert "xruns" in second and "device" in second and "render" in second and " ms" in second
        assert [str(row.content) for row in app.rows.values()] != meters
        master = [await peaks_for(pilot, app, ("master", "master"), 0.05) for _ in range(6)]
        assert len({str(app.rows[("master", "master")].content)} | {str(m) for m in master}) > 1
        assert -30.0 < max(max(m) for m in master) <= 0.0
        player.stream.stop()  # as when the device goes away
        assert await until(pilot, lambda: "device stopped" in str(app.transport_line.content))
        player.error = DeviceError("the device went away")
        assert await until(pilot, lambda: "error: the device went away" in str(app.transport_line.content))
        player.error = None

    counted: list[float] = []
    original = MixerApp.refresh_view

    def counting(self: MixerApp) -> None:
        counted.append(time.monotonic())
        original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MixerApp, "refresh_view", counting)
        run(session_path, script)
    window = [t for t in counted if counted[0] + 0.5 <= t < counted[0] + 1.5]
    assert len(window) >= 20, f"{len(window)} refreshes in a second"


def test_w_saves_the_mix_into_the_save_path(session_path: Path, tmp_path: Path) -> None:
    save_path = tmp_path / "mix.json"

    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "shift+up", "shift+up", "down", "m", "down", "s", "w")
        assert await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))  # a solo: asked first
        assert "solo on vox" in str(app.message.content)
        await press(pilot, "y")
        assert await until(pilot, lambda: str(app.message.content) == f"saved {save_path}")

    run(session_path, script, save_path)
    saved = json.loads(save_path.read_text())
    stems = {s["name"]: s for s in saved["stems"]}
    assert stems["bass"]["gain_db"] == 2.0 and not stems["bass"]["mute"]
    assert stems["keys"]["mute"] and not stems["keys"]["solo"]
    assert stems["vox"]["solo"] and stems["vox"]["sends"] == [{"bus": "room", "level_db": -6}]
    assert saved["title"] == "mixer test" and saved["key_shift"] == 0.0 and saved["tempo"] == 1.0
    assert json.loads(session_path.read_text())["stems"][0].get("gain_db", 0.0) == 0.0


def test_w_saves_at_once_without_a_solo_and_asks_before_saving_one(session_path: Path, tmp_path: Path) -> None:
    save_path = tmp_path / "mix.json"

    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "down", "down", "down", "m", "w")  # the room bus muted: no question
        assert str(app.message.content) == f"saved {save_path}"
        saved = json.loads(save_path.read_text())
        assert saved["buses"][0]["mute"] and not saved["buses"][0]["solo"] and not saved["master"]["mute"]
        save_path.unlink()
        await press(pilot, "s", "w")
        assert await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await press(pilot, "n")
        assert await until(pilot, lambda: str(app.message.content) == "not saved")
        assert not save_path.exists() and not isinstance(app.screen, ConfirmScreen)

    run(session_path, script, save_path)


def test_w_shows_why_the_mix_was_not_saved(session_path: Path, tmp_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await press(pilot, "w")
        assert str(app.message.content).startswith("not saved: ")
        assert app.is_running

    run(session_path, script, tmp_path / "missing-folder" / "mix.json")


def test_at_the_end_the_transport_says_ended_and_a_seek_plays_again(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        player.seek(13.5)
        assert await until(pilot, lambda: player.ended)
        assert await until(pilot, lambda: "■ ended" in str(app.transport_line.content))
        await press(pilot, "left")
        assert await until(pilot, lambda: not player.ended and 8.0 < player.position_s < 10.0)
        assert await until(pilot, lambda: "▶ playing" in str(app.transport_line.content))  # at the next refresh

    run(session_path, script)


def test_q_quits(session_path: Path) -> None:
    async def script(app: MixerApp, pilot: Pilot, player: Player) -> None:
        await pilot.press("q")  # the pilot's own key press, once: slow while audio renders, but real
        assert await until(pilot, lambda: not app.is_running)

    run(session_path, script)


def test_run_mixer_plays_until_q_and_prints_the_report(session_path: Path, monkeypatch, capsys) -> None:
    async def quit_soon(pilot: Pilot) -> None:
        await asyncio.sleep(0.5)
        await press(pilot, "q")

    run_app = MixerApp.run
    monkeypatch.setattr(MixerApp, "run", lambda self: run_app(self, headless=True, auto_pilot=quit_soon))
    options = PlayOptions(device="system")
    played = run_mixer(load_session(session_path), session_path, options, session_path)
    assert played.error is None
    out = "\n".join(played.summary)
    assert "on 'system' (JACK Audio Connection Kit) at 48000 Hz" in out
    assert "reported by the device" in out and "render underruns" in out and "latency: " in out
