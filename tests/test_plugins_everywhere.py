"""Plugins everywhere a session goes: presets by role, export packs, --stems-out (aligned), validate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stemhost.cli.main import main

from conftest import read_audio, write_audio, write_session

SR = 48000
GAIN = {"type": "VST3Plugin", "path_to_plugin_file": "StemhostGain.vst3", "parameter_values": {"gain_db": -6.0}}
LATENT = {"type": "VST3Plugin", "path_to_plugin_file": "StemhostLatency.vst3"}


@pytest.fixture
def song(tmp_path):
    """Two stems, each an impulse at its own frame, so alignment is exact to the frame."""
    for name, at in (("keys", 1000), ("bass", 3000)):
        audio = np.zeros((2, SR), np.float32)
        audio[:, at] = 0.5
        write_audio(tmp_path / f"{name}.wav", audio)
    stems = [{"name": "keys", "file": "keys.wav", "role": "keys"}, {"name": "bass", "file": "bass.wav", "role": "bass"}]
    return write_session(tmp_path, {"stems": stems})


def plugin_args(folder) -> list[str]:
    return ["--plugin-path", str(folder), "--bit-depth", "32f", "--tail", "0"]


def test_a_preset_carries_a_plugin_chain_by_role(song, tmp_path, test_plugin_folder):
    preset = tmp_path / "vocal-chain.json"
    preset.write_text(json.dumps({"description": "gain on keys", "stems": [{"role": "keys", "chain": [GAIN, LATENT]}]}))
    out = tmp_path / "out.wav"
    assert main(["render", str(song), "--preset", str(preset), "-o", str(out), *plugin_args(test_plugin_folder)]) == 0
    audio, _ = read_audio(out)
    assert np.flatnonzero(audio[0])[:2].tolist() == [1000, 3000]  # both on their frames despite 1000 frames of latency
    assert audio[0, 1000] == pytest.approx(0.5 * 10 ** (-6 / 20), abs=1e-6) and audio[0, 3000] == pytest.approx(0.5)


def test_stems_out_with_a_latent_plugin_lines_every_file_up(song, tmp_path, test_plugin_folder):
    data = json.loads(song.read_text())
    data["stems"][0]["chain"] = [LATENT]
    song.write_text(json.dumps(data))
    folder = tmp_path / "stems"
    assert main(["render", str(song), "--stems-out", str(folder), *plugin_args(test_plugin_folder)]) == 0
    keys, _ = read_audio(folder / "keys.wav")
    bass, _ = read_audio(folder / "bass.wav")
    assert np.flatnonzero(np.abs(keys[0]) > 0.1).tolist() == [1000] and np.flatnonzero(
        np.abs(bass[0]) > 0.1
    ).tolist() == [3000]
    assert keys.shape == bass.shape


def test_export_renders_each_variant_through_the_plugins(song, tmp_path, test_plugin_folder):
    data = json.loads(song.read_text())
    data["stems"][1]["chain"] = [GAIN]
    song.write_text(json.dumps(data))
    pack = tmp_path / "pack"
    args = ["export", str(song), "--variants", "full,solo:bass", "-o", str(pack), "--format", "wav"]
    assert main([*args, "--plugin-path", str(test_plugin_folder), "--bit-depth", "32f"]) == 0
    solo = next(pack.glob("*solo-bass*.wav"))
    audio, _ = read_audio(solo)
    assert np.max(np.abs(audio)) == pytest.approx(0.5 * 10 ** (-6 / 20), abs=1e-6)


def test_without_the_plugin_folder_a_render_is_one_error_naming_the_fix(song, tmp_path, capsys):
    data = json.loads(song.read_text())
    data["stems"][0]["chain"] = [GAIN]
    song.write_text(json.dumps(data))
    assert main(["render", str(song), "-o", str(tmp_path / "o.wav")]) == 1
    err = capsys.readouterr().err
    assert "no plugin folder holds 'StemhostGain.vst3'" in err and "--plugin-path DIR" in err and err.count("\n") == 1
