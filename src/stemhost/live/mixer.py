"""The terminal mixer of ``stemhost play``: a strip per stem, bus and the master, a transport line, keys.

The mixer only reads the player's figures and calls the :class:`~stemhost.live.player.Player` methods that
queue changes (``change``, ``seek``, ``toggle_play``, ``set_loop``, ...), so the audio callback never
waits for the UI. The rows and their meters are in :mod:`~stemhost.live.strip_rows`. The show view
(:mod:`~stemhost.show.view`) is this mixer on the song playing: :meth:`MixerApp.take` swaps the player.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import Footer, Static

from stemhost.errors import StemhostError
from stemhost.live.mixer_keys import BINDINGS, FADER_STEP_DB, ConfirmScreen, HelpScreen
from stemhost.live.play import Played, PlayOptions, ask_for, playback_summary, playing, recorded
from stemhost.live.player import Player, Strip, Transport
from stemhost.live.strip_rows import StripList, StripRow
from stemhost.session.model import Session

REFRESH_S = 1 / 25  # meter and transport refresh
START_AFTER_S = 0.6  # the sound starts this long after the mixer is first drawn
FADER_RANGE_DB = (-120.0, 24.0)  # the session format's limits
__all__ = ["FADER_STEP_DB", "MixerApp", "mss", "run_mixer"]


def mss(seconds: float, tenths: bool = False) -> str:
    """Seconds as m:ss, or m:ss.s with tenths (truncated, as a clock counts)."""
    if not tenths:
        minutes, rest = divmod(int(max(0.0, seconds)), 60)
        return f"{minutes}:{rest:02d}"
    minutes, rest = divmod(int(max(0.0, seconds) * 10), 600)
    return f"{minutes}:{rest // 10:02d}.{rest % 10}"


class MixerApp(App[None]):
    """The mixer for a playing :class:`~stemhost.live.player.Player`.

    Args:
        player: a started player (see :func:`stemhost.live.play.playing`).
        save_path: where ``w`` writes the mix (the session file, or ``--save-as``).
        device_name: shown on the transport line.
    """

    TITLE = "stemhost"
    ENABLE_COMMAND_PALETTE = False
    CSS = """
    #transport { height: auto; padding: 0 1; background: $boost; }
    #heading { height: 1; padding: 0 1; color: $text-muted; }
    StripRow { height: 1; padding: 0 1; }
    StripRow.selected { background: $accent 40%; }
    StripRow.first-bus { margin-top: 1; }
    #message { height: 1; padding: 0 1; }
    """
    BINDINGS = BINDINGS

    def __init__(self, player: Player | None, save_path: Path | None, device_name: str = "") -> None:
        super().__init__()
        self.save_path = save_path
        self.device_name = device_name
        self.selected = 0
        self.transport_line = Static(id="transport")
        self.message = Static(id="message")
        self.strip_list = StripList()
        self._last = time.monotonic()
        self.player: Player | None = None
        self.rows: dict[tuple[str, str], StripRow] = {}
        self.order: list[tuple[str, str]] = []  # stems, then buses, then the master
        if player is not None:
            self.take(player)

    def take(self, player: Player) -> None:
        """Show this player's strips (a new one: the show's next song); mounted at once when the app runs."""
        self.player = player
        self.rows = {key: StripRow(strip) for key, strip in player.strips.items()}
        self.order = list(self.rows)
        self.selected = min(self.selected, len(self.order) - 1)
        self.plugin_at: dict[tuple[str, str], int] = {}  # which of a strip's plugins b toggles
        transport = player.transport()
        self.key_shift, self.tempo = transport.key_shift, transport.tempo  # asked for; may still be preparing
        self.opened_with = (transport.key_shift, transport.tempo)
        buses = [row for (kind, _), row in self.rows.items() if kind != "stem"]
        if buses:
            buses[0].add_class("first-bus")
        if self.strip_list.is_mounted:
            self.strip_list.remove_children()
            self.strip_list.mount_all(self.rows.values())
            self.action_select(0)

    def compose(self) -> ComposeResult:
        yield self.transport_line
        yield Static(f"{'strip':<16} {'role':<14} {'fader':>9} {'pan':>4}  M S  peak (dBFS)", id="heading")
        with self.strip_list:
            yield from self.rows.values()
        yield self.message
        yield Footer()

    def on_mount(self) -> None:
        if self.player is not None:
            self.action_select(0)
        self.refresh_view()
        self.set_interval(REFRESH_S, self.refresh_view)
        # The first drawing holds the GIL for about half a second: start the sound after it, not during it.
        self.set_timer(START_AFTER_S, self.start_sound)

    def start_sound(self) -> None:
        self.player.release()

    # ------------------------------------------------------------------ refresh

    def refresh_view(self) -> None:
        """Take the peaks, update the CPU figure and redraw the meters and the transport line."""
        now = time.monotonic()
        dt, self._last = now - self._last, now
        stream = self.player.stream
        if stream is not None:
            self.player.cpu_load = float(stream.cpu_load)
        for key, peak in self.player.take_peaks().items():
            self.rows[key].feed(peak, dt, now)
        text = self.transport_text(self.player.transport())
        if text != self.transport_line.content:  # a new layout only when a line comes or goes
            self.transport_line.update(
                text, layout=text.plain.count("\n") != str(self.transport_line.content).count("\n")
            )

    def transport_text(self, t: Transport) -> Text:
        """The transport line (and a second line for preparing, errors and a stopped device)."""
        state = "■ ended" if t.ended else "▶ playing" if t.playing else "⏸ paused"
        loop = (
            "off" if t.loop is None else f"{mss(t.loop[0], True)}–{mss(t.loop[1], True)} {'on' if t.loop_on else 'off'}"
        )
        text = Text(f"{self.device_name}  " if self.device_name else "", "bold")
        text.append(f"{state} {mss(t.position_s)} / {mss(t.length_s)}", "bold")
        text.append(
            f"  key {t.key_shift:+g}  tempo {t.tempo:.2f}  loop {loop}  CPU {100 * t.cpu_load:.1f} %"
            f"  xruns {t.device_xruns} device / {t.render_underruns} render  latency {t.latency_ms:.1f} ms"
        )
        text.append_text(self.section_text())
        if t.preparing:
            text.append(f"\n{t.preparing}", "yellow")
        stream = self.player.stream
        if self.player.error is not None:
            text.append(f"\nerror: {self.player.error}", "bold red")
        elif stream is not None and not t.ended and not stream.active:
            text.append("\ndevice stopped (was it unplugged, or did its server stop?)", "bold red")
        return text

    def section_text(self) -> Text:
        """A line of the song's sections, the one playing bold (none without sections)."""
        sections = self.player.sections
        if not sections.names:
            return Text()
        current, looping = sections.current(), sections.looping
        text = Text("\nsections ")
        for name in sections.names:
            text.append(f" {name} ", "bold reverse" if name == current else "")
        return text + Text(f"  looping {looping} (; releases)" if looping else "  , . jump  ; loops", "yellow")

    def say(self, message: str, error: bool = False) -> None:
        """Show a message under the strips."""
        self.message.update(Text(message, "bold red" if error else "green"))

    # ------------------------------------------------------------------ actions

    @property
    def strip(self) -> Strip:
        """The selected strip."""
        return self.player.strips[self.order[self.selected]]

    def action_select(self, step: int) -> None:
        self.rows[self.order[self.selected]].remove_class("selected")
        self.selected = min(max(self.selected + step, 0), len(self.order) - 1)
        row = self.rows[self.order[self.selected]]
        row.add_class("selected")
        row.scroll_visible(animate=False)
        self.say(self.chain_text())

    def chain_text(self) -> str:
        """The selected strip's chain; its third-party plugins on or bypassed, the one ``b`` toggles marked ``>``."""
        s = self.strip
        if not s.chain:
            return f"{s.name}: no effects"
        chosen = s.plugins[self.plugin_at.get((s.kind, s.name), 0)].index if s.plugins else -1
        states = {p.index: "bypassed" if p.bypass else "on" for p in s.plugins}
        names = [
            f"{'>' if k == chosen else ''}{n}{f' ({states[k]})' if k in states else ''}" for k, n in enumerate(s.chain)
        ]
        keys = "; b bypasses the plugin marked >, p marks the next" if s.plugins else ""
        return f"{s.name}: {' → '.join(names)}{keys}"

    def action_bypass(self) -> None:
        """Bypass the selected strip's chosen plugin, or bring it back (crossfaded, nothing moves in time)."""
        s = self.strip
        if not s.plugins:
            self.say(f"{s.name} has no plugin in its chain", error=True)
            return
        slot = s.plugins[self.plugin_at.get((s.kind, s.name), 0)]
        self.player.set_bypass(s.kind, s.name, slot.index, not slot.bypass)
        self.say(self.chain_text())

    def action_next_plugin(self) -> None:
        s = self.strip
        if s.plugins:
            key = (s.kind, s.name)
            self.plugin_at[key] = (self.plugin_at.get(key, 0) + 1) % len(s.plugins)
            self.say(self.chain_text())

    def action_fader(self, step_db: float) -> None:
        s = self.strip
        gain = min(max(round(s.gain_db + step_db, 1), FADER_RANGE_DB[0]), FADER_RANGE_DB[1])
        self.player.change(s.kind, s.name, gain_db=gain)
        self.rows[self.order[self.selected]].redraw()

    def action_reset_fader(self) -> None:
        s = self.strip
        self.player.change(s.kind, s.name, gain_db=0.0)
        self.rows[self.order[self.selected]].redraw()

    def action_pan(self, step: float) -> None:
        """Move the selected stem's pan a step (buses and the master have none)."""
        s = self.strip
        if s.kind != "stem":
            self.say(f"{s.name}: only stems pan", error=True)
            return
        self.player.change("stem", s.name, pan=min(max(round(s.pan + step, 2), -1.0), 1.0))
        self.rows[self.order[self.selected]].redraw()

    def action_toggle(self, what: str) -> None:
        """Mute or solo the selected stem or bus; the master mutes, it has no solo."""
        s = self.strip
        if s.kind == "master" and what == "solo":
            self.say("the master has no solo; m mutes it", error=True)
            return
        self.player.change(s.kind, s.name, **{what: not getattr(s, what)})
        self.rows[self.order[self.selected]].redraw()

    def action_play_pause(self) -> None:
        """Pause or go on; after the end, play again from the start."""
        if self.player.ended:
            self.player.seek(0.0)
        else:
            self.player.toggle_play()

    def action_seek_by(self, seconds: float) -> None:
        """Seek from where the transport shows: presses made before a seek is heard add up."""
        self.player.seek_by(seconds)

    def action_seek_to(self, tenths: int) -> None:
        """Jump to a tenth of the song (0 its start, 10 its end)."""
        self.player.seek(self.player.length_frames / self.player.sample_rate * tenths / 10)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.BINDINGS))

    def action_loop_point(self, which: str) -> None:
        """Set the loop's start or end where the song is heard now."""
        self.player.set_loop(**{f"{which}_s": self.player.position_s})

    def action_toggle_loop(self) -> None:
        if self.player.loop is None:
            self.say("set the loop first: [ at its start, ] at its end", error=True)
            return
        self.player.toggle_loop()

    def action_section(self, to: str) -> None:
        """Jump to the next or previous section on the next downbeat (page down and up: a foot pedal)."""
        self._on_sections(lambda sections: f"to {sections.jump(to=to)} on the next downbeat")

    def action_loop_section(self) -> None:
        self._on_sections(lambda sections: f"looping {s}" if (s := sections.toggle_loop()) else "loop released")

    def _on_sections(self, do: Callable) -> None:
        try:
            self.say(do(self.player.sections))
        except StemhostError as exc:
            self.say(str(exc), error=True)

    def action_key(self, semitones: int) -> None:
        """Move the key a semitone from the last one asked for (presses add up while the stems are prepared)."""
        key = self.key_shift + semitones
        if self._ask(self.player.set_key, key):
            self.key_shift = key
            self.say(f"key {key:+g} semitones")

    def action_tempo(self, step: float) -> None:
        """Change the tempo from the last one asked for."""
        tempo = round(self.tempo + step, 2)
        if self._ask(self.player.set_tempo, tempo):
            self.tempo = tempo
            self.say(f"tempo {tempo:.2f}")

    def _ask(self, change: Callable[[float], None], value: float) -> bool:
        """Ask the player for a key or tempo; show why it refuses one (SessionError) instead of failing."""
        try:
            change(value)
        except StemhostError as exc:
            self.say(str(exc), error=True)
            return False
        return True

    def transient(self) -> list[str]:
        """What would be saved that is rather for practice than for the mix: solos, a key or tempo changed."""
        said = [f"solo on {s.name}" for s in self.player.strips.values() if s.solo]
        wanted = self.player.wanted
        if (wanted.key_shift, wanted.tempo) != self.opened_with:
            said.append(f"key {wanted.key_shift:+g} and tempo {wanted.tempo:.2f}")
        return said

    def action_save(self) -> None:
        """Save the mix; with solos or a changed key or tempo, ask first (y saves, any other key does not)."""
        transient = self.transient()
        if not transient:
            self.save()
            return
        question = f"save {', '.join(transient)} too? y saves, any other key does not"
        self.say(question)
        self.push_screen(ConfirmScreen(question), lambda yes: self.save() if yes else self.say("not saved"))

    def save(self) -> None:
        try:
            self.player.save(self.save_path)
        except (StemhostError, OSError) as exc:
            self.say(f"not saved: {exc}", error=True)
        else:
            self.say(f"saved {self.save_path}")


def run_mixer(session: Session, session_path: Path, options: PlayOptions, save_path: Path, midi=None) -> Played:
    """Play a session with the mixer in the terminal until it closes.

    Args:
        session: the session with presets and overrides applied.
        session_path: its file (stems are found from its folder).
        options: device, block size, start, duration.
        save_path: where ``w`` saves the mix.
        midi: (port, rules) for MIDI control (:mod:`stemhost.show.midi`), or None.

    Returns:
        the playback summary, and an error the player met while playing, if any.
    """
    with playing(recorded(session), session_path, replace(options, held=True)) as (player, device):
        ask_for(player, session)  # the recording plays at once; the session's key and tempo once rendered
        app = MixerApp(player, save_path, device.name)
        from stemhost.show.midi import PlayerControl, listening

        call = lambda action: app.call_from_thread(action) if app.is_running else None  # noqa: E731
        with listening(*(midi or (None, [])), PlayerControl(player, app), call):
            app.run()
    return Played(playback_summary(player, device, options.blocksize), player.error)
