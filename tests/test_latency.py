"""Delay compensation: latent plugins are measured when the graph is prepared, and every path lines up.

None of the 15 effects a session may name reports latency in pedalboard 0.9.26, so these tests put
pedalboard's Resample (which withholds frames when streamed) into graphs built by hand.
"""

from __future__ import annotations

import numpy as np
import pedalboard
import pytest

from stemhost.engine.chain import AlignedChain, measure_latency
from stemhost.engine.compile import compile_graph
from stemhost.engine.graph import BusNode, Edge, MixGraph, NodeId
from stemhost.render.driver import RenderOptions, render_graph
from stemhost.session.model import Session

from conftest import noise, read_audio, write_audio, write_session

SR = 48000


def latent() -> pedalboard.Pedalboard:
    return pedalboard.Pedalboard([pedalboard.Resample(target_sample_rate=16000)])


@pytest.mark.parametrize("block_size", [64, 256, 4096])
def test_measured_latency_is_what_the_plugin_withholds(block_size):
    assert measure_latency(latent(), SR, 2, block_size) > 0
    assert measure_latency(pedalboard.Pedalboard([pedalboard.Reverb()]), SR, 2, block_size) == 0


@pytest.mark.parametrize("block_size", [64, 512, 4096])
def test_latent_stem_send_and_dry_path_stay_aligned(tmp_path, block_size):
    """Stem a goes dry to the master and through a latent bus; stem b is latent itself. All must line up."""
    a = np.zeros((2, SR), np.float32)
    a[:, 5000] = 0.5
    a += noise(1.0, channels=2, level=0.05)
    b = noise(1.0, channels=2, level=0.05, seed=7)
    write_audio(tmp_path / "a.wav", a)
    write_audio(tmp_path / "b.wav", b)
    data = {
        "stems": [{"name": "a", "file": "a.wav", "sends": [{"bus": "lat"}]}, {"name": "b", "file": "b.wav"}],
        "buses": [{"name": "lat"}],
    }
    path = write_session(tmp_path, data)
    graph = compile_graph(Session.model_validate(data), path, block_size)
    stems = graph.stems
    stems[1].chain = AlignedChain(latent(), SR, 2, block_size)
    bus = BusNode("lat", AlignedChain(latent(), SR, 2, block_size), 1.0, [Edge(NodeId("stem", "a"), 1.0)])
    master = BusNode("master", AlignedChain(pedalboard.Pedalboard([]), SR, 2, block_size), 1.0)
    master.edges = [Edge(NodeId("stem", "a"), 1.0), Edge(NodeId("stem", "b"), 1.0), Edge(NodeId("bus", "lat"), 1.0)]
    aligned = MixGraph(stems, [bus], master, SR, block_size, workers=2)
    assert aligned.latency == max(stems[1].latency, bus.latency) > 0
    try:
        render_graph(aligned, tmp_path / "out.wav", RenderOptions(bit_depth="32f", tail_s=0.0))
    finally:
        aligned.close()
    out, _ = read_audio(tmp_path / "out.wav")
    expected = a + latent()(b, SR) + latent()(a, SR)  # whole-buffer process compensates latency itself
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=2e-5)
    assert int(np.argmax(out[0])) == 5000


@pytest.mark.parametrize("block_size", [256, 1000, 4096, 16384])
@pytest.mark.parametrize(
    "make",
    [
        lambda: pedalboard.GSMFullRateCompressor(),
        lambda: pedalboard.MP3Compressor(),
        lambda: pedalboard.Resample(target_sample_rate=22050),
    ],
    ids=["GSMFullRateCompressor", "MP3Compressor", "Resample"],
)
def test_measured_latency_is_the_largest_shortfall_of_a_long_stream(make, block_size):
    """The early stop (two whole blocks in a row) finds what 200 blocks of streaming would."""
    plugin, fed, returned, shortfall = make(), 0, 0, 0
    for _ in range(200):
        fed += block_size
        returned += plugin.process(np.zeros((2, block_size), np.float32), SR, reset=False).shape[1]
        shortfall = max(shortfall, fed - returned)
    assert measure_latency(pedalboard.Pedalboard([make()]), SR, 2, block_size) == shortfall > 0
