"""MIDI control: a mapping file (note, CC or program change → action) and a listener on an input port.

The mapping is JSON, a list of rules, each one trigger and an action::

    [{"note": 60, "channel": 1, "action": "play_pause"},
     {"cc": 64, "value": ">=64", "action": "next_section"},
     {"program": 3, "action": "mute:vocals"}]

``note`` fires on a note-on (velocity above 0); ``cc`` on a control change whose value passes ``value``
(``">=64"`` by default: a foot switch's press, not its release); ``program`` on a program change
(0–127, as mido numbers them); ``channel`` (1–16) narrows any of them. Ports come from python-rtmidi
through mido: ALSA's sequencer where the kernel has one (``/dev/snd/seq``), and JACK MIDI.

Threads: rtmidi calls the listener on its own thread; every action is handed to ``call`` (the mixer's
``App.call_from_thread``, so the UI thread runs it; headless, the action runs there).
"""

from __future__ import annotations

import contextlib
import json
import logging
import operator
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from stemhost.errors import DeviceError, SessionError, StemhostError

log = logging.getLogger("stemhost")

ACTIONS = (
    "play_pause", "next_song", "previous_song", "next_section", "previous_section", "loop_section",
    "mute:STEM", "solo:STEM", "key_up", "key_down", "tempo_up", "tempo_down",
)  # fmt: skip
SONG_ACTIONS = ("next_song", "previous_song")  # for a setlist (the show); one song has none
TEMPO_STEP = 0.05  # tempo_up / tempo_down, as the mixer's < and >
DEFAULT_MAPPING = (  # --midi without --midi-map: a sustain pedal steps on, a soft pedal back
    {"cc": 64, "action": "next_section"},
    {"cc": 67, "action": "previous_section"},
)
COMPARE = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq, "": operator.eq}
VALUE = re.compile(r"^\s*(>=|<=|>|<|==|)\s*(\d{1,3})\s*$")


@dataclass(frozen=True)
class Rule:
    """One trigger and its action; ``channel`` 0–15 (mido's) or None for any."""

    kind: str  # "note", "cc" or "program"
    number: int
    action: str
    channel: int | None = None
    test: tuple[str, int] = (">=", 64)  # a cc's value test

    def matches(self, message) -> bool:
        if self.channel is not None and getattr(message, "channel", None) != self.channel:
            return False
        if self.kind == "note":
            return message.type == "note_on" and message.note == self.number and message.velocity > 0
        if self.kind == "cc":
            op, value = self.test
            return (
                message.type == "control_change"
                and message.control == self.number
                and COMPARE[op](message.value, value)
            )
        return message.type == "program_change" and message.program == self.number


def load_mapping(path: Path | None, stems: list[str], songs: bool = False) -> list[Rule]:
    """Read and check a mapping file (None: :data:`DEFAULT_MAPPING`); each problem is one line naming the rule.

    Args:
        stems: the stems ``mute:`` and ``solo:`` may name.
        songs: whether next_song and previous_song have songs to go to (a setlist's show).
    """
    name = "the default MIDI mapping" if path is None else path.name
    if path is None:
        data = list(DEFAULT_MAPPING)
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise SessionError(f"{path}: cannot read the MIDI mapping ({exc})") from exc
        except json.JSONDecodeError as exc:
            raise SessionError(f"{path}: line {exc.lineno}: not JSON ({exc.msg})") from exc
    if not isinstance(data, list):
        raise SessionError(
            f"{name}: a MIDI mapping is a list of rules, such as [{{'note': 60, 'action': 'play_pause'}}]"
        )
    return [_rule(entry, f"{name}: [{i}]", stems, songs) for i, entry in enumerate(data)]


def _rule(entry: object, where: str, stems: list[str], songs: bool) -> Rule:
    if not isinstance(entry, dict):
        raise SessionError(f"{where}: a rule is an object, such as {{'note': 60, 'action': 'play_pause'}}")
    unknown = sorted(set(entry) - {"note", "cc", "program", "channel", "value", "action"})
    if unknown:
        raise SessionError(f"{where}: {unknown[0]!r} is not a rule's field (note, cc, program, channel, value, action)")
    kinds = [k for k in ("note", "cc", "program") if k in entry]
    if len(kinds) != 1:
        raise SessionError(f"{where}: give one trigger: note, cc or program (it has {', '.join(kinds) or 'none'})")
    kind, number = kinds[0], entry[kinds[0]]
    if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= 127:
        raise SessionError(f"{where}.{kind}: {number!r} is not a MIDI number (0 to 127)")
    channel = entry.get("channel")
    if channel is not None and (not isinstance(channel, int) or isinstance(channel, bool) or not 1 <= channel <= 16):
        raise SessionError(f"{where}.channel: {channel!r} is not a MIDI channel (1 to 16)")
    test = (">=", 64)
    if "value" in entry:
        found = VALUE.match(str(entry["value"])) if kind == "cc" else None
        if found is None or int(found[2]) > 127:
            raise SessionError(f"{where}.value: {entry['value']!r}: a cc's value test is like '>=64', '<64' or '127'")
        test = (found[1], int(found[2]))
    action = entry.get("action")
    base, _, stem = str(action).partition(":")
    if not isinstance(action, str) or (f"{base}:STEM" if stem or base in ("mute", "solo") else base) not in ACTIONS:
        raise SessionError(f"{where}.action: {action!r} is not an action; actions: {', '.join(ACTIONS)}")
    if base in ("mute", "solo") and stem not in stems:
        raise SessionError(f"{where}.action: {action!r}: no stem named {stem!r}; stems: {', '.join(stems)}")
    if base in SONG_ACTIONS and not songs:
        raise SessionError(f"{where}.action: {action!r} is for a setlist's show (stemhost show); play has one song")
    return Rule(kind, number, action, None if channel is None else channel - 1, test)


# ------------------------------------------------------------------ ports and the listener


def input_ports() -> dict[str, str]:
    """Every MIDI input port there is, by name, with its rtmidi API (ALSA's sequencer first, then JACK)."""
    import mido

    apis = (["LINUX_ALSA"] if Path("/dev/snd/seq").exists() else []) + ["UNIX_JACK"]
    found: dict[str, str] = {}
    for api in apis:
        with contextlib.suppress(Exception):  # no sequencer, no JACK server: no ports from it
            for name in mido.Backend(f"mido.backends.rtmidi/{api}", load=True).get_input_names():
                found.setdefault(name, api)
    return found


def find_port(wanted: str) -> tuple[str, str]:
    """A port by its name, or by a part of it that only one port's name holds: (name, API)."""
    ports = input_ports()
    if wanted in ports:
        return wanted, ports[wanted]
    near = [name for name in ports if wanted.lower() in name.lower()]
    if len(near) == 1:
        return near[0], ports[near[0]]
    shown = "; ".join(ports) or "none (plug the device in; JACK MIDI needs a running JACK server)"
    say = "matches several MIDI inputs" if near else "is no MIDI input"
    raise DeviceError(f"--midi {wanted!r} {say}; ports: {shown}")


class MidiListener:
    """Runs mapped actions for the messages arriving on an input port.

    Args:
        port: the port's name (or a unique part of it).
        rules: from :func:`load_mapping`.
        controller: has a method per action (``play_pause()``, ``next_section()``, ``mute(stem)`` ...).
        call: runs an action on the thread that owns the controller (default: at once, on rtmidi's thread).
    """

    def __init__(self, port: str, rules: list[Rule], controller, call: Callable[[Callable[[], None]], object] = None):
        import mido

        self.name, api = find_port(port)
        self.rules = rules
        self.controller = controller
        self.call = call or (lambda action: action())
        self.handled: list[tuple[float, str]] = []  # (time.perf_counter() when done, action): for tests and figures
        self._port = mido.Backend(f"mido.backends.rtmidi/{api}", load=True).open_input(self.name, callback=self._got)

    def _got(self, message) -> None:
        for rule in self.rules:
            if rule.matches(message):
                self.call(lambda action=rule.action: self.run(action))

    def run(self, action: str) -> None:
        """Do one action (on the controller's thread); what it refuses is noted, never raised into rtmidi."""
        base, _, stem = action.partition(":")
        try:
            getattr(self.controller, base)(*([stem] if stem else []))
        except StemhostError as exc:
            log.warning(f"midi: {action}: {exc}")
        self.handled.append((time.perf_counter(), action))

    def close(self) -> None:
        self._port.close()


@contextlib.contextmanager
def listening(port: str | None, rules: list[Rule], controller, call=None) -> Iterator[MidiListener | None]:
    """A listener while the block runs (none without a port)."""
    listener = None if port is None else MidiListener(port, rules, controller, call)
    if listener is not None:
        log.info(f"MIDI from {listener.name!r}")
    try:
        yield listener
    finally:
        if listener is not None:
            listener.close()


class PlayerControl:
    """The actions of ``stemhost play`` on a :class:`~stemhost.live.player.Player` (one song: no next_song).

    Args:
        player: the player.
        mixer: the terminal mixer, when there is one: its own actions run (so its figures stay right).
    """

    def __init__(self, player, mixer=None) -> None:
        self.player = player
        self.mixer = mixer

    def play_pause(self) -> None:
        if self.mixer is not None:
            self.mixer.action_play_pause()
        elif self.player.ended:
            self.player.seek(0.0)
        else:
            self.player.toggle_play()

    def next_section(self) -> None:
        self.player.sections.jump(to="next")

    def previous_section(self) -> None:
        self.player.sections.jump(to="previous")

    def loop_section(self) -> None:
        self.player.sections.toggle_loop()

    def mute(self, stem: str) -> None:
        self.player.change("stem", stem, mute=not self.player.strips[("stem", stem)].mute)

    def solo(self, stem: str) -> None:
        self.player.change("stem", stem, solo=not self.player.strips[("stem", stem)].solo)

    def key_up(self, step: int = 1) -> None:
        if self.mixer is not None:
            self.mixer.action_key(step)
        else:
            self.player.set_key(self.player.wanted.key_shift + step)

    def key_down(self) -> None:
        self.key_up(-1)

    def tempo_up(self, step: float = TEMPO_STEP) -> None:
        if self.mixer is not None:
            self.mixer.action_tempo(step)
        else:
            self.player.set_tempo(round(self.player.wanted.tempo + step, 2))

    def tempo_down(self) -> None:
        self.tempo_up(-TEMPO_STEP)
