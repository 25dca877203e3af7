"""A progress bar on stderr for renders, shown only when stderr is a terminal."""

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
