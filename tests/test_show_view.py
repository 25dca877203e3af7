"""The show view (``stemhost show SETLIST``): Textual's pilot on a real show on the JACK dummy device, and the
command itself in a pseudo-terminal, driven by the keys a USB foot pedal sends."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Awaitable, Callable
from fcntl import ioctl
from pathlib import Path

import numpy as np
from textual.pilot import Pilot
from textual.widgets import Footer

from stemhost.live.devices import find_device
from stemhost.live.mixer_keys import HelpScreen, key_name
from stemhost.show.midi import MidiListener, load_mapping
from stemhost.show.runner import ShowControl, ShowRunner
from stemhost.show.view import SHOW_BINDINGS, ShowApp
from test_midi import mapping, pedal  # noqa: F401  (the fixture: a virtual JACK MIDI port)
from test_mixer import press, until
from test_show_live import first_loud, setlist

from conftest import peak_hz

SR = 48000
Script = Callable[[ShowApp, Pilot, ShowRunner], Awaitable[None]]


def run_view(runner: ShowRunner, script: Script, size: tuple[int, int] = (140, 40)) -> ShowApp:
    """Run the show view on ``runner`` (the show starts with the view) and ``script`` against it; stop the show."""

    async def main() -> ShowApp:
        app = ShowApp(runner, "system")
        try:
            async with app.run_test(size=size) as pilot:
                await pilot.pause(0.1)
                await script(app, pilot, runner)
        finally:
            app.stop_show()
        return app

    return asyncio.run(main())


def two_songs(tmp_path: Path, second: dict | None = None, lengths=(4.0, 3.0)) -> ShowRunner:
    """Song 1 at 440 Hz (it waits at its end), song 2 at 660 Hz."""
    songs = setlist(tmp_path, [{"advance": "stop"}, second or {}], lengths=lengths, freqs=(440.0, 660.0))
    return ShowRunner(songs, find_device("system"), 256, capture_s=20.0)


def panel(app: ShowApp) -> str:
    return str(app.setlist_panel.content)


def transport(app: ShowApp) -> str:
    return str(app.transport_line.content)


def test_the_first_song_waits_for_page_down_which_starts_it_and_page_down_again_starts_the_next(tmp_path, jack_device):
    pressed: list[int] = []  # the stream's frame when page down was sent

    async def script(app: ShowApp, pilot: Pilot, runner: ShowRunner) -> None:
        assert await until(pilot, lambda: "1. song1 is ready: space or PgDn starts it" in panel(app), timeout=15), (
            panel(app)
        )
        assert "● " in panel(app) and app.player is None
        assert "ready: space or PgDn starts 1. song1" in transport(app)
        await pilot.pause(0.3)
        assert runner.started[0] == -1, "the first song waits for the pedal"
        await press(pilot, "pagedown")
        assert await until(pilot, lambda: app.player is not None and app.player is runner.now, timeout=5)
        assert ("stem", "a") in app.rows and "▶  1. song1" in panel(app), panel(app)
        assert await until(pilot, lambda: "next: 2. song2 is ready: PgDn starts it now" in panel(app), timeout=15)
        first = app.player
        await pilot.pause(0.5)
        pressed.append(runner.frame)
        await press(pilot, "pagedown")
        assert await until(pilot, lambda: runner.index == 1 and app.player is runner.now, timeout=5)
        assert app.player is not first and "✓  1. song1" in panel(app) and "▶  2. song2" in panel(app), panel(app)
        assert "last song" in panel(app)
        await pilot.pause(0.5)

    runner = two_songs(tmp_path)
    run_view(runner, script)
    out = runner.capture().T
    start1, start2 = (int(f) for f in runner.started)
    assert 0 <= first_loud(out[:2], start1) - start1 <= 2
    song1_ms = 1000 * (start2 - start1) / SR
    assert 400 < song1_ms < 3900, "song 2 started by the pedal, mid-song 1"
    assert abs(peak_hz(out[0, start1 + SR // 10 : start1 + SR // 2], 440.0) - 440.0) < 2
    assert abs(peak_hz(out[0, start2 + SR // 10 : start2 + SR // 2], 660.0) - 660.0) < 2
    key_ms = 1000 * (start2 - pressed[0]) / SR
    print(
        f"show view: page down to song 2's first frame {key_ms:.1f} ms of the stream; song 1 played {song1_ms:.0f} ms"
    )
    assert key_ms < 100, "the prepared song starts on the next block or two"


def test_the_mixer_keys_act_on_the_song_playing_and_the_next_song_has_its_own_mix(tmp_path, jack_device):
    async def script(app: ShowApp, pilot: Pilot, runner: ShowRunner) -> None:
        assert await until(pilot, lambda: "1. song1 is ready: space or PgDn" in panel(app), timeout=15)
        await press(pilot, "space")
        assert await until(pilot, lambda: app.player is not None, timeout=5)
        await pilot.pause(0.3)
        await press(pilot, "m")
        assert await until(pilot, lambda: app.player.strips[("stem", "a")].mute, timeout=2)
        app.muted_at = runner.frame
        await pilot.pause(0.6)
        assert await until(pilot, lambda: "PgDn starts it now" in panel(app), timeout=15)
        await press(pilot, "pagedown")
        assert await until(pilot, lambda: runner.index == 1 and app.player is runner.now, timeout=5)
        assert not app.player.strips[("stem", "a")].mute, "song 2 has its own mix"
        await pilot.pause(0.5)

    runner = two_songs(tmp_path)
    app = run_view(runner, script)
    out = runner.capture().T
    start2 = int(runner.started[1])
    heard = app.muted_at + SR // 4  # the player's latency is well under 250 ms
    assert heard < start2 - SR // 10
    assert np.max(np.abs(out[:2, heard : start2 - 300])) < 1e-4, "m muted song 1's stem"
    assert np.max(np.abs(out[:2, start2 + SR // 10 : start2 + SR // 2])) > 0.1, "song 2 is not muted"


def test_space_starts_the_next_song_when_one_has_ended_and_its_count_in_shows_on_the_transport(tmp_path, jack_device):
    seen: list[str] = []

    async def script(app: ShowApp, pilot: Pilot, runner: ShowRunner) -> None:
        assert await until(pilot, lambda: "1. song1 is ready: space or PgDn" in panel(app), timeout=15)
        await press(pilot, "space")
        assert await until(pilot, lambda: runner.index == 0 and runner.ended_at >= 0, timeout=8)
        assert await until(pilot, lambda: "space or PgDn starts it" in panel(app), timeout=8), panel(app)
        assert "■  1. song1" in panel(app)
        await press(pilot, "space")
        assert await until(pilot, lambda: runner.index == 1 and app.player is runner.now, timeout=5)
        assert await until(pilot, lambda: "count-in: the song starts in" in transport(app), timeout=2)
        seen.append(transport(app))
        await pilot.pause(0.3)

    runner = two_songs(tmp_path, {"count_in_bars": 1}, lengths=(1.0, 2.0))
    run_view(runner, script)
    print(f"count-in line: {seen[0].splitlines()[-1]!r}")
    assert runner.started[1] > runner.started[0] + SR


def test_w_does_not_save_a_show_mix_and_q_asks_before_it_stops_the_show(tmp_path, jack_device):
    async def script(app: ShowApp, pilot: Pilot, runner: ShowRunner) -> None:
        assert await until(pilot, lambda: "1. song1 is ready: space or PgDn" in panel(app), timeout=15)
        await press(pilot, "pagedown")
        assert await until(pilot, lambda: app.player is not None, timeout=5)
        await press(pilot, "m", "w")
        assert await until(pilot, lambda: "a show does not save mixes" in str(app.message.content))
        await press(pilot, "q")
        assert await until(pilot, lambda: "quit the show?" in str(app.screen.query_one("#question").content))
        await press(pilot, "n")
        assert await until(pilot, lambda: "the show goes on" in str(app.message.content))
        assert app.is_running and runner.stream.active
        await press(pilot, "q", "y")
        assert await until(pilot, lambda: not app.is_running, timeout=5)

    runner = two_songs(tmp_path)
    session = tmp_path / "song1" / "session.json"
    before = session.read_bytes()
    app = run_view(runner, script)
    assert session.read_bytes() == before
    assert app.over and app.error is None and runner.done


def test_the_footer_fits_80_columns_and_shows_next_song_not_save_and_help_lists_every_show_key(tmp_path, jack_device):
    async def script(app: ShowApp, pilot: Pilot, runner: ShowRunner) -> None:
        assert await until(pilot, lambda: "1. song1 is ready: space or PgDn" in panel(app), timeout=15)
        await press(pilot, "pagedown")
        assert await until(pilot, lambda: app.player is not None, timeout=5)
        await pilot.pause(0.2)
        footer = app.query_one(Footer)
        keys = list(footer.children)
        shown = " ".join(str(k.render()) for k in keys)
        assert keys and max(k.region.right for k in keys) <= 80 and footer.virtual_size.width <= 80, shown
        assert "next song" in shown and "save" not in shown, shown
        await press(pilot, "question_mark")
        assert await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one("#help").content)
        for binding in SHOW_BINDINGS:
            assert key_name(binding) in text and binding.description in text
        assert "PgDn  next song" in text and "save" not in text

    run_view(two_songs(tmp_path), script, size=(80, 30))


def test_stemhost_show_plays_the_set_in_a_terminal_with_a_foot_pedal(tmp_path, jack_device):
    """The command in a pseudo-terminal: the view appears, page down starts song 1, q then y stop it, the summary."""
    songs = setlist(tmp_path, [{"advance": "stop"}, {}], lengths=(3.0, 1.0))
    main, child = pty.openpty()
    ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 140, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "140", "LINES": "40"}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "stemhost"), "show", str(songs.path), "--device", "system"],
        stdin=child, stdout=child, stderr=child, env=env, start_new_session=True,
    )  # fmt: skip
    os.close(child)
    screen = bytearray()

    def read_until(text: bytes, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while text not in screen and time.monotonic() < deadline:
            if select.select([main], [], [], 0.1)[0]:
                try:
                    screen.extend(os.read(main, 65536))
                except OSError:  # the child closed the terminal
                    break
        return text in screen

    try:
        assert read_until(b"ready: space or PgDn starts 1. song1", 30), screen[-2000:]
        os.write(main, b"\x1b[6~")  # page down, as a USB foot pedal sends it
        assert read_until(b"playing 1. song1", 10), screen[-2000:]
        time.sleep(0.5)
        os.write(main, b"q")
        assert read_until(b"quit the show?", 10)
        os.write(main, b"y")
        assert process.wait(timeout=20) == 0
        read_until(b"show: ", 5)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    text = screen.decode(errors="replace")
    assert "1. song1: from" in text and "show: " in text, text[-2000:]
    assert "2. song2: from" not in text, "song 2 was never started"


def test_a_midi_foot_switch_starts_the_first_song_and_the_next_in_the_view(tmp_path, pedal):  # noqa: F811
    """play_pause from MIDI goes through the view (space's action: the first song); next_song to the runner."""
    import mido

    out, name = pedal
    rules = load_mapping(mapping(tmp_path, [{"note": 60, "action": "play_pause"}, {"note": 62, "action": "next_song"}]),
                         ["a"], songs=True)  # fmt: skip

    async def script(app: ShowApp, pilot: Pilot, runner: ShowRunner) -> None:
        control = ShowControl(runner)
        control.mixer = app
        listener = MidiListener(name, rules, control, app.call_from_thread)
        try:
            assert await until(pilot, lambda: "1. song1 is ready: space or PgDn" in panel(app), timeout=15)
            out.send(mido.Message("note_on", note=60, velocity=100))
            assert await until(pilot, lambda: runner.index == 0 and app.player is runner.now, timeout=5)
            assert await until(pilot, lambda: "PgDn starts it now" in panel(app), timeout=15)
            out.send(mido.Message("note_on", note=62, velocity=100))
            assert await until(pilot, lambda: runner.index == 1 and app.player is runner.now, timeout=5)
        finally:
            listener.close()
        assert [a for _, a in listener.handled] == ["play_pause", "next_song"]

    run_view(two_songs(tmp_path), script)
