"""Mastered renders: loudness targets and the true-peak ceiling, checked with ffmpeg's ebur128 meter."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import stemhost.render.limiter
from stemhost.cli.main import main
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.model import Session

from conftest import noise, read_audio, write_audio, write_session

SR = 48000
pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg (scripts/install installs it)")


def ffmpeg_meter(path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) by ffmpeg's ebur128 filter."""
    done = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-nostats",
            "-i",
            str(path),
            "-af",
            "ebur128=peak=true",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    summary = done.stderr[done.stderr.rindex("Summary:") :]
    lufs = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))
    return lufs, peak


def music(seconds: float, level: float, channels: int, seed: int) -> np.ndarray:
    """Loud beats over a quieter bed, with sharp transients: something a limiter has to work on."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SR)) / SR
    bed = 0.3 * np.sin(2 * np.pi * 110 * t) + 0.1 * rng.standard_normal(t.size)
    hits = np.zeros_like(t)
    for start in range(0, t.size, SR // 2):
        n = min(2400, t.size - start)
        hits[start : start + n] = rng.standard_normal(n) * np.exp(-np.arange(n) / 300)
    x = level * (bed + hits)
    rows = [x if c == 0 else np.roll(x, 37) for c in range(channels)]
    return np.asarray(rows, dtype=np.float32)


@pytest.mark.parametrize(
    ("level", "channels", "target", "ceiling", "out"),
    [
        (0.02, 2, -14.0, -1.0, "quiet.wav"),
        (0.6, 2, -9.0, -0.3, "loud.flac"),
        (0.1, 1, -23.0, -1.0, "mono.wav"),
        (0.3, 2, -16.0, -1.5, "apple.aiff"),
        (0.6, 2, -9.0, -0.3, "loud.mp3"),  # the encoders overshoot a limited master: decoded and corrected
        (0.6, 2, -9.0, -0.3, "loud.ogg"),
        (0.1, 2, -14.0, -1.0, "quiet.ogg"),
    ],
)
def test_mastered_render_meets_the_target_by_ffmpegs_meter(tmp_path, level, channels, target, ceiling, out):
    write_audio(tmp_path / "a.wav", music(12.0, level, channels, seed=channels))
    data = {
        "stems": [{"name": "a", "file": "a.wav"}],
        "master": {"loudness": {"target_lufs": target, "true_peak_dbtp": ceiling}},
    }
    path = write_session(tmp_path, data)
    result = render_session(Session.model_validate(data), path, tmp_path / out, RenderOptions(tail_s=0))
    lufs, peak = ffmpeg_meter(tmp_path / out)
    assert abs(lufs - target) <= 0.5, f"{lufs} LUFS for a {target} target"
    assert peak <= ceiling + 0.1, f"true peak {peak} dBTP over a {ceiling} ceiling"
    assert abs(result.loudness_lufs - lufs) <= 0.2 and result.true_peak_dbtp <= ceiling + 0.1


def test_intersample_peaks_are_held_under_the_ceiling(tmp_path):
    t = np.arange(8 * SR)
    x = (0.7 * np.sin(np.pi / 2 * t + np.pi / 4)).astype(np.float32)  # samples at ±0.495, true peak 0.7
    write_audio(tmp_path / "a.wav", np.vstack([x, x]))
    assert 20 * np.log10(np.max(np.abs(x))) < -6.0  # the samples alone look 3 dB lower than the wave
    data = {
        "stems": [{"name": "a", "file": "a.wav"}],
        "master": {"loudness": {"target_lufs": -5.0, "true_peak_dbtp": -1.0}},
    }
    path = write_session(tmp_path, data)
    render_session(Session.model_validate(data), path, tmp_path / "o.wav", RenderOptions(tail_s=0, bit_depth="32f"))
    _, peak = ffmpeg_meter(tmp_path / "o.wav")
    assert peak <= -0.9


def test_limiting_does_not_depend_on_the_block_size(tmp_path, monkeypatch):
    write_audio(tmp_path / "a.wav", music(6.0, 0.8, 2, seed=5))
    data = {
        "stems": [{"name": "a", "file": "a.wav"}],
        "master": {"loudness": {"target_lufs": -8.0, "true_peak_dbtp": -1.0}},
    }
    path = write_session(tmp_path, data)
    outs = []
    for block in (65536, 7777):
        monkeypatch.setattr(stemhost.render.limiter, "BLOCK", block)
        render_session(
            Session.model_validate(data), path, tmp_path / f"{block}.wav", RenderOptions(tail_s=0, bit_depth="32f")
        )
        outs.append(read_audio(tmp_path / f"{block}.wav")[0])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-6)


@pytest.mark.parametrize("name", ["streaming", "apple", "broadcast", "podcast", "club"])
def test_mastering_presets_are_bundled(name, tmp_path, capsys):
    write_audio(tmp_path / "a.wav", noise(3.0, channels=2, level=0.05))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    assert main(["render", str(path), "--master", name, "-o", str(tmp_path / "o.wav")]) == 0
    expected = {"streaming": -14, "apple": -16, "broadcast": -23, "podcast": -16, "club": -9}[name]
    assert abs(ffmpeg_meter(tmp_path / "o.wav")[0] - expected) <= 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--loudness", "-50"], "error: --loudness -50: loudness.target_lufs: -50.0 is out of range"),
        (["--loudness", "-4"], "error: --loudness -4: loudness.target_lufs: -4.0 is out of range"),
        (
            ["--loudness", "-14", "--true-peak", "0.5"],
            "error: --loudness -14 --true-peak 0.5: loudness.true_peak_dbtp: 0.5",
        ),
        (["--true-peak", "-1"], "error: --true-peak -1: a ceiling needs a loudness target"),
    ],
)
def test_bad_loudness_settings_are_one_clear_error(tmp_path, capsys, args, message):
    write_audio(tmp_path / "a.wav", noise(0.5, channels=2))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    assert main(["render", str(path), "-o", str(tmp_path / "o.wav"), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "o.wav").exists()


def unreachable_song(tmp_path):
    """Music whose true peaks sit 15 dB or more above its loudness: a -20 dBTP ceiling holds it far under -5 LUFS."""
    write_audio(tmp_path / "a.wav", music(4.0, 0.6, 2, seed=3))
    return write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})


def test_an_unreachable_target_warns_with_the_loudness_reached_and_why(tmp_path, capsys):
    output = tmp_path / "o.wav"

    assert (
        main(["render", str(unreachable_song(tmp_path)), "-o", str(output), "--loudness", "-5", "--true-peak", "-20"])
        == 0
    )

    err = capsys.readouterr().err
    found = re.search(
        r"^warning: -o '.*o\.wav': master\.loudness: the true-peak ceiling of -20 dBTP holds the mix at "
        r"(-[\d.]+) LUFS, ([\d.]+) LU under the -5 LUFS target; lower the target \(--loudness\) or raise the ceiling "
        r"\(--true-peak\) \(--strict makes this an error\)$",
        err,
        re.MULTILINE,
    )
    assert found, err
    lufs, peak = ffmpeg_meter(output)
    assert abs(float(found[1]) - lufs) <= 0.2 and float(found[2]) == pytest.approx(-5 - float(found[1]), abs=0.11)
    assert lufs < -5.5 and peak <= -19.9


def test_strict_refuses_an_unreachable_target_and_leaves_the_output_as_it_was(tmp_path, capsys):
    output = tmp_path / "o.wav"
    output.write_bytes(b"an earlier render")
    session = unreachable_song(tmp_path)

    status = main(["render", str(session), "-o", str(output), "--loudness", "-5", "--true-peak", "-20", "--strict"])

    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1, err
    assert re.match(
        r"error: -o '.*o\.wav': master\.loudness: the true-peak ceiling of -20 dBTP holds the mix at -[\d.]+ LUFS, "
        r"[\d.]+ LU under the -5 LUFS target; .*leave out --strict",
        err,
    ), err
    assert output.read_bytes() == b"an earlier render"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wav", "o.wav", "session.json"]  # no temporary left


def test_strict_passes_a_target_that_is_met(tmp_path, capsys):
    write_audio(tmp_path / "a.wav", music(4.0, 0.1, 2, seed=4))
    session = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    output = tmp_path / "o.wav"

    assert main(["render", str(session), "-o", str(output), "--loudness", "-16", "--strict"]) == 0
    assert capsys.readouterr().err == ""
    assert abs(ffmpeg_meter(output)[0] + 16) <= 0.5
