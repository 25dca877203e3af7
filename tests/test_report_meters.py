"""The mix report's strips and stereo image: bus rows, hot peaks marked, each strip's short-term loudness over time,
and the master's stereo correlation (overall and per 400 ms)."""

from __future__ import annotations

import math
import re

import numpy as np
import pyebur128
import pytest

from stemhost.render.correlation import Correlation
from stemhost.render.driver import RenderOptions
from stemhost.render.report import analyse_output, write_report
from stemhost.render.report_page import report_figure, stem_cells
from test_report import render_with_meters

from conftest import noise, read_audio, write_audio

SR = 48000


def stereo_sine(level_dbfs: float, seconds: float, freq: float = 1000.0) -> np.ndarray:
    """The same sine in both channels, peaking exactly at level_dbfs (1 kHz at 48 kHz hits its crest)."""
    t = np.arange(round(seconds * SR)) / SR
    x = (10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([x, x])


def test_a_stem_peaking_above_minus_1_dbfs_is_marked_and_one_below_is_not(tmp_path):
    write_audio(tmp_path / "hot.wav", stereo_sine(-0.5, 2.0))
    write_audio(tmp_path / "cool.wav", stereo_sine(-3.0, 2.0, freq=500.0))
    data = {
        "stems": [
            {"name": "hot", "file": "hot.wav", "output": "group"},
            {"name": "cool", "file": "cool.wav", "output": "group"},
        ],
        "buses": [{"name": "group", "gain_db": -20.0}],
    }
    meters, result = render_with_meters(tmp_path, data)
    rows = {row.name: row for row in meters.rows()}
    assert rows["hot"].peak_dbfs == pytest.approx(-0.5, abs=0.01) and rows["hot"].hot
    assert rows["cool"].peak_dbfs == pytest.approx(-3.0, abs=0.01) and not rows["cool"].hot
    assert rows["group"].kind == "bus" and rows["group"].role == "bus" and not rows["group"].hot
    assert stem_cells(rows["hot"])[2] == "-0.5 (over -1)" and stem_cells(rows["cool"])[2] == "-3.0"
    report = tmp_path / "report.html"
    write_report(report, tmp_path / "mix.wav", meters, result.clips, None, "song")
    page = report.read_text(encoding="utf-8")
    assert '<tr class="hot"><td>hot</td><td>other</td><td>-0.5 (over -1)</td>' in page
    assert "<tr><td>cool</td><td>other</td><td>-3.0</td>" in page
    assert re.search(r"<tr><td>group</td><td>bus</td><td>-\d+\.\d</td><td>-\d+\.\d</td></tr>", page)


def test_bus_rows_hold_the_bus_output_peak_and_loudness(tmp_path):
    write_audio(tmp_path / "a.wav", stereo_sine(-6.0, 3.0))
    write_audio(tmp_path / "b.wav", noise(3.0, channels=2, level=0.1, seed=3))
    data = {
        "stems": [
            {"name": "a", "file": "a.wav", "output": "group"},
            {"name": "b", "file": "b.wav", "output": "group"},
        ],
        "buses": [{"name": "group", "gain_db": -6.0}],
    }
    meters, _ = render_with_meters(tmp_path, data)
    rows = {row.name: row for row in meters.rows()}
    summed = (read_audio(tmp_path / "a.wav")[0] + read_audio(tmp_path / "b.wav")[0]) * 10 ** (-6 / 20)
    state = pyebur128.R128State(2, SR, pyebur128.MeasurementMode.MODE_I)
    state.add_frames(np.ascontiguousarray(summed.T, dtype=np.float64).ravel(), summed.shape[1])
    group = rows["group"]
    assert group.kind == "bus"
    assert group.peak_dbfs == pytest.approx(20 * math.log10(np.max(np.abs(summed))), abs=0.01)
    assert group.loudness_lufs == pytest.approx(pyebur128.get_loudness_global(state), abs=0.05)


def short_term_at(audio: np.ndarray, seconds: list[float]) -> list[float]:
    """pyebur128's short-term loudness of ``(2, n)`` audio at the given times."""
    state = pyebur128.R128State(2, SR, pyebur128.MeasurementMode.MODE_S)
    out, done = [], 0
    for t in seconds:
        end = round(t * SR)
        state.add_frames(np.ascontiguousarray(audio[:, done:end].T, dtype=np.float64).ravel(), end - done)
        done = end
        out.append(pyebur128.get_loudness_shortterm(state))
    return out


@pytest.mark.parametrize("block_size", [512, 4800])
def test_each_strip_has_its_short_term_loudness_over_time(tmp_path, block_size):
    quiet_then_loud = np.concatenate([stereo_sine(-30.0, 4.0), stereo_sine(-10.0, 4.0)], axis=1)
    loud_then_quiet = np.concatenate([noise(4.0, channels=2, level=0.2), noise(4.0, channels=2, level=0.01)], axis=1)
    write_audio(tmp_path / "rise.wav", quiet_then_loud)
    write_audio(tmp_path / "fall.wav", loud_then_quiet)
    data = {"stems": [{"name": "rise", "file": "rise.wav"}, {"name": "fall", "file": "fall.wav"}]}
    meters, _ = render_with_meters(tmp_path, data, RenderOptions(block_size, tail_s=0.0))
    times = [2.0, 4.0, 5.5, 7.0, 8.0]
    for row in meters.rows():
        assert row.short_term_s.shape == row.short_term_lufs.shape == (16,)  # one reading every 0.5 s for 8 s
        np.testing.assert_allclose(row.short_term_s[:3], [0.5, 1.0, 1.5])
        audio, _ = read_audio(tmp_path / f"{row.name}.wav")
        expected = short_term_at(audio, times)
        got = [row.short_term_lufs[round(t / 0.5) - 1] for t in times]
        np.testing.assert_allclose(got, expected, atol=0.2, err_msg=row.name)
    rise = meters.rows()[0].short_term_lufs
    assert rise[5] < -25 and rise[-1] > -15  # quiet at 3 s, loud at the end


def correlation_of(left: np.ndarray, right: np.ndarray, block: int) -> Correlation:
    meter = Correlation(SR)
    audio = np.stack([left, right])
    for start in range(0, audio.shape[1], block):
        meter.add(audio[:, start : start + block])
    return meter


@pytest.mark.parametrize("block", [1000, 19200, 65536])
@pytest.mark.parametrize(
    ("right", "expected"), [("same", 1.0), ("inverted", -1.0), ("independent", 0.0)], ids=["same", "inverted", "indep"]
)
def test_master_correlation_is_plus_1_minus_1_and_0(block, right, expected):
    left = noise(4.0, level=0.2, seed=1)[0]
    other = {"same": left, "inverted": -left, "independent": noise(4.0, level=0.2, seed=2)[0]}[right]
    meter = correlation_of(left, other, block)
    assert meter.overall == pytest.approx(expected, abs=0.05)
    assert meter.windows.shape == (10,)  # 4 s in 400 ms windows
    np.testing.assert_allclose(meter.windows, expected, atol=0.05)
    np.testing.assert_allclose(meter.times_s[:2], [0.2, 0.6])


def test_correlation_of_silence_has_no_figure_and_mono_is_plus_1(tmp_path):
    silent = np.zeros(SR, np.float32)
    meter = correlation_of(silent, silent, 4096)
    assert math.isnan(meter.overall) and np.isnan(meter.windows).all()
    write_audio(tmp_path / "mono.wav", noise(2.0, level=0.1))
    assert analyse_output(tmp_path / "mono.wav").correlation == pytest.approx(1.0)


@pytest.mark.parametrize(("right", "expected"), [("same", 1.0), ("inverted", -1.0), ("independent", 0.0)])
def test_the_reports_analysis_reads_the_masters_correlation_from_the_file(tmp_path, right, expected):
    left = noise(3.0, level=0.2, seed=1)[0]
    other = {"same": left, "inverted": -left, "independent": noise(3.0, level=0.2, seed=2)[0]}[right]
    write_audio(tmp_path / "mix.wav", np.stack([left, other]))
    analysis = analyse_output(tmp_path / "mix.wav")
    assert analysis.correlation == pytest.approx(expected, abs=0.05)
    assert analysis.correlation_windows.shape == (8,)  # 3 s: seven whole windows and a short last one
    np.testing.assert_allclose(analysis.correlation_windows, expected, atol=0.05)


def test_the_figure_shows_strip_loudness_and_correlation(tmp_path):
    write_audio(tmp_path / "a.wav", stereo_sine(-12.0, 4.0))
    write_audio(tmp_path / "b.wav", noise(4.0, channels=2, level=0.1))
    data = {
        "stems": [{"name": "a", "file": "a.wav", "output": "group"}, {"name": "b", "file": "b.wav", "mute": True}],
        "buses": [{"name": "group"}],
    }
    meters, result = render_with_meters(tmp_path, data)
    rows = meters.rows()
    figure = report_figure(analyse_output(tmp_path / "mix.wav"), result.clips, None, None, rows, table=False)
    titles = [ax.get_title() for ax in figure.axes]
    assert any(t.startswith("stereo correlation per 400 ms") and t.endswith("whole song +1.00") for t in titles)
    heat = next(ax for ax in figure.axes if ax.get_title().startswith("short-term loudness (3 s) of each"))
    assert [label.get_text() for label in heat.get_yticklabels()] == ["a", "group (bus)"]  # the muted stem is left out
    report = tmp_path / "report.html"
    write_report(report, tmp_path / "mix.wav", meters, result.clips, None, "song")
    assert "stereo correlation +1.00" in report.read_text(encoding="utf-8")
