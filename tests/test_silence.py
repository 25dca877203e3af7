"""Silence-aware processing: skipping rung-out chains changes nothing beyond 1e-6 (−120 dBFS).

Each test mixes a session twice, once with every chain running all the time (the gates' hold made
None) and once as stemhost runs it, checks that the chains did sleep and that the two mixes agree.
"""

from __future__ import annotations

import math

import numpy as np
import pedalboard
import pytest

from stemhost.engine import silence
from stemhost.engine.chain import AlignedChain
from stemhost.engine.compile import compile_graph
from stemhost.engine.graph import MixGraph
from stemhost.engine.silence import SilenceGate, hold_frames
from stemhost.session.model import Session

from conftest import noise, tone, write_audio, write_session

SR = 48000
BLOCKS = [64, 1024, 65536]


def sections(block_size: int, *parts: str, seed: int = 1) -> np.ndarray:
    """Stereo audio of sections ('n' noise, 't' tone, '-' digital silence), each long enough for a chain to sleep."""
    seconds = max(0.6, 3 * block_size / SR)
    made = {"n": noise(seconds, channels=2, level=0.2, seed=seed), "t": tone(220, seconds, channels=2, level=0.5)}
    silent = np.zeros((2, round(seconds * SR)), np.float32)
    return np.concatenate([made.get(p, silent) for p in parts], axis=1)


def mix(
    tmp_path, data: dict, block_size: int, gated: bool, monkeypatch, edit=None, workers: int = 2
) -> tuple[np.ndarray, int]:
    """The master of a session, streamed until the stems are done and a second more; and the blocks skipped."""
    with monkeypatch.context() as patch:
        if not gated:
            patch.setattr(silence, "hold_frames", lambda *args: None)
        graph = compile_graph(Session.model_validate(data), write_session(tmp_path, data), block_size, workers=workers)
        if edit is not None:
            edit(graph)
        blocks = []
        try:
            stream = graph.stream()
            while not graph.sources_done or len(blocks) * block_size < graph.content_frames + SR:
                blocks.append(next(stream).master)
                assert len(blocks) * block_size < 60 * SR, "the stems never finished: a stem is not read every block"
            gates = [s._gate for s in graph.stems] + [b._gate for b in [*graph.buses, graph.master]]
        finally:
            graph.close()
    return np.concatenate(blocks, axis=1), sum(g.skipped for g in gates if g is not None)


def check_equal(tmp_path, data, block_size, monkeypatch, edit=None) -> int:
    """Gated and ungated mixes agree within 1e-6; returns the blocks the gated one skipped."""
    full, none_skipped = mix(tmp_path, data, block_size, False, monkeypatch, edit)
    gated, skipped = mix(tmp_path, data, block_size, True, monkeypatch, edit)
    assert none_skipped == 0
    assert np.abs(full).max() > 0.01
    np.testing.assert_allclose(gated, full, rtol=0, atol=1e-6)
    return skipped


def stem(name: str, chain: list, **extra) -> dict:
    return {"name": name, "file": f"{name}.wav", "chain": chain, **extra}


@pytest.mark.parametrize("block_size", BLOCKS)
def test_reverb_tail_crossing_a_silent_stretch_is_kept(tmp_path, monkeypatch, block_size):
    write_audio(tmp_path / "a.wav", sections(block_size, "n", *"------", "n", *"------"))
    data = {"stems": [stem("a", [{"type": "Reverb", "room_size": 0.5, "wet_level": 0.1}])]}
    assert check_equal(tmp_path, data, block_size, monkeypatch) > 0


def test_a_reverb_whose_floor_stays_above_minus_120_dbfs_never_sleeps(tmp_path, monkeypatch):
    """JUCE's reverb never decays to zero: rounding keeps its output circulating at about 4e-6 fully wet."""
    write_audio(tmp_path / "a.wav", sections(1024, "n", *"--------"))
    data = {"stems": [stem("a", [{"type": "Reverb", "room_size": 0.5, "wet_level": 1.0, "dry_level": 0.0}])]}
    assert check_equal(tmp_path, data, 1024, monkeypatch) == 0


@pytest.mark.parametrize("block_size", BLOCKS)
def test_compressor_releasing_into_silence_then_sound_again(tmp_path, monkeypatch, block_size):
    write_audio(tmp_path / "a.wav", sections(block_size, "t", "-", "-", "t", "-", "t"))
    chain = [{"type": "Compressor", "threshold_db": -30, "ratio": 8, "attack_ms": 5, "release_ms": 150}]
    data = {"stems": [stem("a", chain)]}
    assert check_equal(tmp_path, data, block_size, monkeypatch) > 0


@pytest.mark.parametrize("block_size", BLOCKS)
def test_delay_echoes_across_silence_and_a_reverb_bus(tmp_path, monkeypatch, block_size):
    """A delay's echoes leave gaps of quiet output; its tail keeps it awake across them. The bus sleeps too."""
    write_audio(tmp_path / "a.wav", sections(block_size, "n", "-", "-", "-", "n", "-"))
    write_audio(tmp_path / "b.wav", sections(block_size, "-", "-", "t", "-", "-", "-", seed=2))
    data = {
        "stems": [
            stem("a", [{"type": "Delay", "delay_seconds": 0.3, "feedback": 0.4, "mix": 0.5}], sends=[{"bus": "verb"}]),
            stem("b", [{"type": "HighpassFilter", "cutoff_frequency_hz": 80}], sends=[{"bus": "verb"}]),
        ],
        "buses": [{"name": "verb", "chain": [{"type": "Reverb", "room_size": 0.6}]}],
    }
    assert check_equal(tmp_path, data, block_size, monkeypatch) > 0


@pytest.mark.parametrize("block_size", BLOCKS)
def test_latent_chain_stays_aligned_across_sleep_and_reset(tmp_path, monkeypatch, block_size):
    """pedalboard's Resample withholds frames when streamed and rings ahead of a sound (a windowed sinc).

    It never sleeps in a session (its output depends on where in its cycle a sound starts); at a ratio of 2
    with even blocks it does not, so here it stands for a latent plugin that may.
    """
    monkeypatch.setattr(silence, "RINGING", (*silence.RINGING, pedalboard.Resample))
    write_audio(tmp_path / "a.wav", sections(block_size, "-", "n", "-", "-", "t", "-"))
    write_audio(tmp_path / "b.wav", sections(block_size, "t", "-", "-", "-", "-", "-", seed=3))
    data = {"stems": [stem("a", []), stem("b", [])]}

    def latent(graph: MixGraph) -> None:
        board = pedalboard.Pedalboard(
            [
                pedalboard.Resample(target_sample_rate=24000, quality=pedalboard.Resample.Quality.WindowedSinc),
                pedalboard.Reverb(wet_level=0.1),
            ]
        )
        graph.stems[0].chain = AlignedChain(board, SR, 2, block_size)
        assert graph.stems[0].chain.latency > 0

    assert check_equal(tmp_path, data, block_size, monkeypatch, edit=latent) > 0


@pytest.mark.parametrize("block_size", [64, 4096, 65536])
def test_stem_sounding_in_its_last_block_only(tmp_path, monkeypatch, block_size):
    blocks = max(3, math.ceil(SR / block_size))
    audio = np.zeros((2, blocks * block_size - block_size // 3), np.float32)
    audio[:, -block_size // 2 :] = noise(1.0, channels=2, level=0.3)[:, : block_size // 2]
    write_audio(tmp_path / "a.wav", audio)
    data = {"stems": [stem("a", [{"type": "PeakFilter", "gain_db": 6}, {"type": "Reverb"}])]}
    assert check_equal(tmp_path, data, block_size, monkeypatch) >= blocks - 1


@pytest.mark.parametrize("kind", ["Chorus", "Phaser"])
def test_chains_whose_state_runs_on_in_silence_never_sleep(kind):
    chain = AlignedChain(pedalboard.Pedalboard([pedalboard.HighpassFilter(), getattr(pedalboard, kind)()]), SR, 2, 256)
    assert hold_frames(chain, SR, 256) is None
    gate = SilenceGate(chain, 256)
    assert gate.process(np.zeros((2, 256), np.float32)) is not None


def test_hold_covers_latency_a_block_and_the_tails():
    board = pedalboard.Pedalboard([pedalboard.Compressor(release_ms=200), pedalboard.Delay(delay_seconds=0.5)])
    hold = hold_frames(AlignedChain(board, SR, 2, 512), SR, 512)
    assert hold == 512 + math.ceil((3 * 0.2 + 0.5 + silence.RING_S) * SR)


@pytest.mark.parametrize("block_size", [64, 1024])
def test_tails_keep_a_chain_awake_through_short_gaps(tmp_path, monkeypatch, block_size):
    """Quiet output is not enough: a compressor still holding gain reduction and a delay between two echoes
    must keep running (without their tails in the hold these mixes differ by far more than 1e-6)."""
    click = np.zeros((2, SR), np.float32)
    click[:, 100:580] = 0.5
    gap = np.zeros((2, round(0.25 * SR)), np.float32)
    loud = tone(220, 0.5, channels=2, level=0.8)
    write_audio(tmp_path / "a.wav", np.concatenate([click, click], axis=1))
    write_audio(tmp_path / "b.wav", np.concatenate([loud, gap, loud, gap, loud], axis=1))
    data = {
        "stems": [
            stem("a", [{"type": "Delay", "delay_seconds": 0.4, "feedback": 0.5, "mix": 0.5}]),
            stem("b", [{"type": "Compressor", "threshold_db": -30, "ratio": 8, "release_ms": 1000}]),
        ]
    }
    check_equal(tmp_path, data, block_size, monkeypatch)


@pytest.mark.parametrize("block_size", BLOCKS)
def test_bus_sleeps_while_all_its_inputs_are_silent(tmp_path, monkeypatch, block_size):
    """The stems have no chains (nothing of theirs to skip): every block skipped is the bus's."""
    write_audio(tmp_path / "a.wav", sections(block_size, "n", *"------", "t", "-"))
    write_audio(tmp_path / "b.wav", sections(block_size, "t", *"------", "-", "n", seed=4))
    reverb = {"type": "Reverb", "room_size": 0.5, "wet_level": 0.1, "dry_level": 0.0}
    data = {
        "stems": [stem("a", [], sends=[{"bus": "verb"}]), stem("b", [], sends=[{"bus": "verb"}])],
        "buses": [{"name": "verb", "chain": [{"type": "HighShelfFilter", "gain_db": -3}, reverb]}],
    }
    assert check_equal(tmp_path, data, block_size, monkeypatch) > 0


@pytest.mark.parametrize("block_size", [64, 1024])
def test_many_stems_coming_and_going_mix_the_same_on_any_number_of_workers(tmp_path, monkeypatch, block_size):
    """Ten stems entering and leaving at their own times (gates falling asleep and waking, as in a sparse
    session): one worker, three, and every chain running all give the same mix, and without chains it is
    the stems' sum (the workers share the stems of a block; each must still be rendered once a block)."""
    stems, audio = [], []
    for k in range(10):
        parts = ["nt"[k % 2] if j in (k % 4, (k + 2) % 5) else "-" for j in range(5)]
        audio.append(sections(block_size, *parts, seed=k))
        write_audio(tmp_path / f"s{k}.wav", audio[-1])
        eq = {"type": "PeakFilter", "cutoff_frequency_hz": 300.0 + 100 * k, "gain_db": 3.0}
        compressor = {"type": "Compressor", "threshold_db": -20.0, "ratio": 3.0, "release_ms": 50.0}
        stems.append(stem(f"s{k}", [eq, compressor], sends=[{"bus": "verb", "level_db": -12.0}]))
    reverb = {"type": "Reverb", "room_size": 0.3, "wet_level": 0.2, "dry_level": 0.0}
    data = {"stems": stems, "buses": [{"name": "verb", "chain": [reverb]}]}
    assert check_equal(tmp_path, data, block_size, monkeypatch) > 0
    one, _ = mix(tmp_path, data, block_size, True, monkeypatch, workers=1)
    three, _ = mix(tmp_path, data, block_size, True, monkeypatch, workers=3)
    np.testing.assert_array_equal(three, one)
    plain = {"stems": [stem(f"s{k}", []) for k in range(10)]}  # no chains: the mix is the stems' sum
    summed, _ = mix(tmp_path, plain, block_size, True, monkeypatch, workers=3)
    np.testing.assert_allclose(summed[:, : audio[0].shape[1]], np.sum(audio, axis=0), rtol=0, atol=1e-6)
