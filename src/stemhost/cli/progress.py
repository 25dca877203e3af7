"""Progress on stderr: bars for renders and catalogs, and the library's steps (:mod:`stemhost.steps`).

On a terminal, live displays (rich) on one shared console, so they nest; without one, plain lines, never a
carriage return.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
from collections.abc import Callable, Iterator

from stemhost.steps import StepEvent, Steps


@functools.cache
def console():
    """The one rich console on stderr that every live display shares (rich nests live displays on one console)."""
    from rich.console import Console

    return Console(stderr=True)


@contextlib.contextmanager
def render_progress(label: str) -> Iterator[Callable[[float, float], None] | None]:
    """Yield a callback taking (seconds done, seconds expected), or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console(), transient=True) as bar:
        task = bar.add_task(f"rendering {label}", total=None)

        def update(done_s: float, expected_s: float) -> None:
            bar.update(task, completed=done_s, total=max(expected_s, done_s))

        yield update


@contextlib.contextmanager
def batch_progress(jobs: list) -> Iterator[Callable[[object], None]]:
    """Yield a callback taking each finished job's result: one bar over the jobs, with songs per minute and an ETA.

    Without a terminal on stderr, each result is a line instead.
    """
    import time
    from collections import Counter

    remaining = Counter(job.song for job in jobs)  # renders left per song
    start, songs_done = time.monotonic(), 0

    def finished(result) -> None:
        nonlocal songs_done
        remaining[result.song] -= 1
        songs_done += remaining[result.song] == 0

    def rate() -> str:
        minutes = (time.monotonic() - start) / 60.0
        return f"{songs_done / minutes:.1f} songs/min" if minutes > 0 else ""

    if not sys.stderr.isatty():

        def line(result) -> None:
            finished(result)
            print(f"{result.status:<7} {result.file}", file=sys.stderr)

        yield line
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"))
    with Progress(*columns, TimeRemainingColumn(), console=console(), transient=True) as bar:
        task = bar.add_task("catalog", total=len(jobs), rate="")

        def advance(result) -> None:
            finished(result)
            bar.update(task, advance=1, rate=rate())

        yield advance


class StepsHandler(logging.Handler):
    """Shows the library's steps: one plain line per step and part begun without a terminal (parts' ends are
    left out, lines from parallel parts would only interleave); on a terminal, a live display of every step
    open with its parts' states and the time left, and one line when the outermost step ends."""

    def __init__(self, terminal: bool | None = None) -> None:
        super().__init__()
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.open: list[Steps] = []
        self.live = None

    def emit(self, record: logging.LogRecord) -> None:
        event: StepEvent | None = getattr(record, "step", None)
        if event is None:
            return
        if not self.terminal:
            if event.kind != "done":
                print(record.getMessage(), file=sys.stderr, flush=True)
            return
        if event.kind == "begin":
            self.open.append(event.steps)
            if self.live is None:
                from rich.live import Live

                self.live = Live(get_renderable=self.render, console=console(), transient=True, refresh_per_second=4)
                self.live.start()
        elif event.kind == "end":
            if event.steps in self.open:
                self.open.remove(event.steps)
            if not self.open and self.live is not None:
                self.live.stop()
                self.live = None
                console().print(f"{event.steps.title}: done in {event.elapsed_s:.1f} s", highlight=False)

    def render(self):
        from rich.text import Text

        lines = []
        for depth, steps in enumerate(list(self.open)):
            eta = steps.eta_s()
            left = f", about {eta:.0f} s left" if eta is not None else ""
            done = sum(state == "done" for state in steps.state.values())
            count = f" {done}/{len(steps.parts)}" if steps.parts else ""
            lines.append(f"{'  ' * depth}{steps.title}{count} ({steps.elapsed_s:.0f} s{left})")
            for name, state in list(steps.state.items()):
                took = f" {steps.took[name]:.1f} s" if name in steps.took else ""
                lines.append(f"{'  ' * depth}  {MARKS[state]} {name}{took}")
        return Text("\n".join(lines))


MARKS = {"waiting": "·", "running": "…", "done": "✓"}


def show_steps() -> logging.Handler:
    """Add a :class:`StepsHandler` to the ``stemhost.progress`` logger; returns it, for removeHandler."""
    handler = StepsHandler()
    logger = logging.getLogger("stemhost.progress")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler
