"""--report: the stem table, the master's loudness, spectrum and clipping, in one HTML file or one PNG."""

from __future__ import annotations

import base64
import contextlib
import errno
import io
import math
import re
from pathlib import Path

import numpy as np
import pedalboard
import pyloudnorm
import pytest

import stemhost.engine.plugins
from stemhost.cli.main import main
from stemhost.engine.compile import compile_graph
from stemhost.errors import OutputError
from stemhost.render.clips import Clipping
from stemhost.render.driver import RenderOptions, RenderResult, render_graph
from stemhost.render.meter import LoudnessMeter
from stemhost.render.outputs import output_format
from stemhost.render.report import FFT_SIZE, StemMeters, analyse_output, check_report_path, write_report
from stemhost.render.report_page import report_figure
from stemhost.render.stem_files import StemFiles
from stemhost.session.effects import Gain
from stemhost.session.model import Session

from conftest import noise, read_audio, tone, write_audio, write_session

SR = 48000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_TAIL = RenderOptions(tail_s=0.0)


def render_with_meters(
    tmp_path: Path, data: dict, options: RenderOptions = NO_TAIL, stems_out: bool = False
) -> tuple[StemMeters, RenderResult]:
    """Render a session to mix.wav with the stem meters as a tap (and the stem files, if asked)."""
    path = write_session(tmp_path, data)
    session = Session.model_validate(data)
    graph = compile_graph(session, path, options.block_size)
    try:
        with contextlib.ExitStack() as stack:
            meters = StemMeters(graph, session)
            taps = [meters]
            if stems_out:
                fmt = output_format(Path("x.wav"), "32f")
                taps.append(stack.enter_context(StemFiles(graph, session, tmp_path / "stems", fmt, SR)))
            result = render_graph(graph, tmp_path / "mix.wav", options, taps=taps)
    finally:
        graph.close()
    return meters, result


def lufs(audio: np.ndarray, rate: int = SR) -> float:
    """pyloudnorm's integrated loudness of ``(channels, n)`` audio."""
    return pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64))


def peak_db(audio: np.ndarray) -> float:
    return 20.0 * math.log10(float(np.max(np.abs(audio))))


def sine_file(path: Path, freq: float = 1000.0, level: float = 0.1, seconds: float = 6.0, rate: int = SR) -> Path:
    """The same sine in both channels."""
    t = np.arange(round(seconds * rate)) / rate
    x = (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return write_audio(path, np.stack([x, x]), rate, subtype="PCM_24" if path.suffix == ".flac" else "FLOAT")


def plain_band(tmp_path: Path) -> dict:
    """Three stems whose outputs numpy can compute: a mono stem with fader, a panned stereo stem, a muted one."""
    write_audio(tmp_path / "bass.wav", tone(55, 3.0, level=0.4))
    write_audio(tmp_path / "drums.wav", noise(2.5, channels=2, level=0.2))
    write_audio(tmp_path / "vox.wav", tone(440, 3.0, level=0.3))
    return {
        "stems": [
            {"name": "bass", "file": "bass.wav", "role": "bass", "gain_db": -3.0},
            {"name": "drums", "file": "drums.wav", "role": "drums", "pan": 0.5},
            {"name": "vox", "file": "vox.wav", "role": "lead_vocal", "mute": True},
        ]
    }


@pytest.mark.parametrize("block_size", [512, 65536])
def test_stem_table_matches_an_independent_measurement(tmp_path, block_size):
    meters, result = render_with_meters(tmp_path, plain_band(tmp_path), RenderOptions(block_size, tail_s=0.0))
    frames = result.frames
    assert frames == 3 * SR
    bass = tone(55, 3.0, level=0.4)[0] * 10 ** (-3 / 20) * math.sin(math.pi / 4)  # constant-power pan at centre
    drums = np.zeros((2, frames), np.float32)
    drums[:, : int(2.5 * SR)] = noise(2.5, channels=2, level=0.2) * np.array([[0.5], [1.0]])  # balance at +0.5
    expected = {"bass": np.stack([bass, bass]), "drums": drums}
    rows = {row.name: row for row in meters.rows()}
    assert [row.name for row in meters.rows()] == ["bass", "drums", "vox"]
    for name, audio in expected.items():
        assert not rows[name].muted
        assert rows[name].peak_dbfs == pytest.approx(peak_db(audio), abs=0.1)
        assert rows[name].loudness_lufs == pytest.approx(lufs(audio), abs=0.2)
    assert rows["bass"].role == "bass" and rows["drums"].role == "drums"
    vox = rows["vox"]
    assert vox.muted and vox.role == "lead_vocal" and vox.peak_dbfs is None and vox.loudness_lufs is None


@pytest.mark.parametrize("latent", [False, True])
def test_stem_and_bus_table_matches_the_stem_files_through_chains_and_sends(tmp_path, monkeypatch, latent):
    """Each row measures what --stems-out writes for that stem: after its chain, fader and pan, aligned.

    With ``latent``, every Gain becomes a plugin with latency (as in test_stem_files), so each stem is
    late by its own amount and the meters drop it as the stem files do.
    """
    if latent:
        build = stemhost.engine.plugins.build_plugin

        def latent_gain(effect, **kwargs):
            return (
                pedalboard.Resample(target_sample_rate=16000) if isinstance(effect, Gain) else build(effect, **kwargs)
            )

        monkeypatch.setattr(stemhost.engine.plugins, "build_plugin", latent_gain)
    write_audio(tmp_path / "gtr.wav", noise(2.0, channels=2, level=0.3, seed=4))
    write_audio(tmp_path / "keys.wav", tone(330, 2.5, level=0.5))
    data = {
        "stems": [
            {
                "name": "gtr",
                "file": "gtr.wav",
                "chain": [{"type": "Compressor", "threshold_db": -20, "ratio": 4}, {"type": "Gain", "gain_db": -1}],
            },
            {
                "name": "keys",
                "file": "keys.wav",
                "gain_db": 2.0,
                "chain": [{"type": "Reverb", "room_size": 0.7}],
                "sends": [{"bus": "hall"}],
            },
        ],
        "buses": [{"name": "hall", "chain": [{"type": "Reverb"}]}],
    }
    meters, _ = render_with_meters(tmp_path, data, RenderOptions(block_size=1024, tail_s=1.0), stems_out=True)
    assert [(row.name, row.kind) for row in meters.rows()] == [("gtr", "stem"), ("keys", "stem"), ("hall", "bus")]
    for row in meters.rows():  # a bus's row measures its file, bus-NAME.wav
        audio, _ = read_audio(tmp_path / "stems" / f"{'bus-' if row.kind == 'bus' else ''}{row.name}.wav")
        assert row.peak_dbfs == pytest.approx(peak_db(audio), abs=0.1)
        assert row.loudness_lufs == pytest.approx(lufs(audio), abs=0.2)
        same = LoudnessMeter(2, SR)  # the meters saw exactly the stem file's frames, aligned as it is
        same.add(audio)
        assert (row.peak_dbfs, row.loudness_lufs) == pytest.approx((same.peak_dbfs, same.integrated_lufs), abs=1e-9)


def test_soloing_one_stem_shows_the_others_as_muted(tmp_path):
    data = plain_band(tmp_path)
    data["stems"][0]["solo"] = True
    meters, _ = render_with_meters(tmp_path, data)
    assert [(row.name, row.muted) for row in meters.rows()] == [("bass", False), ("drums", True), ("vox", True)]


@pytest.mark.parametrize("rate", [44100, 48000])
@pytest.mark.parametrize("ext", [".wav", ".flac", ".mp3"])
def test_a_steady_sine_at_minus_20_dbfs_reads_minus_20_lufs(tmp_path, rate, ext):
    path = sine_file(tmp_path / f"sine{ext}", rate=rate)
    analysis = analyse_output(path)
    assert analysis.sample_rate == rate and analysis.duration_s == pytest.approx(6.0, abs=1e-3)
    assert analysis.short_term_lufs.size == 60  # one reading every 100 ms
    np.testing.assert_allclose(analysis.short_term_s[:3], [0.1, 0.2, 0.3], rtol=1e-3)
    steady = analysis.short_term_lufs[analysis.short_term_s >= 3.0]  # once the 3 s window is full of sine
    np.testing.assert_allclose(steady, -20.0, atol=0.1)
    assert analysis.integrated_lufs == pytest.approx(-20.0, abs=0.1)
    assert analysis.true_peak_dbtp == pytest.approx(-20.0, abs=0.3)
    assert analysis.envelope_max.size <= 2000
    np.testing.assert_allclose(analysis.envelope_max.max(), 0.1, atol=0.003)
    np.testing.assert_allclose(analysis.envelope_min.min(), -0.1, atol=0.003)


def test_the_envelope_holds_each_columns_min_and_max(tmp_path):
    x = noise(3.3, channels=2, level=0.2, seed=7)
    x[1, SR : SR + 100] = 0.9  # a spike in one channel
    analysis = analyse_output(write_audio(tmp_path / "n.wav", x))
    width = math.ceil(x.shape[1] / 2000)
    assert analysis.column_s == pytest.approx(width / SR)
    columns = [x[:, i : i + width] for i in range(0, x.shape[1], width)]
    np.testing.assert_array_equal(analysis.envelope_max, [c.max() for c in columns])
    np.testing.assert_array_equal(analysis.envelope_min, [c.min() for c in columns])


def test_the_spectrum_shows_each_tone_at_its_level(tmp_path):
    t = np.arange(4 * SR) / SR
    x = (10 ** (-10 / 20) * np.sin(2 * np.pi * 120 * t) + 10 ** (-30 / 20) * np.sin(2 * np.pi * 5000 * t)).astype(
        np.float32
    )
    analysis = analyse_output(write_audio(tmp_path / "two.wav", np.stack([x, x])))
    bin_hz = SR / FFT_SIZE
    for freq, level in [(120.0, -10.0), (5000.0, -30.0)]:
        near = np.abs(analysis.spectrum_hz - freq) < 3 * bin_hz
        top = np.argmax(np.where(near, analysis.spectrum_db, -np.inf))
        assert abs(analysis.spectrum_hz[top] - freq) <= bin_hz
        assert analysis.spectrum_db[top] == pytest.approx(level, abs=1.5)  # Hann scalloping is at most 1.42 dB
    between = (analysis.spectrum_hz > 500) & (analysis.spectrum_hz < 3000)
    assert analysis.spectrum_db[between].max() < -80.0


def test_html_report_is_one_self_contained_file(tmp_path):
    data = plain_band(tmp_path)
    data["stems"][1]["name"] = "kit<b>&co"  # names may hold markup characters: they are escaped
    meters, result = render_with_meters(tmp_path, data)
    report = tmp_path / "report.html"
    write_report(report, tmp_path / "mix.wav", meters, result.clips, -14.0, "Song <1>")
    page = report.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    sources = re.findall(r"""src=["']?([^"' >]*)""", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    image = base64.b64decode(sources[0].split(",", 1)[1])
    assert image.startswith(PNG_SIGNATURE)
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(io.BytesIO(image)).shape
    assert height > 500 and width > 800
    assert "kit&lt;b&gt;&amp;co" in page and "<b>" not in page and "Song &lt;1&gt;" in page
    for name in ("bass", "vox"):
        assert f"<td>{name}</td>" in page
    assert re.search(r"<td>vox</td><td>lead_vocal</td><td>muted</td>", page)
    assert "target: -14.0 LUFS" in page
    assert "clipped regions: 0" in page
    assert f"integrated {result.loudness_lufs:.1f} LUFS" in page
    assert "duration 0:03.000" in page
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_png_report_is_one_figure_with_the_table(tmp_path):
    meters, result = render_with_meters(tmp_path, plain_band(tmp_path))
    report = tmp_path / "report.PNG"
    write_report(report, tmp_path / "mix.wav", meters, result.clips, None, "song")
    assert report.read_bytes().startswith(PNG_SIGNATURE)
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(report).shape
    assert width == 1100 and 900 < height < 2000
    assert 20_000 < report.stat().st_size < 2_000_000


def clipping_session(tmp_path: Path) -> dict:
    """Three bursts that a +9 dB fader drives over 0 dBFS, 0.8 s apart, over a quiet bed that never clips."""
    bursts = np.zeros((1, 4 * SR), np.float32)
    for start in (0.5, 1.5, 2.5):
        bursts[:, int(start * SR) : int((start + 0.2) * SR)] = tone(200, 0.2, level=0.6)
    write_audio(tmp_path / "hits.wav", bursts)
    write_audio(tmp_path / "bed.wav", tone(100, 4.0, level=0.05))
    return {"stems": [{"name": "hits", "file": "hits.wav", "gain_db": 9.0}, {"name": "bed", "file": "bed.wav"}]}


def test_clipped_regions_are_counted_and_marked(tmp_path):
    meters, result = render_with_meters(
        tmp_path, clipping_session(tmp_path), RenderOptions(tail_s=0.0, bit_depth="32f")
    )
    regions = result.clips.regions
    assert len(regions) == 3
    for (start, end), burst in zip(regions, (0.5, 1.5, 2.5), strict=True):
        assert burst <= start < end <= burst + 0.2
    report = tmp_path / "r.html"
    write_report(report, tmp_path / "mix.wav", meters, result.clips, None, "hot")
    page = report.read_text(encoding="utf-8")
    assert re.search(r"clipped regions: 3, \d+ samples over 0 dBFS, mix peak \+\d\.\d dBFS", page)
    assert "target: none" in page
    figure = report_figure(analyse_output(tmp_path / "mix.wav"), result.clips, -14.0, None, None)
    waveform, loudness = figure.axes[:2]
    to_data = waveform.transData.inverted()  # each clipped region as a shaded span on the waveform
    spans = sorted((xs.min(), xs.max()) for xs in (to_data.transform(p.get_verts())[:, 0] for p in waveform.patches))
    np.testing.assert_allclose(spans, regions, atol=1e-6)
    assert -14.0 in [line.get_ydata()[0] for line in loudness.lines if len(set(line.get_ydata())) == 1]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("x.pdf", "--report 'x.pdf': unknown report format '.pdf'; use .html or .png"),
        ("report", "--report 'report': unknown report format '(no extension)'; use .html or .png"),
        ("missing/r.html", "--report 'missing/r.html': the folder 'missing' does not exist; create it first"),
        ("folder.html", "--report 'folder.html': that is a folder; give a file name such as 'folder.html/report.html'"),
    ],
)
def test_bad_report_paths_are_one_clear_error(tmp_path, monkeypatch, name, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder.html").mkdir()
    with pytest.raises(OutputError) as error:
        check_report_path(Path(name))
    assert str(error.value) == message


@pytest.mark.parametrize("ext", [".html", ".png"])
def test_a_failing_write_leaves_the_old_report_and_no_partial_file(tmp_path, monkeypatch, ext):
    from matplotlib.figure import Figure

    meters, _ = render_with_meters(tmp_path, plain_band(tmp_path))
    report = tmp_path / f"old{ext}"
    report.write_bytes(b"the previous report")
    before = sorted(p.name for p in tmp_path.iterdir())

    def full_disk(self, target, **kwargs):
        target.write(b"\x89PNG half a figure")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full_disk)
    with pytest.raises(OutputError, match=rf"--report '.*old\{ext}': .*No space left on device"):
        write_report(report, tmp_path / "mix.wav", meters, Clipping(), -14.0, "song")
    assert report.read_bytes() == b"the previous report"
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize("name", ["report.html", "report.png"])
def test_render_report_from_the_command_line(tmp_path, capsys, name):
    write_audio(tmp_path / "a.wav", tone(440, 4.0, channels=2, level=0.3))
    path = write_session(tmp_path, {"title": "Demo", "stems": [{"name": "a", "file": "a.wav", "role": "keys"}]})
    argv = [
        "render",
        str(path),
        "-o",
        str(tmp_path / "mix.wav"),
        "--master",
        "streaming",
        "--report",
        str(tmp_path / name),
    ]
    assert main(argv) == 0
    assert f"wrote {tmp_path / name}" in capsys.readouterr().out
    data = (tmp_path / name).read_bytes()
    if name.endswith(".png"):
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        page = data.decode()
        assert "target: -14.0 LUFS" in page and "<td>a</td>" in page and "data:image/png;base64," in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-o", "mix.wav", "--report", "r.pdf"],
            "error: --report 'r.pdf': unknown report format '.pdf'; use .html or .png",
        ),
        (["--stems-out", "s", "--report", "r.html"], "error: render: --report describes the -o file; add -o FILE"),
    ],
)
def test_bad_report_requests_fail_before_rendering(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    write_audio(tmp_path / "a.wav", tone(440, 1.0))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    assert main(["render", str(path), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "session.json"]
