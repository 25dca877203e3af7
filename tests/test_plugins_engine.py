"""Third-party VST3 plugins in chains, with Debian's zam-plugins: exact values, latency, block sizes, state, bypass."""

from __future__ import annotations

import base64
import math
import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from stemhost.engine.plugin_folders import plugin_folders
from stemhost.engine.plugin_load import load_third_party
from stemhost.engine.plugin_params import ParameterInfo
from stemhost.engine.plugin_values import set_number
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.effects import VST3Plugin
from stemhost.session.model import Session

from conftest import noise, read_audio, tone, write_audio, write_session

SYSTEM_VST3 = Path("/usr/lib/vst3")
pytestmark = pytest.mark.skipif(
    not (SYSTEM_VST3 / "ZamEQ2.vst3").is_dir(),
    reason="Debian's zam-plugins are not installed (/usr/lib/vst3/ZamEQ2.vst3; scripts/install adds them)",
)
SR = 48000
CENTRE = math.sqrt(0.5)
FOLDERS = (SYSTEM_VST3,)
MAXIMISER_LATENCY = 480  # frames ZaMaximX2 reports


def plugin(name: str, **fields) -> dict:
    return {"type": "VST3Plugin", "path_to_plugin_file": f"{name}.vst3", **fields}


def render(folder: Path, data: dict, block_size: int = 4096, out: str = "out.wav") -> tuple[np.ndarray, int]:
    """Render a session dict (plugins from /usr/lib/vst3 only) to float WAV; returns ((2, frames), latency)."""
    path = write_session(folder, data)
    options = RenderOptions(bit_depth="32f", tail_s=0.0, block_size=block_size, plugin_folders=FOLDERS)
    result = render_session(Session.model_validate(data), path, folder / out, options)
    audio, _ = read_audio(folder / out)
    return audio, result.latency


def rms_db(x: np.ndarray) -> float:
    return 10 * math.log10(float(np.mean(np.square(x, dtype=np.float64))))


def test_master_gain_is_set_exactly_not_snapped(tmp_path):
    """ZamEQ2's master_gain_db −6.0 (bands flat): the sine comes out 6.000 dB down, within 0.001 dB."""
    write_audio(tmp_path / "a.wav", tone(1000, 1.0, level=0.5))
    dry, _ = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, out="dry.wav")
    eq = plugin("ZamEQ2", parameter_values={"master_gain_db": -6.0})
    wet, latency = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [eq]}]})
    assert latency == 0
    gain = rms_db(wet[:, SR // 4 :]) - rms_db(dry[:, SR // 4 :])
    assert abs(gain - -6.0) < 0.001, gain
    loaded = load_third_party(VST3Plugin.model_validate(eq), FOLDERS, "test")
    assert float(loaded.master_gain_db) == -6.0


def test_a_non_linear_parameter_is_found_by_bisection():
    """A parameter whose reported value is not linear in its raw value still lands on the value asked for."""

    class Parameter:
        raw_value = 0.5

    class Plugin:  # reports 20 Hz · 1000^raw: a log-frequency knob
        parameters = {"freq_hz": Parameter()}

        @property
        def freq_hz(self) -> float:
            return 20.0 * 1000.0 ** self.parameters["freq_hz"].raw_value

    info = ParameterInfo("freq_hz", "Freq", "Hz", 20.0, 20000.0, 632.0, "number")
    assert set_number(Plugin(), "freq_hz", 1000.0, info) == pytest.approx(1000.0, rel=1e-6)


def test_a_mono_plugin_on_a_stereo_stem_runs_as_dual_mono(tmp_path):
    """Each side through its own instance: both 6 dB down, no crosstalk (left 1 kHz, right 1.5 kHz)."""
    x = tone(1000, 1.0, channels=2, level=0.5)
    write_audio(tmp_path / "a.wav", x)
    eq = plugin("ZamEQ2", parameter_values={"master_gain_db": -6.0})
    wet, _ = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [eq]}]})
    np.testing.assert_allclose(wet[:, SR // 4 :], x[:, SR // 4 :] * 10 ** (-6 / 20), atol=1e-6)


def test_a_stereo_plugin_on_a_mono_stem_gets_the_mono_signal_on_both_sides(tmp_path):
    x = np.zeros((1, SR), np.float32)
    x[0, 2000] = 0.25
    write_audio(tmp_path / "a.wav", x)
    out, latency = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [plugin("ZaMaximX2")]}]})
    assert latency == MAXIMISER_LATENCY
    assert np.argmax(np.abs(out[0])) == np.argmax(np.abs(out[1])) == 2000
    np.testing.assert_allclose(out[0], out[1], atol=1e-7)


@pytest.mark.parametrize("block_size", [64, 4096])
def test_a_latent_plugin_on_one_stem_lands_every_stem_on_its_source_frame(tmp_path, block_size):
    """ZaMaximX2 (480 frames late) on b: the graph delays a and the bus to match, the render drops it."""
    a, b = np.zeros((1, SR), np.float32), np.zeros((1, SR), np.float32)
    a[0, 1000], b[0, 5000] = 0.25, 0.25
    write_audio(tmp_path / "a.wav", a)
    write_audio(tmp_path / "b.wav", b)
    data = {
        "stems": [
            {"name": "a", "file": "a.wav", "output": "drums"},
            {"name": "b", "file": "b.wav", "chain": [plugin("ZaMaximX2")]},
        ],
        "buses": [{"name": "drums"}],
    }
    out, latency = render(tmp_path, data, block_size)
    assert latency == MAXIMISER_LATENCY
    peaks = sorted(np.argsort(np.abs(out[0]))[-2:])
    assert peaks == [1000, 5000]
    assert out[0, 1000] == pytest.approx(0.25 * CENTRE, abs=1e-6)


@pytest.mark.slow
def test_the_render_does_not_depend_on_the_block_size(tmp_path):
    """ZamComp, ZamEQ2 and ZaMaximX2 on noise: block sizes 64, 4096 and 65536 agree within 1e-6."""
    write_audio(tmp_path / "a.wav", noise(2.0, channels=2, level=0.3))
    write_audio(tmp_path / "b.wav", noise(2.0, level=0.2, seed=2))
    comp = plugin("ZamComp", parameter_values={"threshold_db": -30.0, "ratio": 6.0})
    eq = plugin("ZamEQ2", parameter_values={"boost_cut_1_db": 6.0, "frequency_1_hz": 1000.0})
    data = {
        "stems": [
            {"name": "a", "file": "a.wav", "chain": [comp, {"type": "Gain", "gain_db": -2}, eq]},
            {"name": "b", "file": "b.wav", "chain": [eq]},
        ],
        "master": {"chain": [plugin("ZaMaximX2", parameter_values={"threshold_db": -6.0})]},
    }
    renders = [render(tmp_path, data, size, f"out{size}.wav")[0] for size in (64, 4096, 65536)]
    for other in renders[1:]:
        np.testing.assert_allclose(other, renders[0], atol=1e-6)


def test_a_raw_state_round_trip_reproduces_the_sound(tmp_path):
    write_audio(tmp_path / "a.wav", noise(1.0, level=0.3))
    values = {"threshold_db": -30.0, "ratio": 8.0, "makeup_db": 3.0}
    by_values, _ = render(
        tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [plugin("ZamComp", parameter_values=values)]}]}
    )
    loaded = load_third_party(VST3Plugin.model_validate(plugin("ZamComp", parameter_values=values)), FOLDERS, "t")
    loaded.process(np.zeros((1, 512), np.float32), SR, buffer_size=512, reset=False)  # state reads after a block
    state = base64.b64encode(loaded.raw_state).decode()
    chain = [plugin("ZamComp", raw_state=state)]
    by_state, _ = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": chain}]}, out="state.wav")
    np.testing.assert_allclose(by_state, by_values, atol=1e-6)
    plain, _ = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, out="plain.wav")
    assert np.max(np.abs(plain - by_values)) > 0.01  # the state did something


def test_a_bypassed_plugin_passes_its_input_delayed_by_its_latency(tmp_path):
    """Bypassed, ZaMaximX2 still delays by 480 frames inside the graph, so the render is the dry mix exactly."""
    a, b = noise(1.0, level=0.5), noise(1.0, level=0.5, seed=3)
    write_audio(tmp_path / "a.wav", a)
    write_audio(tmp_path / "b.wav", b)
    maximiser = plugin("ZaMaximX2", bypass=True, parameter_values={"threshold_db": -20.0})
    data = {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "b.wav", "chain": [maximiser]}]}
    out, latency = render(tmp_path, data)
    assert latency == MAXIMISER_LATENCY
    np.testing.assert_allclose(out, np.vstack([a + b, a + b]) * CENTRE, atol=1e-6)
    data["stems"][1]["chain"][0]["bypass"] = False
    limited, latency = render(tmp_path, data, out="on.wav")
    assert latency == MAXIMISER_LATENCY and np.max(np.abs(limited - out)) > 0.01


def test_plugin_folders_reach_the_graph_explicitly(tmp_path, monkeypatch):
    """A folder given in the options is searched; the environment is not read when folders are given."""
    monkeypatch.setenv("STEMHOST_PLUGIN_PATH", str(tmp_path / "elsewhere"))
    assert tmp_path / "elsewhere" in plugin_folders()
    write_audio(tmp_path / "a.wav", tone(440, 0.2))
    out, _ = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [plugin("ZamEQ2")]}]})
    assert out.shape == (2, round(0.2 * SR))


def test_batch_jobs_carry_the_plugin_folders_to_their_worker(tmp_path):
    """A job pickled for a Dask worker renders with the folders it was planned with; a worker whose folders
    lack the plugin fails that job alone, saying which plugin and how to allow its folder."""
    from stemhost.packs.catalog import plan_catalog, run_job
    from stemhost.session.files import load_session

    song = tmp_path / "songs" / "one"
    song.mkdir(parents=True)
    write_audio(song / "a.wav", tone(440, 0.3))
    write_session(song, {"stems": [{"name": "a", "file": "a.wav", "chain": [plugin("ZamEQ2")]}]})
    options = RenderOptions(bit_depth="24", tail_s=0.0, plugin_folders=FOLDERS)
    plan = plan_catalog(tmp_path / "songs", tmp_path / "out", "full", ".wav", options, load_session)
    job = pickle.loads(pickle.dumps(plan.jobs[0]))  # as Dask ships it
    assert job.options.plugin_folders == FOLDERS
    assert run_job(job).status == "done"
    elsewhere = replace(job, options=replace(job.options, plugin_folders=(tmp_path / "empty",)), force=True)
    failed = run_job(elsewhere)
    assert failed.status == "failed"
    assert "stems[0].chain[0].path_to_plugin_file: no plugin folder holds 'ZamEQ2.vst3'" in failed.error
    assert "--plugin-path DIR" in failed.error
