"""The show view of ``stemhost show SETLIST``: the setlist above the terminal mixer of the song playing.

The setlist panel lists the songs (▶ playing, ● ready: the next, prepared, starts at once; ◌ preparing; ✓ played;
✗ skipped), the next song and what starts it, a count-in and the seconds left of an automatic gap. The mixer
below is :class:`~stemhost.live.mixer.MixerApp` on the song playing: when the show moves on, the view takes the
new song's Player (:meth:`MixerApp.take`). Sections, loops, key and tempo keys act on the song playing.

Page down and page up (what USB foot pedals send) start the next and the previous song; space starts the first
song, and the next one when the song playing has ended and waits. The show runs on its own thread
(:meth:`ShowRunner.run`); the view only reads the runner's status and asks it for songs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rich.text import Text
from textual.binding import Binding
from textual.widgets import Static

from stemhost.live.mixer import MixerApp
from stemhost.live.mixer_keys import BINDINGS, ConfirmScreen
from stemhost.show.runner import ShowRunner, ShowStatus, SongState

SONG_KEYS = [
    # USB foot pedals send page up and page down: in a show they move through the songs
    Binding("pagedown", "next_song", "next song", key_display="PgDn"),
    Binding("pageup", "previous_song", "previous song", show=False, key_display="PgUp"),
]
SHOW_BINDINGS = [b for b in BINDINGS if b.key not in ("pageup", "pagedown", "w")] + SONG_KEYS
MARKS = {"playing": "▶", "ended": "■", "ready": "●", "preparing": "◌", "played": "✓", "skipped": "✗", "": " "}
STYLES = {"playing": "bold reverse", "ended": "bold reverse", "played": "grey50", "skipped": "grey50"}
SONGS_SHOWN = 7  # the setlist panel's rows: the song before the one playing and the ones after
# what the mixer's keys need: a song playing (the rest work before the first song too)
WITHOUT_A_SONG = {"next_song", "previous_song", "play_pause", "help", "quit"}


class ShowApp(MixerApp):
    """The show view for a :class:`~stemhost.show.runner.ShowRunner` (started once the view is drawn, stopped on quit).

    Args:
        runner: the show, not yet running.
        device_name: shown on the transport line.
    """

    TITLE = "stemhost show"
    CSS = MixerApp.CSS + "#setlist { height: auto; padding: 0 1; background: $panel; }"
    BINDINGS = SHOW_BINDINGS

    def __init__(self, runner: ShowRunner, device_name: str = "") -> None:
        super().__init__(None, None, device_name)
        self.runner = runner
        self.setlist_panel = Static(id="setlist")
        self.error: BaseException | None = None  # the show's own (its device stopped)
        self.over = False
        self._shown: ShowStatus | None = None
        self._thread = threading.Thread(target=self._run_show, name="stemhost-show", daemon=True)

    def compose(self):
        yield self.setlist_panel
        yield from super().compose()

    def _run_show(self) -> None:
        try:
            self.runner.run(start=False)
        except BaseException as exc:  # shown in the view, raised again when it closes (see run_show_view)
            self.error = exc
        self.over = True

    def start_sound(self) -> None:
        """The show starts once the view is drawn; its first song waits for space or page down."""
        self._thread.start()

    def stop_show(self) -> None:
        self.runner.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    # ------------------------------------------------------------------ refresh

    def refresh_view(self) -> None:
        """Follow the show to the song playing, redraw the setlist, then the mixer of that song."""
        index, playing = self.runner.current
        if playing is not None and playing is not self.player:
            self.take(playing)
            self.say(f"playing {self.runner.name(index)}")
        status = self.runner.status()
        if status != self._shown:
            self._shown = status
            self.setlist_panel.update(self.setlist_text(status))
        if self.over:
            self.say(f"the show stopped: {self.error}" if self.error else "the show is over: q quits", bool(self.error))
        if self.player is None:
            self.transport_line.update(Text(self.waiting_text(status), "bold"))
            return
        stream = self.runner.stream
        if stream is not None and not self.over:
            self.player.cpu_load = float(stream.cpu_load)
        super().refresh_view()

    def setlist_text(self, status: ShowStatus) -> Text:
        """The title, a window of songs around the one playing, and what comes next."""
        text = Text(f"{status.title}  ({len(status.songs)} songs)", "bold")
        first = max(0, min(status.index - 1, len(status.songs) - SONGS_SHOWN))
        for song in status.songs[first : first + SONGS_SHOWN]:
            line = f"\n{MARKS[song.state]} {song.index + 1:>2}. {song.title[:32]:<32} {song_facts(song)}"
            text.append(line, STYLES.get(song.state, ""))
        text.append(f"\n{self.next_text(status)}", "yellow")
        return text

    def next_text(self, status: ShowStatus) -> str:
        """What comes next and what starts it."""
        following = next((s for s in status.songs[status.index + 1 :] if s.state != "skipped"), None)
        if following is None:
            return "last song: after it the show is over" if status.index >= 0 else "no song can be played"
        name = f"{following.index + 1}. {following.title}"
        if following.state != "ready":
            return f"next: {name}, preparing its key and tempo"
        if status.starts_in_s >= 0:
            return f"next: {name} starts in {status.starts_in_s:.1f} s"
        if status.index < 0 or status.waiting:
            return f"next: {name} is ready: space or PgDn starts it"
        return f"next: {name} is ready: PgDn starts it now"

    def waiting_text(self, status: ShowStatus) -> str:
        first = next((s for s in status.songs if s.state != "skipped"), None)
        if first is None or first.state != "ready":
            return "preparing the first song…"
        return f"ready: space or PgDn starts {first.index + 1}. {first.title}"

    def transport_text(self, t):
        """The mixer's transport line, with the count-in while it plays (the song's audio starts at 0:00)."""
        text = super().transport_text(t)
        if t.position_s < 0 and not t.ended:
            text.append(f"\ncount-in: the song starts in {-t.position_s:.1f} s", "bold yellow")
        return text

    # ------------------------------------------------------------------ actions

    def check_action(self, action: str, parameters: tuple) -> bool:
        """Before the first song plays there is no mixer: only the song keys, help and quit work."""
        return self.player is not None or action in WITHOUT_A_SONG

    def action_next_song(self) -> None:
        self.runner.next_song()
        self.say("next song: asked for")

    def action_previous_song(self) -> None:
        self.runner.previous_song()
        self.say("previous song: asked for (prepared first, not instant)")

    def action_play_pause(self) -> None:
        """Start the first song, or the next when the one playing has ended and waits; else play or pause."""
        status = self.runner.status()
        if status.index < 0 or status.waiting:
            self.action_next_song()
        else:
            super().action_play_pause()

    def action_save(self) -> None:
        self.say("a show does not save mixes: play the song with stemhost play to save its mix", error=True)

    async def action_quit(self) -> None:
        """Quit at once when the show is over; during it, ask first (y quits)."""
        if self.over:
            self.exit()
            return
        self.push_screen(ConfirmScreen("quit the show? y stops it, any other key goes on"),
                         lambda yes: self.exit() if yes else self.say("the show goes on"))  # fmt: skip


def song_facts(song: SongState) -> str:
    """Key, tempo, count-in and what happens at the end, for the setlist panel."""
    facts = [f"key {song.key_shift:+g}"]
    if song.tempo != 1.0:
        facts.append(f"tempo {song.tempo:g}")
    if song.count_in_bars:
        facts.append(f"count-in {song.count_in_bars}")
    facts.append(f"then {song.gap_s:g} s and on" if song.advance == "auto" else "then stop")
    return "  ".join(facts)


def run_show_view(runner: ShowRunner, device_name: str, midi: tuple[str, Sequence] | None = None) -> ShowApp:
    """Play the show with its view in the terminal until ``q``; the show's error, if any, is raised after it closes.

    Args:
        runner: the show.
        device_name: shown on the transport line.
        midi: (port, rules) for MIDI control (:mod:`stemhost.show.midi`), or None.
    """
    from stemhost.show.midi import listening
    from stemhost.show.runner import ShowControl

    app = ShowApp(runner, device_name)
    control = ShowControl(runner)
    control.mixer = app
    call = lambda action: app.call_from_thread(action) if app.is_running else None  # noqa: E731
    try:
        with listening(*(midi or (None, [])), control, call):
            app.run()
    finally:
        app.stop_show()
    if app.error is not None:
        raise app.error
    return app
