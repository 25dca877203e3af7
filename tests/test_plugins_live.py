"""Third-party plugins while playing: latency compensated on a real stream, bypass toggled without a click or a shift."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stemhost.engine.plugins import build_chain
from stemhost.live.play import PlayOptions, playing
from stemhost.live.player import Player
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.effects import VST3Plugin
from stemhost.session.files import load_session

from conftest import read_audio, tone, write_audio, write_session

SR = 48000
BLOCK = 512


def entry(bundle: str, **values) -> dict:
    return {"type": "VST3Plugin", "path_to_plugin_file": bundle, "parameter_values": values}


def chain_of(folder, bundle: str, **values):
    effect = VST3Plugin.model_validate(entry(bundle, **values))
    return build_chain([effect], 2, base_dir=folder, sample_rate=SR, block_size=BLOCK, folders=[folder], where="t")


def stream(chain, signal: np.ndarray, toggle_at: int | None = None) -> np.ndarray:
    """Stream (2, n) audio through a chain in BLOCK-frame blocks, toggling its plugin's bypass before a block."""
    stage = chain.stages[0]
    out = []
    for k, start in enumerate(range(0, signal.shape[1], BLOCK)):
        if k == toggle_at:
            stage.set_bypass(not stage.bypass, BLOCK)
        out.append(chain.process(signal[:, start : start + BLOCK]))
    return np.concatenate(out, axis=1)


def test_bypassing_a_latent_plugin_while_streaming_moves_nothing_in_time(test_plugin_folder):
    signal = np.random.default_rng(1).standard_normal((2, 40 * BLOCK)).astype(np.float32) * 0.1
    chain = chain_of(test_plugin_folder, "StemhostLatency.vst3")
    assert chain.latency == 1000
    out = stream(chain, signal, toggle_at=20)  # the plugin is a pure 1000-frame delay: both paths are the same
    np.testing.assert_allclose(out[:, 1000:], signal[:, :-1000], atol=1e-6)
    np.testing.assert_array_equal(out[:, :1000], 0.0)


def test_bypass_crossfades_over_one_block(test_plugin_folder):
    signal = np.full((2, 20 * BLOCK), 0.2, np.float32)
    chain = chain_of(test_plugin_folder, "StemhostGain.vst3", gain_db=-6.0)
    out = stream(chain, signal, toggle_at=10)
    half = 0.2 * 10 ** (-6 / 20)
    np.testing.assert_allclose(out[:, : 10 * BLOCK], half, atol=1e-6)  # on: -6 dB
    np.testing.assert_allclose(out[:, 11 * BLOCK :], 0.2, atol=1e-6)  # bypassed: the input
    fade = out[0, 10 * BLOCK : 11 * BLOCK]
    assert np.all(np.diff(fade) > 0) and np.max(np.abs(np.diff(fade))) < 2 * (0.2 - half) / BLOCK


def test_the_player_bypasses_a_strips_plugin_and_saves_it(tmp_path, test_plugin_folder):
    write_audio(tmp_path / "a.wav", np.full((2, 4 * SR), 0.2, np.float32))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [entry("StemhostGain.vst3")]}]})
    player = Player(load_session(path), path, SR, channels=2, plugin_folders=(test_plugin_folder,))
    out = np.zeros((SR, 2), np.float32)

    class Status:
        output_underflow = False

    try:
        assert [(p.index, p.name, p.bypass) for p in player.strips[("stem", "a")].plugins] == [
            (0, "StemhostGain", False)
        ]
        player.start()
        for start in range(0, SR, 256):
            if start == 256 * 94:  # half a second in
                player.set_bypass("stem", "a", 0, True)
            while player.ring.fill < 256:
                time.sleep(0.001)
            player.callback(out[start : start + 256], 256, None, Status())
        player.save(tmp_path / "saved.json")
    finally:
        player.close()
    assert np.max(np.abs(out[: SR // 4, 0] - 0.2 * 10 ** (-6 / 20))) < 1e-6  # the plugin's -6 dB default
    assert np.max(np.abs(out[-SR // 8 :, 0] - 0.2)) < 1e-6  # bypassed by then (the ring is 53 ms ahead)
    saved = load_session(tmp_path / "saved.json")
    assert saved.stems[0].chain[0].bypass is True


def test_a_latent_plugin_plays_live_as_it_renders(tmp_path, test_plugin_folder, jack_device):
    """On a real, clocked stream (JACK's dummy backend) every stem stays on its frame beside a 1000-frame plugin."""
    write_audio(tmp_path / "a.wav", tone(220.0, 4.0, channels=2, level=0.1))
    write_audio(tmp_path / "b.wav", tone(330.0, 4.0, channels=2, level=0.1))
    stems = [{"name": "a", "file": "a.wav", "chain": [entry("StemhostLatency.vst3")]}, {"name": "b", "file": "b.wav"}]
    path = write_session(tmp_path, {"stems": stems})
    session = load_session(path)
    options = RenderOptions(bit_depth="32f", tail_s=0.0, plugin_folders=(test_plugin_folder,))
    render_session(session, path, tmp_path / "offline.wav", options)
    offline, _ = read_audio(tmp_path / "offline.wav")
    play = PlayOptions(device="system", capture_s=2.0, plugin_folders=(test_plugin_folder,))
    with playing(session, path, play) as (player, _):
        deadline = time.monotonic() + 20
        while player.captured < 2 * SR and time.monotonic() < deadline:
            time.sleep(0.05)
        live = player.capture().copy()
    assert player.graph.latency == 1000
    np.testing.assert_allclose(live.T, offline[:, : live.shape[0]], atol=1e-6)


@pytest.mark.parametrize("bundle", ["StemhostAbort.vst3", "StemhostHang.vst3"])
def test_a_render_beside_crashing_and_hanging_plugins_is_untouched(tmp_path, test_plugin_folder, bundle):
    """The folder holds plugins that abort or hang when loaded; a session that names others never loads them."""
    assert (test_plugin_folder / bundle).exists()
    write_audio(tmp_path / "a.wav", np.full((2, SR), 0.2, np.float32))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [entry("StemhostGain.vst3")]}]})
    options = RenderOptions(bit_depth="32f", tail_s=0.0, plugin_folders=(test_plugin_folder,))
    render_session(load_session(path), path, tmp_path / "out.wav", options)
    out, _ = read_audio(tmp_path / "out.wav")
    assert 20 * np.log10(np.max(np.abs(out)) / 0.2) == pytest.approx(-6.0, abs=0.001)


def test_the_mixer_shows_a_strips_plugins_and_b_toggles_the_chosen_one(tmp_path, test_plugin_folder, jack_device):
    import asyncio

    from textual import events

    from stemhost.live.mixer import MixerApp

    write_audio(tmp_path / "a.wav", tone(220.0, 10.0, channels=2, level=0.1))
    chain = [entry("StemhostGain.vst3"), {"type": "Gain", "gain_db": 0.0}, entry("StemhostLatency.vst3")]
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": chain}]})
    session = load_session(path)

    async def main() -> None:
        play = PlayOptions(device="system", plugin_folders=(test_plugin_folder,))
        with playing(session, path, play) as (player, device):
            app = MixerApp(player, path, device.name)
            async with app.run_test(size=(160, 30)) as pilot:
                await pilot.pause(0.1)
                assert "a: >StemhostGain (on) → Gain → StemhostLatency (on)" in str(app.message.content)
                for key in ("p", "b"):  # the second plugin, bypassed
                    app.post_message(events.Key(key, key))
                    await pilot.pause(0.05)
                stages = player.graph.stems[0].chain.stages
                deadline = time.monotonic() + 3
                while not stages[-1].bypass and time.monotonic() < deadline:
                    await pilot.pause(0.02)
                assert stages[-1].bypass and not stages[0].bypass and player.graph.latency == 1000
                assert "StemhostLatency (bypassed)" in str(app.message.content)
                assert player.error is None

    asyncio.run(main())


def test_a_plugin_that_crashed_when_scanned_is_refused_and_stemhost_lives(tmp_path, test_plugin_folder, capsys):
    from stemhost.cli.main import main

    write_audio(tmp_path / "a.wav", np.full((2, SR), 0.2, np.float32))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [entry("StemhostAbort.vst3")]}]})
    out = tmp_path / "out.wav"
    assert main(["render", str(path), "-o", str(out), "--plugin-path", str(test_plugin_folder)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: session.json: stems[0].chain[0].path_to_plugin_file: StemhostAbort.vst3 failed")
    assert "crashed: SIGABRT" in err and err.count("\n") == 1 and not out.exists()
