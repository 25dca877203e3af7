"""Progress bars on stderr for renders and catalogs, shown only when stderr is a terminal."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def render_progress(label: str) -> Iterator[Callable[[float, float], None] | None]:
    """Yield a callback taking (seconds done, seconds expected), or None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
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
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"))
    with Progress(*columns, TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("catalog", total=len(jobs), rate="")

        def advance(result) -> None:
            finished(result)
            bar.update(task, advance=1, rate=rate())

        yield advance
