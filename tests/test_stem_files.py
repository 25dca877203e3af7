"""--stems-out: every stem as processed and every bus, aligned with the master, summing to the pre-master mix."""

from __future__ import annotations

import json

import numpy as np
import pedalboard
import pytest

import stemhost.engine.plugins
from stemhost.cli.main import main
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.effects import Gain
from stemhost.session.model import Session

from conftest import noise, read_audio, tone, write_audio, write_session

SR = 48000


def band(tmp_path, master: dict, drums_output: str = "master") -> dict:
    """Four stems (mono, stereo, one at 44.1 kHz), a reverb send, an echo send into the reverb, a master chain."""
    write_audio(tmp_path / "drums.wav", noise(3.0, channels=2, level=0.2))
    write_audio(tmp_path / "bass.wav", tone(55, 2.5, level=0.4))
    write_audio(tmp_path / "keys.wav", tone(330, 2.0, sample_rate=44100, channels=2), sample_rate=44100)
    write_audio(tmp_path / "vox.wav", tone(440, 2.8, level=0.3))
    return {
        "stems": [
            {"name": "drums", "file": "drums.wav", "output": drums_output, "gain_db": -2.0, "pan": 0.3},
            {"name": "bass", "file": "bass.wav", "chain": [{"type": "Compressor", "threshold_db": -20, "ratio": 4}]},
            {"name": "keys", "file": "keys.wav", "pan": -0.5, "sends": [{"bus": "hall", "level_db": -6}]},
            {
                "name": "vox",
                "file": "vox.wav",
                "chain": [{"type": "Gain", "gain_db": 0}],
                "sends": [{"bus": "hall", "level_db": -3}, {"bus": "echo", "level_db": -9}],
            },
        ],
        "buses": [
            {"name": "hall", "chain": [{"type": "Reverb", "room_size": 0.8}]},
            {"name": "echo", "chain": [{"type": "Delay", "delay_seconds": 0.25, "feedback": 0.3}], "output": "hall"},
            {"name": "kit", "chain": [{"type": "Gain", "gain_db": 1.5}], "gain_db": -1.0},
        ],
        "master": master,
    }


def render_pair(tmp_path, data: dict, options: RenderOptions) -> tuple[np.ndarray, np.ndarray, dict]:
    """The files that sum to the pre-master mix, summed; the pre-master mix rendered alone (same tail); stems.json."""
    path = write_session(tmp_path, data)
    render_session(Session.model_validate(data), path, tmp_path / "mix.wav", options, stems_out=tmp_path / "stems")
    plain = {**data, "master": {}}  # no master chain, no master fader: the master's output is its input
    render_session(Session.model_validate(plain), path, tmp_path / "premaster.wav", options)
    listing = json.loads((tmp_path / "stems" / "stems.json").read_text())
    master, _ = read_audio(tmp_path / "mix.wav")
    parts = [read_audio(tmp_path / "stems" / f["file"])[0] for f in listing["files"]]
    assert {p.shape for p in parts} == {master.shape}, "every file holds as many frames as the master"
    total = sum(p for p, f in zip(parts, listing["files"], strict=True) if f["sums_to_premaster"])
    return total, read_audio(tmp_path / "premaster.wav")[0], listing


MASTER = {"gain_db": -3.0, "chain": [{"type": "Compressor", "threshold_db": -18, "ratio": 3}, {"type": "Limiter"}]}


@pytest.mark.parametrize("block_size", [512, 65536])
def test_stem_and_bus_files_sum_to_the_premaster_mix(tmp_path, block_size):
    data = band(tmp_path, MASTER)
    total, premaster, listing = render_pair(
        tmp_path, data, RenderOptions(block_size=block_size, bit_depth="32f", tail_s=2.0)
    )
    np.testing.assert_allclose(total, premaster, atol=1e-5)
    files = {f["file"] for f in listing["files"]}
    assert files == {"drums.wav", "bass.wav", "keys.wav", "vox.wav", "bus-hall.wav", "bus-echo.wav", "bus-kit.wav"}
    hall, _ = read_audio(tmp_path / "stems" / "bus-hall.wav")
    assert np.max(np.abs(hall[:, -SR // 2 :])) > 1e-4  # the reverb tail is in the bus file, after the stems end


def test_a_stem_in_a_group_bus_is_in_the_bus_file_not_in_the_sum(tmp_path):
    data = band(tmp_path, MASTER, drums_output="kit")
    total, premaster, listing = render_pair(tmp_path, data, RenderOptions(bit_depth="32f", tail_s=2.0))
    np.testing.assert_allclose(total, premaster, atol=1e-5)
    drums = next(f for f in listing["files"] if f["name"] == "drums")
    assert drums["output"] == "kit" and not drums["sums_to_premaster"]


def test_latent_chains_stay_aligned_in_the_stem_files(tmp_path, monkeypatch):
    """Every Gain here becomes a latent plugin: each file drops its own latency and lines up with the others."""
    build = stemhost.engine.plugins.build_plugin

    def latent_gain(effect, **kwargs):
        return pedalboard.Resample(target_sample_rate=16000) if isinstance(effect, Gain) else build(effect, **kwargs)

    monkeypatch.setattr(stemhost.engine.plugins, "build_plugin", latent_gain)
    data = band(tmp_path, MASTER, drums_output="kit")
    total, premaster, _ = render_pair(tmp_path, data, RenderOptions(block_size=1024, bit_depth="32f", tail_s=2.0))
    np.testing.assert_allclose(total, premaster, atol=1e-5)


def test_stems_follow_the_output_rate_and_format(tmp_path):
    data = band(tmp_path, MASTER)
    path = write_session(tmp_path, data)
    options = RenderOptions(sample_rate=44100)
    render_session(Session.model_validate(data), path, tmp_path / "mix.flac", options, stems_out=tmp_path / "s")
    master, rate = read_audio(tmp_path / "mix.flac")
    drums, drums_rate = read_audio(tmp_path / "s" / "drums.flac")
    assert rate == drums_rate == 44100 and drums.shape == master.shape


def test_stems_of_a_mastered_render_are_premaster_and_muted_stems_are_left_out(tmp_path, capsys):
    data = band(tmp_path, {"loudness": {"target_lufs": -14, "true_peak_dbtp": -1}})
    path = write_session(tmp_path, data)
    out = tmp_path / "mix.mp3"
    argv = ["render", str(path), "-o", str(out), "--stems-out", str(tmp_path / "s"), "--mute", "vox"]
    assert main(argv) == 0
    listing = json.loads((tmp_path / "s" / "stems.json").read_text())
    assert listing["muted"] == ["vox"] and "vox.wav" not in {f["file"] for f in listing["files"]}
    assert read_audio(tmp_path / "s" / "bass.wav")[0].shape[1] == read_audio(out)[0].shape[1]
    assert "wrote the stems and buses into" in capsys.readouterr().out


def test_stems_only_render_writes_no_master(tmp_path, capsys):
    path = write_session(tmp_path, band(tmp_path, {}))
    assert main(["render", str(path), "--stems-out", str(tmp_path / "new" / "stems")]) == 0
    assert (tmp_path / "new" / "stems" / "vox.wav").is_file()
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["bass.wav", "drums.wav", "keys.wav", "vox.wav"]


def test_render_needs_an_output_file_or_a_stems_folder(tmp_path, capsys):
    path = write_session(tmp_path, band(tmp_path, {}))
    with pytest.raises(SystemExit) as exit_info:
        main(["render", str(path)])
    assert exit_info.value.code == 2 and "error: give -o FILE, --stems-out DIR, or both" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stems-out", "S", "--loudness", "-14"], "error: render: a loudness target masters the -o file"),
        (["--stems-out", "session.json"], "error: --stems-out 'session.json': that is a file; give a folder"),
    ],
)
def test_bad_stems_out_requests_are_one_clear_error(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    path = write_session(tmp_path, band(tmp_path, {}))
    assert main(["render", str(path), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
    assert not (tmp_path / "S").exists()
