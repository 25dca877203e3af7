"""Steps that take seconds (stretching stems, analysing, loading librosa), told to the caller as they go.

Library code never prints: a :class:`Steps` sends one record per event to the ``stemhost.progress``
logger, each carrying a :class:`StepEvent` as ``record.step`` and its plain line as the message.
The CLI shows them as a live display on a terminal and as one line per step without one.
Parts (stems) may run on several threads at once; each may carry a weight (its seconds of audio),
from which the time left is estimated once a part is done.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger("stemhost.progress")


@dataclass(frozen=True)
class StepEvent:
    """One event of a step: ``begin``, a part ``started`` or ``done``, or the step's ``end``."""

    kind: str
    steps: Steps
    part: str = ""
    index: int = 0  # the part's place, from 1
    elapsed_s: float = 0.0  # since the step began
    eta_s: float | None = None  # time left, estimated from the parts done (None: not known yet)


class Steps:
    """A step, with its parts; a context manager that says when it begins and ends.

    Args:
        title: what is done, as a line (``"stretching 6 stems at key +2"``).
        parts: the parts' names with their weights (seconds of audio; 0 when not comparable).
        verb: the word put before a part's name in its line (``"stretching"`` gives ``"stretching bass (1/6)…"``).
    """

    def __init__(self, title: str, parts: Sequence[tuple[str, float]] = (), verb: str = "") -> None:
        self.title = title
        self.verb = verb
        self.parts = dict(parts)
        self.order = {name: i for i, name in enumerate(self.parts, 1)}
        self.state: dict[str, str] = dict.fromkeys(self.parts, "waiting")  # waiting, running, done
        self.took: dict[str, float] = {}  # seconds each part done took
        self.started = time.monotonic()
        self._began: dict[str, float] = {}
        self._last_done: float | None = None
        self._lock = threading.Lock()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def eta_s(self) -> float | None:
        """Seconds left: the weight left at the pace of the weight done so far, counted down since the last part
        was done (parts run side by side); None before any is done."""
        total = sum(self.parts.values())
        done = sum(self.parts[name] for name, state in self.state.items() if state == "done")
        if total <= 0 or done <= 0 or self._last_done is None:
            return None
        pace = (self._last_done - self.started) / done  # seconds per unit of weight
        return max(0.0, (total - done) * pace - (time.monotonic() - self._last_done))

    def start(self, part: str) -> None:
        """A part begins (any thread); a part not named at the start is added."""
        with self._lock:
            if part not in self.parts:
                self.parts[part] = 0.0
                self.order[part] = len(self.order) + 1
            self.state[part] = "running"
            self._began[part] = time.monotonic()
        index = self.order[part]
        line = f"{self.verb} {part}".strip() + f" ({index}/{len(self.parts)})…"
        self._emit(line, StepEvent("started", self, part, index, self.elapsed_s, self.eta_s()))

    def done(self, part: str) -> None:
        """A part ends (any thread)."""
        with self._lock:
            self.state[part] = "done"
            self._last_done = time.monotonic()
            self.took[part] = self._last_done - self._began.get(part, self.started)
        line = f"{part} done in {self.took[part]:.1f} s"
        self._emit(line, StepEvent("done", self, part, self.order[part], self.elapsed_s, self.eta_s()))

    def next(self, part: str) -> None:
        """For parts that run one after another: the running ones are done, this one begins."""
        for name, state in list(self.state.items()):
            if state == "running":
                self.done(name)
        self.start(part)

    def __enter__(self) -> Steps:
        self.started = time.monotonic()
        self._emit(f"{self.title}…", StepEvent("begin", self))
        return self

    def __exit__(self, kind, _value, _traceback) -> None:
        if kind is None:
            for name, state in list(self.state.items()):
                if state == "running":
                    self.done(name)
        how = "done" if kind is None else "stopped"
        self._emit(f"{how} in {self.elapsed_s:.1f} s", StepEvent("end", self, elapsed_s=self.elapsed_s))

    def _emit(self, line: str, event: StepEvent) -> None:
        log.info(line, extra={"step": event})
