"""The stage: the one song open in the web mixer, its :class:`~stemhost.live.player.Player` and output stream, or
the one show open (:mod:`~stemhost.web.show_stage`), whose song playing the mixer's routes then act on.

Threads: every method but :meth:`Stage.open`'s build and :meth:`Stage.close` runs on the asyncio event loop's
thread, which is the Player's "UI thread". Opening builds the player (compiling takes seconds) in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from stemhost.errors import StemhostError
from stemhost.web.snapshot import Opened, is_playing, listing, peak_db, state_of

log = logging.getLogger("stemhost")

TICK_S = 0.04  # 25 ticks a second


class Conflict(StemhostError, RuntimeError):
    """Not now: what is open does not allow it (HTTP 409)."""


class NoSong(Conflict):
    """No song is open (HTTP 409)."""


class Unknown(StemhostError, LookupError):
    """A stem, bus or preset by a name that does not exist (HTTP 404); ``field`` names the part of the request."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Stage:
    """At most one open song, played on one device.

    Args:
        library: the songs (``.song(id)``), see :mod:`stemhost.web.songs`.
        device: the output device's name or number (None: the default).
        blocksize: frames per audio callback.
        plugin_folders: where third-party plugins may come from (None: the defaults).
        publish: the hub's publish (any thread).
    """

    def __init__(
        self,
        library,
        device: str | None,
        blocksize: int = 256,
        plugin_folders: Sequence[Path] | None = None,
        publish: Callable[[dict], None] = lambda _message: None,
    ) -> None:
        self.library = library
        self.device = device
        self.device_name: str | None = None
        self.blocksize = blocksize
        self.plugin_folders = plugin_folders
        self.publish = publish
        self._song: Opened | None = None
        self.show = None  # a ShowStage while a setlist is open
        self.version = 0
        self.error: str | None = None
        self._opening = asyncio.Lock()
        self._seen: tuple | None = None  # the player's own state last published
        self._show_seen: tuple | None = None  # the show's state last published

    @property
    def opened(self) -> Opened | None:
        """The song open: on its own, or the show's song playing (None before the first and after the last)."""
        show = self.show
        return self._song if show is None else show.opened()

    @opened.setter
    def opened(self, value: Opened | None) -> None:
        self._song = value

    # ------------------------------------------------------------------ opening and closing

    async def open(self, song_id: str) -> dict:
        """Close the song open, if any, and open another, paused at 0 (built in a worker thread)."""
        song = self.library.song(song_id)
        async with self._opening:
            await self._close_all()
            opened, session = await asyncio.to_thread(self._build, song)
            self.opened, self.error = opened, None
            from stemhost.live.play import ask_for

            ask_for(opened.player, session)  # the session's own key and tempo, heard once ready
            self._seen = None
            self.changed()
            log.info(f"opened {song.id} ({song.session_path.name})")
        return self.snapshot()

    def _build(self, song) -> tuple[Opened, object]:
        from stemhost.live.devices import find_device, open_stream
        from stemhost.live.play import output_channels, recorded
        from stemhost.live.player import Player
        from stemhost.session.files import load_session

        session = load_session(song.session_path)
        device = find_device(self.device)
        self.device_name = device.name
        channels = output_channels(session, device)
        player = Player(
            recorded(session),
            song.session_path,
            device.sample_rate,
            channels,
            held=True,
            device_block=self.blocksize,
            plugin_folders=self.plugin_folders,
        )
        try:
            stream = open_stream(device, device.sample_rate, self.blocksize, channels, player.callback)
            player.start()
            stream.start()
            player.device_latency_s = float(stream.latency)
            player.stream = stream
        except BaseException:
            player.close()
            raise
        return Opened(song, player, stream), session

    async def open_show(self, entry) -> dict:
        """Close the song or show open and start a setlist's show: song 1 prepared, waiting for Next song."""
        from stemhost.web.show_stage import start_show

        async with self._opening:
            await self._close_all()
            show, self.device_name = await asyncio.to_thread(
                start_show, entry, self.library, self.device, self.blocksize, self.plugin_folders
            )
            self.show, self.error, self._seen, self._show_seen = show, None, None, None
            self.changed()
        return self.snapshot()

    async def close_show(self) -> None:
        async with self._opening:
            if self.show is not None:
                await self._close_all()

    async def _close_all(self) -> None:
        """Close the song or show open (the caller holds the opening lock)."""
        song, show, self._song, self.show = self._song, self.show, None, None
        self.changed()
        if song is not None:
            await asyncio.to_thread(close_opened, song)
        if show is not None:
            await asyncio.to_thread(show.close)

    def close(self) -> None:
        """Stop the song or show open (any thread; at shutdown)."""
        song, show, self._song, self.show = self._song, self.show, None, None
        if song is not None:
            close_opened(song)
        if show is not None:
            show.close()

    # ------------------------------------------------------------------ changes (event-loop thread)

    def need(self) -> Opened:
        opened = self.opened
        if opened is None:
            if self.show is not None:
                raise NoSong(f"no song is playing: {self.show.why_no_song()}")
            raise NoSong("no song is open; open one first (POST /api/songs/{id}/open)")
        return opened

    def changed(self) -> dict:
        """A change was applied: bump the version and push the state to every client; returns that state."""
        self.version += 1
        state = self.snapshot()
        self.publish({"type": "state", "state": state})
        return state

    def play(self) -> None:
        o = self.need()
        player = o.player
        if player.ended:
            player.seek(0.0)
        if o.held:
            player.release()
            o.held = False
        elif not o.want_playing or not player.playing:
            player.toggle_play()
        o.want_playing = True

    def pause(self) -> None:
        o = self.need()
        if o.want_playing and not o.held and not o.player.ended:
            o.player.toggle_play()
        o.want_playing = False

    def seek(self, position_s: float) -> None:
        self.need().player.seek(position_s)

    def loop(self, start_s: float | None, end_s: float | None, on: bool | None) -> None:
        player = self.need().player
        if start_s is not None or end_s is not None:
            player.set_loop(start_s, end_s)
        if on is not None and on != player.loop_on:
            if on and player.loop is None:
                player.set_loop(0.0, player.length_frames / player.sample_rate)
            player.toggle_loop()

    def change_strip(self, kind: str, name: str, values: dict) -> None:
        """Set a stem's, bus's or the master's gain_db, pan, mute or solo."""
        player = self.need().player
        names = [n for k, n in player.strips if k == kind]
        if kind != "master" and name not in names:
            plural = "buses" if kind == "bus" else f"{kind}s"
            raise Unknown(f"no {kind} named {name!r}; {plural}: {listing(names)}", "name")
        key = names[0] if kind == "master" else name
        if values:
            player.change(kind, key, **values)

    def sections(self, action: str, name: str | None, to: str | None) -> None:
        """Jump to a section on the next downbeat (by name, or the next or previous), loop one, or release the loop."""
        from stemhost.live.sections import UnknownSection

        sections = self.need().player.sections
        try:
            if action == "jump":
                sections.jump(name, to)
            elif action == "loop":
                sections.loop(name)
            else:
                sections.release()
        except UnknownSection as exc:
            raise Unknown(str(exc), "name") from exc

    def set_key(self, key_shift: float) -> None:
        self.need().player.set_key(key_shift)

    def set_tempo(self, tempo: float) -> None:
        self.need().player.set_tempo(tempo)

    def preset(self, name: str) -> None:
        """Lay a bundled preset's mix onto the strips (and its key and tempo, if it sets them)."""
        from stemhost.session.presets import apply_preset, load_preset, mix_presets

        player = self.need().player
        if name not in mix_presets():
            raise Unknown(f"no mix preset named {name!r}; presets: {listing(list(mix_presets()))}", "name")
        now = player.current_session()
        new = apply_preset(now, *load_preset(name))
        for stem in new.stems:
            self._set_strip(player, "stem", stem.name, stem, ("gain_db", "pan", "mute", "solo"))
        for bus in new.buses:
            if ("bus", bus.name) in player.strips:
                self._set_strip(player, "bus", bus.name, bus, ("gain_db", "mute", "solo"))
        master = next(n for k, n in player.strips if k == "master")
        self._set_strip(player, "master", master, new.master, ("gain_db", "mute"))
        if new.key_shift != now.key_shift:
            player.set_key(new.key_shift)
        if new.tempo != now.tempo:
            player.set_tempo(new.tempo)

    @staticmethod
    def _set_strip(player, kind: str, name: str, model, fields: tuple[str, ...]) -> None:
        strip = player.strips[(kind, name)]
        differ = {f: getattr(model, f) for f in fields if getattr(model, f) != getattr(strip, f)}
        if differ:
            player.change(kind, name, **differ)

    async def fit(self, spec: str) -> dict:
        """Choose the key that fits the lead melody into a voice or range (analysing in a worker thread)."""
        from stemhost.analysis.fit_report import fit_report

        o = self.need()
        session = o.player.current_session()
        report = await asyncio.to_thread(fit_report, session, o.song.session_path, spec)
        if report.problem is None and self.opened is o:
            o.player.set_key(report.choice.shift)
            self.changed()
        return {
            "key_shift": report.choice.shift,
            "key": report.new_key,
            "lines": report.lines,
            "fits": report.problem is None,
        }

    def save(self) -> dict:
        if self.show is not None:  # the setlist's presets and singer must never be baked into a session file
            raise Conflict("a show does not save mixes: open the song on its own to save its mix")
        o = self.need()
        o.player.save(o.song.session_path)
        return {"saved": o.song.session_path.name}

    # ------------------------------------------------------------------ what clients see

    def snapshot(self) -> dict:
        """The state every client shows (see the contract); ``version`` counts changes."""
        show = self.show
        state = state_of(self.opened, self.version, self.device_name, self.error)
        return state | {"show": None if show is None else show.state()}

    def tick(self) -> dict | None:
        """A tick message (position, meters in dBFS); publishes the state first when the player's own changed."""
        show, starts_in = self.show, None
        if show is not None:
            seen, starts_in = show.seen()
            if seen != self._show_seen:  # a song switched, prepared or skipped: every client shows it
                self._show_seen = seen
                self.changed()
        o = self.opened
        if o is None:
            return None
        p = o.player
        error = p.error
        own = (p.preparing, p.ended, p.session.key_shift, p.session.tempo, None if error is None else str(error))
        own += (p.sections.current(), p.sections.looping)  # a new section heard: every client shows it
        if own != self._seen:
            if self._seen is not None:
                self.changed()
            self._seen = own
        if o.stream is not None:
            p.cpu_load = float(o.stream.cpu_load)
        meters = {"master" if k == "master" else f"{k}:{n}": peak_db(v) for (k, n), v in p.take_peaks().items()}
        message = {
            "type": "tick",
            "position_s": round(p.seeks.position_s(), 3),
            "playing": is_playing(o),
            "preparing": p.preparing,
            "meters": meters,
        }
        return message if starts_in is None else message | {"starts_in_s": starts_in}

    async def watch(self) -> None:
        """Publish a tick 25 times a second while a song is open (the event loop's task); on a clock, so the
        time a tick takes does not slow the rate."""
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            try:
                message = self.tick()
                if message is not None:
                    self.publish(message)
            except Exception:  # a broken tick must not stop the ticks
                log.exception("web: tick failed")
            due = max(due + TICK_S, loop.time() - TICK_S)  # after a stall, catch up by one tick at most
            await asyncio.sleep(max(0.0, due - loop.time()))


def close_opened(opened: Opened) -> None:
    """Stop a song's stream and player (blocking: a worker thread or shutdown)."""
    try:
        opened.stream.stop()
        opened.stream.close()
    finally:
        opened.player.close()
