"""How the mix report looks: the matplotlib figure (waveform, loudness, stereo correlation, spectrum, each strip's
loudness over time, the strip table) and the HTML page."""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from stemhost.render.clips import Clipping
    from stemhost.render.report import OutputAnalysis, StemRow


def report_figure(
    analysis: OutputAnalysis,
    clips: Clipping,
    target_lufs: float | None,
    title: str | None,
    rows: list[StemRow] | None,
    table: bool = True,
) -> Figure:
    """Waveform with clipped regions, short-term loudness with the target, stereo correlation, spectrum; with rows,
    each strip's short-term loudness over time (a heat map) and, with table, the strip table."""
    from matplotlib.figure import Figure  # Agg through Figure.savefig; no pyplot, no global state

    measured = [row for row in rows or () if row.short_term_lufs.size]
    heights = [2.2, 2.2, 1.6, 2.6]
    if measured:
        heights.append(0.6 + 0.28 * len(measured))
    table = table and rows is not None
    if table:
        heights.append(0.3 * (len(rows) + 1) + 0.3)
    figure = Figure(figsize=(11, sum(heights) + 1.0 + (0.5 if title else 0.0)), layout="constrained")
    axes = figure.subplots(len(heights), 1, gridspec_kw={"height_ratios": heights})
    wave, loud, correlation, spectrum = axes[:4]
    wave.fill_between(analysis.envelope_s, analysis.envelope_min, analysis.envelope_max, color="#3465a4", lw=0)
    for level in (-1.0, 1.0):
        wave.axhline(level, color="grey", lw=0.6, ls="--")
    shortest = max(analysis.column_s, analysis.duration_s / 400.0)  # a few pixels: a single clipped sample shows
    for start, end in clips.regions:
        wave.axvspan(start, max(end, start + shortest), color="red", alpha=0.4, lw=0)
    wave.set(title=f"waveform (clipped regions in red: {len(clips.regions)})", ylabel="amplitude", ylim=(-1.1, 1.1))
    wave.set_xlim(0.0, max(analysis.duration_s, 1e-3))
    values = np.where(np.isfinite(analysis.short_term_lufs), analysis.short_term_lufs, np.nan)
    loud.plot(analysis.short_term_s, values, color="#3465a4", lw=1.0, label="short-term (3 s)")
    if math.isfinite(analysis.integrated_lufs):
        loud.axhline(analysis.integrated_lufs, color="grey", ls=":", label=f"integrated {analysis.integrated_lufs:.1f}")
    if target_lufs is not None:
        loud.axhline(target_lufs, color="#4e9a06", ls="--", lw=1.5, label=f"target {target_lufs:.1f}")
    lines = [v for v in (np.nanmax(values, initial=-np.inf), target_lufs) if v is not None and math.isfinite(v)]
    top = max(lines, default=0.0) + 3.0
    loud.set(title="short-term loudness", ylabel="LUFS", xlabel="time (s)", ylim=(max(-60.0, top - 40.0), top))
    loud.set_xlim(wave.get_xlim())
    loud.legend(loc="lower right", fontsize="small")
    correlation_plot(correlation, analysis)
    correlation.set_xlim(wave.get_xlim())
    spectrum.semilogx(analysis.spectrum_hz, analysis.spectrum_db, color="#3465a4", lw=0.8)
    high = float(np.max(analysis.spectrum_db, initial=-200.0))
    spectrum.set(title="long-term average spectrum", xlabel="frequency (Hz)", ylabel="dB (sine peak = dBFS)")
    spectrum.set_xlim(20.0, analysis.sample_rate / 2.0)
    spectrum.set_ylim(high - 90.0, high + 6.0)
    for ax in axes[:4]:
        ax.grid(True, which="both", alpha=0.25)
    if measured:
        strip_heat_map(figure, axes[4], measured, wave.get_xlim())
    if table:
        axes[-1].axis("off")
        cells = [stem_cells(row) for row in rows]
        table = axes[-1].table(cellText=cells, colLabels=TABLE_HEADER, cellLoc="center", bbox=(0, 0, 1, 1))
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        for (line, column), cell in table.get_celld().items():
            if line > 0 and rows[line - 1].muted:
                cell.get_text().set_color("grey")
            elif line > 0 and column == 2 and rows[line - 1].hot:
                cell.get_text().set_color("#cc0000")
    if title:
        figure.suptitle(title)
    return figure


def correlation_plot(ax, analysis: OutputAnalysis) -> None:
    """The master's stereo correlation per 400 ms window, −1..+1, with the whole file's figure in the title."""
    ax.axhline(0.0, color="grey", lw=0.6)
    ax.plot(analysis.correlation_s, analysis.correlation_windows, color="#3465a4", lw=1.0, drawstyle="steps-mid")
    overall = "-" if math.isnan(analysis.correlation) else f"{analysis.correlation:+.2f}"
    ax.set(
        title=f"stereo correlation per 400 ms (+1 mono, 0 wide, -1 out of phase): whole song {overall}",
        ylabel="correlation",
        ylim=(-1.05, 1.05),
    )


def strip_heat_map(figure: Figure, ax, rows: list[StemRow], xlim: tuple[float, float]) -> None:
    """Who is loud where: each strip's short-term loudness over time, one row per stem or bus."""
    width = max(row.short_term_lufs.size for row in rows)
    grid = np.full((len(rows), width), np.nan)
    for i, row in enumerate(rows):
        grid[i, : row.short_term_lufs.size] = np.where(np.isfinite(row.short_term_lufs), row.short_term_lufs, np.nan)
    top = float(np.nanmax(grid)) if np.isfinite(grid).any() else 0.0
    step = float(rows[0].short_term_s[0]) if rows[0].short_term_s.size else 1.0
    image = ax.imshow(
        grid,
        aspect="auto",
        interpolation="nearest",
        cmap="magma",
        vmin=top - 30.0,
        vmax=top,
        extent=(0.0, width * step, len(rows) - 0.5, -0.5),
    )
    ax.set_yticks(range(len(rows)), [f"{row.name} (bus)" if row.kind == "bus" else row.name for row in rows])
    ax.set(title="short-term loudness (3 s) of each stem and bus", xlabel="time (s)", xlim=xlim)
    figure.colorbar(image, ax=ax, label="LUFS", pad=0.01)


TABLE_HEADER = ("stem or bus", "role", "peak dBFS", "loudness LUFS")
HOT_MARK = " (over -1)"  # beside a peak above −1 dBFS


def stem_cells(row: StemRow) -> list[str]:
    """A strip table row as text; a peak above −1 dBFS is marked."""
    if row.muted:
        return [row.name, row.role, "muted", "muted"]
    peak = figure_text(row.peak_dbfs) + (HOT_MARK if row.hot else "")
    return [row.name, row.role, peak, figure_text(row.loudness_lufs)]


def figure_text(value: float | None, sign: str = "") -> str:
    """A level to one decimal, "-inf" for silence or none."""
    return "-inf" if value is None or math.isinf(value) else f"{value:{sign}.1f}"


def html_page(title: str, summary: str, png_base64: str, rows: list[StemRow]) -> str:
    """The self-contained HTML report: heading, summary line, the figure as an embedded PNG, the stem table."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in TABLE_HEADER)
    body = "\n".join(
        ('<tr class="muted">' if row.muted else '<tr class="hot">' if row.hot else "<tr>")
        + "".join(f"<td>{html.escape(c)}</td>" for c in stem_cells(row))
        + "</tr>"
        for row in rows
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; max-width: 1120px; margin: 1.5em auto; color: #222; }}
img {{ max-width: 100%; }} table {{ border-collapse: collapse; }}
th, td {{ padding: 0.25em 0.9em; border-bottom: 1px solid #ddd; text-align: right; }}
th:nth-child(-n+2), td:nth-child(-n+2) {{ text-align: left; }} tr.muted {{ color: #888; }}
tr.hot td:nth-child(3) {{ color: #c00; font-weight: bold; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="summary">{html.escape(summary)}</p>
<img alt="waveform, short-term loudness, stereo correlation and spectrum of the master; each strip's loudness" src="data:image/png;base64,{png_base64}">
<h2>Stems and buses</h2>
<table><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
</body></html>
"""
