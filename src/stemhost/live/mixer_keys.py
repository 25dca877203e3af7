"""The terminal mixer's keys, its help page (``?``) and the question ``w`` asks before saving transient states.

The footer shows the everyday keys and fits 80 columns; the help page lists every key, made from the
same bindings, so it can never leave one out.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

FADER_STEP_DB = 1.0  # shift+up / shift+down
FINE_STEP_DB = 0.1  # ctrl+up / ctrl+down
PAN_STEP = 0.1  # shift+left / shift+right: 10 % of the way to one side
SEEK_S = 5.0
TENTHS = "the song's tenths: 0 its start, 5 its middle"
STRIP = Binding.Group("strip", compact=True)  # footer entries: keys that share a description
FADER = Binding.Group("fader", compact=True)
SEEK = Binding.Group("seek", compact=True)

BINDINGS = [
    Binding("up", "select(-1)", "strip above", group=STRIP, key_display="↑"),
    Binding("down", "select(1)", "strip below", group=STRIP, key_display="↓"),
    Binding("shift+up", f"fader({FADER_STEP_DB})", f"fader +{FADER_STEP_DB:g} dB", group=FADER, key_display="⇧↑"),
    Binding("shift+down", f"fader({-FADER_STEP_DB})", f"fader -{FADER_STEP_DB:g} dB", group=FADER, key_display="⇧↓"),
    Binding("ctrl+up", f"fader({FINE_STEP_DB})", f"fader +{FINE_STEP_DB:g} dB", show=False, key_display="^↑"),
    Binding("ctrl+down", f"fader({-FINE_STEP_DB})", f"fader -{FINE_STEP_DB:g} dB", show=False, key_display="^↓"),
    Binding("r", "reset_fader", "fader to 0 dB", show=False),
    Binding("shift+left", f"pan({-PAN_STEP})", "pan left", show=False, key_display="⇧←"),
    Binding("shift+right", f"pan({PAN_STEP})", "pan right", show=False, key_display="⇧→"),
    Binding("m", "toggle('mute')", "mute"),
    Binding("s", "toggle('solo')", "solo"),
    Binding("space", "play_pause", "play", key_display="␣"),
    Binding("left", f"seek_by({-SEEK_S})", f"back {SEEK_S:g} s", group=SEEK, key_display="←"),
    Binding("right", f"seek_by({SEEK_S})", f"on {SEEK_S:g} s", group=SEEK, key_display="→"),
    Binding("home", "seek_to(0)", "to the start", show=False, key_display="Home"),
    Binding("end", "seek_to(10)", "to the end", show=False, key_display="End"),
    *(Binding(str(k), f"seek_to({k})", TENTHS, show=False) for k in range(10)),
    Binding("left_square_bracket", "loop_point('start')", "loop start here", show=False, key_display="["),
    Binding("right_square_bracket", "loop_point('end')", "loop end here", show=False, key_display="]"),
    Binding("l", "toggle_loop", "loop on or off", show=False),
    Binding("comma", "section('previous')", "previous section (on the next downbeat)", show=False, key_display=","),
    Binding("full_stop", "section('next')", "next section (on the next downbeat)", show=False, key_display="."),
    # USB foot pedals send page up and page down
    Binding("pageup", "section('previous')", "previous section (on the next downbeat)", show=False, key_display="PgUp"),
    Binding("pagedown", "section('next')", "next section (on the next downbeat)", show=False, key_display="PgDn"),
    Binding("semicolon", "loop_section", "loop the section playing, or release the loop", show=False, key_display=";"),
    Binding("plus", "key(1)", "key a semitone up", show=False, key_display="+"),
    Binding("minus", "key(-1)", "key a semitone down", show=False, key_display="-"),
    Binding("less_than_sign", "tempo(-0.05)", "tempo 5 % slower", show=False, key_display="<"),
    Binding("greater_than_sign", "tempo(0.05)", "tempo 5 % faster", show=False, key_display=">"),
    Binding("b", "bypass", "bypass the plugin marked >", show=False),
    Binding("p", "next_plugin", "mark the next plugin", show=False),
    Binding("w", "save", "save"),
    Binding("question_mark", "help", "help", key_display="?"),
    Binding("q", "quit", "quit"),
]


def key_name(binding: Binding) -> str:
    return binding.key_display or binding.key


def help_lines(bindings: list[Binding] = BINDINGS) -> list[str]:
    """Every key with what it does; keys that do the same thing share a line."""
    keys: dict[str, list[str]] = {}
    for binding in bindings:
        keys.setdefault(binding.description, []).append(key_name(binding))
    width = max(len(" ".join(k)) for k in keys.values())
    return [f"{' '.join(k):>{width}}  {description}" for description, k in keys.items()]


class HelpScreen(ModalScreen[None]):
    """Every key of the mixer (or of the show view: its bindings); any key closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: auto; height: auto; max-height: 100%; padding: 0 2; background: $panel; }
    """

    def __init__(self, bindings: list[Binding] = BINDINGS) -> None:
        super().__init__()
        self.keys = bindings

    def compose(self) -> ComposeResult:
        lines = "\n".join(help_lines(self.keys))
        with Vertical():
            yield Static(Text("keys (any key closes this)\n", "bold") + Text(lines), id="help")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        self.dismiss()


class ConfirmScreen(ModalScreen[bool]):
    """A yes-or-no question: ``y`` answers yes, any other key no."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Static { width: auto; max-width: 90%; padding: 1 2; background: $panel; }
    """

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(Text(self.question, "bold"), id="question")

    def on_key(self, event: events.Key) -> None:
        event.stop()
        self.dismiss(event.key == "y")
