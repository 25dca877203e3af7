"""The terminal mixer's rows: one strip per line (name, role, fader, pan, mute, solo) with a falling peak meter.

Meters show each strip's peak in dBFS from FLOOR_DB to 0, falling at 20 dB/s, with a peak hold of 1.5 s; the mixer
feeds them 25 times a second.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from stemhost.live.player import Strip
from stemhost.units import db

FLOOR_DB = -60.0  # the meter's bottom
METER_CELLS = (12, 50)  # the meter's width: what is left of the row, within these bounds
FALL_DB_PER_S = 20.0
HOLD_S = 1.5
PARTS = " ▏▎▍▌▋▊▉"  # eighths of a meter cell


def meter_bar(level_db: float, hold_db: float, cells: int) -> Text:
    """A horizontal dBFS meter from FLOOR_DB to 0 in ``cells`` characters, with a tick at the hold.

    Lit cells are green up to -18 dBFS, yellow up to -6, red above.
    """
    filled = min(1.0, max(0.0, (level_db - FLOOR_DB) / -FLOOR_DB)) * cells
    full, part = int(filled), int(filled % 1 * 8)
    lit = "█" * full + (PARTS[part] if part and full < cells else "")
    hold = min(int((hold_db - FLOOR_DB) / -FLOOR_DB * cells), cells - 1) if hold_db > FLOOR_DB else -1
    if hold >= len(lit):
        bar = lit + "·" * (hold - len(lit)) + "│" + "·" * (cells - hold - 1)
    else:
        hold, bar = -1, lit + "·" * (cells - len(lit))
    text = Text(bar, "grey30")
    for low, high, style in ((0, 0.7, "green"), (0.7, 0.9, "yellow"), (0.9, 1.0, "red")):
        first, last = round(low * cells), round(high * cells)
        text.stylize(style, first, min(last, len(lit)))
        if first <= hold < last:
            text.stylize(style, hold, hold + 1)
    return text


class StripRow(Static):
    """One strip on one line: name, role, fader, pan, mute, solo and a peak meter with its hold in dBFS."""

    def __init__(self, strip: Strip) -> None:
        super().__init__()
        self.strip = strip
        self.peak_db = -math.inf  # the peak of the last refresh
        self.level_db = FLOOR_DB  # what the bar shows: the peak, falling at FALL_DB_PER_S
        self.hold_db = -math.inf
        self._hold_until = 0.0

    def feed(self, peak: float, dt: float, now: float) -> None:
        """Take the linear peak since the last refresh (``dt`` seconds ago) and redraw."""
        self.peak_db = level = db(peak)
        self.level_db = max(level, self.level_db - FALL_DB_PER_S * dt, FLOOR_DB)
        if level >= self.hold_db or now >= self._hold_until:
            self.hold_db, self._hold_until = level, now + HOLD_S
        self.redraw()

    def redraw(self) -> None:
        """Show the strip's values now (the meters wait for the next refresh); unchanged rows cost nothing."""
        line = self.line()
        if line != self.content:
            self.update(line, layout=False)

    def line(self) -> Text:
        """The row's text as it is shown."""
        s = self.strip
        text = Text(f"{s.name[:16]:<16} {s.role[:14]:<14} {s.gain_db:+6.1f} dB ", overflow="ellipsis", no_wrap=True)
        pan = "C" if abs(s.pan) < 0.005 else f"{'L' if s.pan < 0 else 'R'}{round(abs(s.pan) * 100)}"
        text.append(f"{pan if s.kind == 'stem' else '':>4}  ")
        text.append("M" if s.mute else "·", "bold white on red" if s.mute else "grey35")
        text.append(" ")
        if s.kind == "master":
            text.append(" ")
        else:
            text.append("S" if s.solo else "·", "bold black on yellow" if s.solo else "grey35")
        text.append("  ")
        hold = "  -inf" if self.hold_db == -math.inf else f"{self.hold_db:+6.1f}"
        cells = min(max(self.size.width - len(text) - len(hold) - 1, METER_CELLS[0]), METER_CELLS[1])
        text.append_text(meter_bar(self.level_db, self.hold_db, cells))
        text.append(f" {hold}", "bold red" if self.hold_db >= 0.0 else "")
        return text


class StripList(VerticalScroll, can_focus=False):
    """The strips, scrolled by the selection (never focused, so the arrows reach the app)."""
