"""stemhost's own test plugins do what the plugin tests rely on, checked with pedalboard directly.

Hosting them runs native code in this process; StemhostAbort and StemhostHang are never loaded here
(tests/test_plugins_scan.py loads them only in the scanner's subprocesses).
"""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest

from conftest import noise

RATE = 48000


def load(folder, name):
    return pedalboard.load_plugin(str(folder / f"{name}.vst3"))


def test_the_five_bundles_are_built(test_plugin_folder):
    names = sorted(p.name for p in test_plugin_folder.glob("*.vst3"))
    assert names == [f"Stemhost{n}.vst3" for n in ("Abort", "Gain", "Hang", "Latency", "Mono")]


@pytest.mark.parametrize("gain_db", [-24.0, -6.0, 0.0, 7.25, 24.0])
def test_gain_plugin_applies_its_gain_exactly(test_plugin_folder, gain_db):
    plugin = load(test_plugin_folder, "StemhostGain")
    assert list(plugin.parameters) == ["gain_db"]
    parameter = plugin.parameters["gain_db"]
    assert parameter.range[:2] == (-24.0, 24.0) and parameter.label == "dB"
    assert plugin.gain_db == pytest.approx(-6.0)  # the default
    parameter.raw_value = (gain_db + 24) / 48
    audio = noise(0.5, RATE, channels=2)
    out = plugin.process(audio, RATE)
    measured = 20 * np.log10(np.sqrt(np.mean(out**2)) / np.sqrt(np.mean(audio**2)))
    assert measured == pytest.approx(gain_db, abs=0.001)
    np.testing.assert_allclose(out, audio * 10 ** (gain_db / 20), rtol=1e-5, atol=1e-7)


def test_latency_plugin_reports_and_delays_1000_frames(test_plugin_folder):
    plugin = load(test_plugin_folder, "StemhostLatency")
    assert plugin.reported_latency_samples == 1000
    impulse = np.zeros((2, RATE), dtype=np.float32)
    impulse[:, 100] = 1.0
    # pedalboard compensates the reported latency: the impulse stays where it was only if the delay is exact
    out = plugin.process(impulse, RATE)
    assert np.argmax(out[0]) == 100 and np.argmax(out[1]) == 100
    # streaming, the plugin's own delay shows: the first 1000 frames are held back
    plugin.reset()
    blocks = [plugin.process(impulse[:, i : i + 512], RATE, buffer_size=512, reset=False) for i in range(0, 4096, 512)]
    assert sum(b.shape[1] for b in blocks) == 4096 - 1000


def test_mono_plugin_has_one_channel_and_halves(test_plugin_folder):
    plugin = load(test_plugin_folder, "StemhostMono")
    audio = noise(0.1, RATE, channels=1)
    np.testing.assert_allclose(plugin.process(audio, RATE), audio * 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="1 input channels"):
        plugin.process(noise(0.1, RATE, channels=2), RATE)


def test_plugins_say_who_made_them(test_plugin_folder):
    plugin = load(test_plugin_folder, "StemhostGain")
    assert (plugin.name, plugin.manufacturer_name, plugin.version) == ("StemhostGain", "stemhost", "1.2.3")
