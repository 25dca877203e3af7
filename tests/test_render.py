"""Numeric oracles for the mix engine: sums, gains, pan law, mute, solo, sends, buses, alignment."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pedalboard
import pytest

from stemhost.errors import StemhostWarning
from stemhost.limits import MAX_BLOCK_SIZE, MIN_BLOCK_SIZE
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.effects import BUILTIN_TYPES
from stemhost.session.model import Session

from conftest import claim_flac_length, noise, read_audio, tone, write_audio, write_session

SR = 48000
CENTRE = math.sqrt(0.5)  # constant-power pan law at centre: −3 dB each side


def render(folder: Path, data: dict, out: str = "out.wav", **options) -> np.ndarray:
    """Render a session dict to a 32-bit float WAV and read it back as (2, frames)."""
    options.setdefault("tail_s", 0.0)
    path = write_session(folder, data)
    output = folder / out
    bit_depth = options.pop("bit_depth", "32f" if output.suffix == ".wav" else None)
    render_session(Session.model_validate(data), path, output, RenderOptions(bit_depth=bit_depth, **options))
    audio, rate = read_audio(output)
    assert audio.shape[0] == 2
    return audio


def stereo_of_mono(x: np.ndarray, left: float = CENTRE, right: float = CENTRE) -> np.ndarray:
    return np.vstack([x[0] * left, x[0] * right])


def test_unity_session_of_stereo_stems_is_their_plain_sum(tmp_path):
    a, b = tone(220, 1.0, channels=2), noise(0.7, channels=2)
    write_audio(tmp_path / "a.wav", a)
    write_audio(tmp_path / "b.wav", b)
    out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "b.wav"}]})
    expected = a.copy()
    expected[:, : b.shape[1]] += b
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_mono_stem_at_centre_is_three_db_down_on_each_side(tmp_path):
    a = tone(330, 0.5)
    write_audio(tmp_path / "a.wav", a)
    out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    np.testing.assert_allclose(out, stereo_of_mono(a), atol=1e-7)


@pytest.mark.parametrize("pan", [-1.0, -0.5, 0.25, 1.0])
def test_mono_pan_follows_the_constant_power_law(tmp_path, pan):
    a = tone(330, 0.5)
    write_audio(tmp_path / "a.wav", a)
    out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "pan": pan}]})
    angle = (pan + 1) * math.pi / 4
    np.testing.assert_allclose(out, stereo_of_mono(a, math.cos(angle), math.sin(angle)), atol=1e-7)
    power = np.sum(out**2) / np.sum(a**2)
    assert power == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize(
    ("pan", "left", "right"), [(0.0, 1.0, 1.0), (-1.0, 1.0, 0.0), (0.5, 0.5, 1.0), (-0.25, 1.0, 0.75)]
)
def test_stereo_pan_is_a_balance_control(tmp_path, pan, left, right):
    a = tone(330, 0.5, channels=2)
    write_audio(tmp_path / "a.wav", a)
    out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "pan": pan}]})
    np.testing.assert_allclose(out, a * np.array([[left], [right]], np.float32), atol=1e-7)


@pytest.mark.parametrize("gain_db", [-12.0, 0.0, 6.0])
def test_fader_gain_is_in_db(tmp_path, gain_db):
    a = tone(330, 0.5, channels=2, level=0.1)
    write_audio(tmp_path / "a.wav", a)
    out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "gain_db": gain_db}]})
    np.testing.assert_allclose(out, a * 10 ** (gain_db / 20), atol=1e-7)


def two_stems_with_send(tmp_path) -> dict:
    write_audio(tmp_path / "a.wav", tone(220, 0.5, channels=2))
    write_audio(tmp_path / "b.wav", tone(330, 0.5, channels=2))
    return {
        "stems": [
            {"name": "a", "file": "a.wav", "sends": [{"bus": "fx", "level_db": -6}]},
            {"name": "b", "file": "b.wav", "sends": [{"bus": "fx", "level_db": -6}]},
        ],
        "buses": [{"name": "fx", "gain_db": -3}],
    }


def test_sends_reach_their_bus_after_the_fader_at_their_level(tmp_path):
    data = two_stems_with_send(tmp_path)
    data["stems"][0]["gain_db"] = 6.0
    a, b = read_audio(tmp_path / "a.wav")[0], read_audio(tmp_path / "b.wav")[0]
    out = render(tmp_path, data)
    fader = 10 ** (6 / 20)
    send, bus = 10 ** (-6 / 20), 10 ** (-3 / 20)
    expected = a * fader + b + (a * fader + b) * send * bus
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_muted_stem_contributes_exactly_zero_and_not_through_its_sends(tmp_path):
    data = two_stems_with_send(tmp_path)
    data["stems"][0]["mute"] = True
    b = read_audio(tmp_path / "b.wav")[0]
    out = render(tmp_path, data)
    expected = b + b * 10 ** (-6 / 20) * 10 ** (-3 / 20)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    data["stems"][1]["mute"] = True
    assert not render(tmp_path, data, out="silent.wav").any()


def test_solo_mutes_every_other_stem(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 0.5, channels=2))
    write_audio(tmp_path / "b.wav", tone(330, 0.5, channels=2))
    write_audio(tmp_path / "c.wav", tone(440, 0.5, channels=2))
    data = {
        "stems": [
            {"name": "a", "file": "a.wav", "solo": True},
            {"name": "b", "file": "b.wav"},
            {"name": "c", "file": "c.wav", "solo": True},
        ]
    }
    out = render(tmp_path, data)
    np.testing.assert_allclose(out, read_audio(tmp_path / "a.wav")[0] + read_audio(tmp_path / "c.wav")[0], atol=1e-7)


def test_a_muted_bus_and_a_muted_master_contribute_exactly_zero(tmp_path):
    data = two_stems_with_send(tmp_path)
    a, b = read_audio(tmp_path / "a.wav")[0], read_audio(tmp_path / "b.wav")[0]
    data["buses"][0]["mute"] = True
    np.testing.assert_allclose(render(tmp_path, data), a + b, atol=1e-6)
    data["master"] = {"mute": True}
    assert not render(tmp_path, data, out="silent.wav").any()


def test_a_soloed_bus_is_heard_alone_with_what_feeds_it(tmp_path):
    data = two_stems_with_send(tmp_path)
    data["stems"][1]["sends"] = []
    data["buses"][0]["solo"] = True
    a = read_audio(tmp_path / "a.wav")[0]
    out = render(tmp_path, data)  # only a's send through fx: neither stem's own output
    np.testing.assert_allclose(out, a * 10 ** (-6 / 20) * 10 ** (-3 / 20), atol=1e-6)


def test_buses_feed_buses_and_each_applies_its_chain_and_gain(tmp_path):
    a = tone(220, 0.5, channels=2)
    write_audio(tmp_path / "a.wav", a)
    data = {
        "stems": [{"name": "a", "file": "a.wav", "output": "inner"}],
        "buses": [
            {"name": "outer", "gain_db": -6, "chain": [{"type": "Gain", "gain_db": 2}]},
            {"name": "inner", "gain_db": 3, "output": "outer"},
        ],
        "master": {"gain_db": -1},
    }
    out = render(tmp_path, data)
    np.testing.assert_allclose(out, a * 10 ** ((3 + 2 - 6 - 1) / 20), atol=1e-6)


def every_effect_chain() -> list[dict]:
    """One instance of every supported effect, with settings that change the signal."""
    return [
        {"type": "HighpassFilter", "cutoff_frequency_hz": 80},
        {"type": "LowpassFilter", "cutoff_frequency_hz": 12000},
        {"type": "HighShelfFilter", "cutoff_frequency_hz": 6000, "gain_db": 3},
        {"type": "LowShelfFilter", "cutoff_frequency_hz": 200, "gain_db": -2},
        {"type": "PeakFilter", "cutoff_frequency_hz": 1000, "gain_db": 4, "q": 2},
        {"type": "Compressor", "threshold_db": -20, "ratio": 4},
        {"type": "Limiter", "threshold_db": -6},
        {"type": "Gain", "gain_db": -3},
        {"type": "NoiseGate", "threshold_db": -50},
        {"type": "Reverb", "room_size": 0.7},
        {"type": "Delay", "delay_seconds": 0.05, "feedback": 0.4},
        {"type": "Chorus"},
        {"type": "Phaser"},
        {"type": "Distortion", "drive_db": 10},
        {"type": "Convolution", "impulse_response_filename": "ir.wav", "mix": 0.5},
    ]


def write_ir(folder: Path) -> None:
    ir = np.zeros((1, 2400), np.float32)
    ir[0, 0], ir[0, 700], ir[0, 1900] = 1.0, 0.4, -0.2
    write_audio(folder / "ir.wav", ir)


def test_every_supported_effect_is_tested():
    assert sorted(e["type"] for e in every_effect_chain()) == sorted(BUILTIN_TYPES)


@pytest.mark.parametrize("effect", every_effect_chain(), ids=lambda e: e["type"])
def test_chain_output_is_aligned_with_a_whole_buffer_render(tmp_path, effect):
    """An impulse train through any effect lands where pedalboard's whole-buffer process puts it."""
    write_ir(tmp_path)
    x = np.zeros((2, SR), np.float32)
    x[:, 1000::9000] = 0.8
    x += noise(1.0, channels=2, level=0.01)
    write_audio(tmp_path / "a.wav", x)
    out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": [effect]}]}, block_size=512)
    kwargs = {k: v for k, v in effect.items() if k != "type"}
    if effect["type"] == "Convolution":
        kwargs["impulse_response_filename"] = str(tmp_path / "ir.wav")
    reference = getattr(pedalboard, effect["type"])(**kwargs)(x, SR)
    np.testing.assert_allclose(out, reference, atol=1e-6)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_output_does_not_depend_on_the_block_size(tmp_path, sample_rate):
    write_ir(tmp_path)
    write_audio(tmp_path / "a.wav", noise(2.0, sample_rate, channels=2, level=0.2), sample_rate)
    write_audio(tmp_path / "b.wav", tone(110, 1.3, sample_rate), sample_rate)
    data = {
        "stems": [
            {
                "name": "a",
                "file": "a.wav",
                "chain": every_effect_chain()[:8],
                "sends": [{"bus": "verb", "level_db": -9}],
            },
            {"name": "b", "file": "b.wav", "chain": every_effect_chain()[8:], "pan": -0.3, "output": "band"},
        ],
        "buses": [
            {"name": "verb", "chain": [{"type": "Reverb", "wet_level": 1, "dry_level": 0}]},
            {"name": "band", "chain": [{"type": "Compressor", "threshold_db": -12, "ratio": 3}]},
        ],
        "master": {"chain": [{"type": "Limiter", "threshold_db": -3}]},
    }
    sizes = (MIN_BLOCK_SIZE, 512, 4096, 65536, MAX_BLOCK_SIZE)
    renders = [render(tmp_path, data, out=f"bs{bs}.wav", block_size=bs, tail_s=None) for bs in sizes]
    for other in renders[1:]:
        assert other.shape == renders[0].shape
        np.testing.assert_allclose(other, renders[0], atol=1e-6)


def test_stems_of_different_lengths_are_padded_with_silence(tmp_path):
    a, b = tone(220, 1.0, channels=2), tone(330, 0.3, channels=2)
    write_audio(tmp_path / "a.wav", a)
    write_audio(tmp_path / "b.wav", b)
    with pytest.warns(StemhostWarning, match=r"padded with silence: b 0:00\.300 \(0\.7 s short\)"):
        out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "b.wav"}]})
    assert out.shape[1] == a.shape[1]
    np.testing.assert_allclose(out[:, b.shape[1] :], a[:, b.shape[1] :], atol=1e-7)


def test_padded_stems_are_named_with_their_figures(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 2.0, channels=2))
    write_audio(tmp_path / "b.wav", tone(330, 1.25, channels=2))
    write_audio(tmp_path / "c.wav", tone(440, 1.995, channels=2))
    write_audio(tmp_path / "d.wav", tone(550, 0.5, channels=2))  # muted: its padding is not heard
    stems = [{"name": n, "file": f"{n}.wav"} for n in "abc"] + [{"name": "d", "file": "d.wav", "mute": True}]

    with pytest.warns(StemhostWarning) as caught:
        render(tmp_path, {"stems": stems})

    assert [str(w.message) for w in caught] == [
        "stems shorter than the song (0:02.000) are padded with silence: b 0:01.250 (0.8 s short), c 0:01.995 (5 ms short)"
    ]


def test_a_stem_cut_short_says_how_much_its_header_promised(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 2.0, channels=2))
    # libsndfile believes a FLAC's length field; pedalboard does not when it claims 2**35 frames, so libsndfile
    # reads it and stops where the audio does (a FLAC whose field claims less is read by pedalboard, which
    # returns silence past the audio, unseen)
    claim_flac_length(write_audio(tmp_path / "b.flac", tone(330, 1.5), subtype="PCM_16"), 1 << 35)

    with pytest.warns(StemhostWarning) as caught:
        out = render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "b.flac"}]})

    assert out.shape[1] == 2 * SR
    assert [str(w.message) for w in caught] == [
        "stems shorter than the song (0:02.000) are padded with silence: "
        f"b 0:01.500 (0.5 s short; its file ends {(1 << 35) - 72000:,} frames before its header says)"
    ]


def test_stems_of_one_length_warn_of_nothing(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 1.0, channels=2))
    write_audio(tmp_path / "b.wav", tone(330, 1.0, 44100, channels=2), 44100)  # resampled: the same length

    with warnings.catch_warnings():
        warnings.simplefilter("error", StemhostWarning)
        render(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "b.wav"}]})


def test_length_counts_muted_stems(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 0.4, channels=2))
    write_audio(tmp_path / "b.wav", tone(330, 0.9, channels=2))
    with pytest.warns(StemhostWarning, match=r"padded with silence: a 0:00\.400 \(0\.5 s short\)$"):
        out = render(
            tmp_path, {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "b.wav", "mute": True}]}
        )
    assert out.shape[1] == round(0.9 * SR)
    assert not out[:, round(0.4 * SR) :].any()


def test_mono_and_stereo_stems_mix_to_stereo(tmp_path):
    m, s = tone(220, 0.5), tone(330, 0.5, channels=2)
    write_audio(tmp_path / "m.wav", m)
    write_audio(tmp_path / "s.wav", s)
    out = render(tmp_path, {"stems": [{"name": "m", "file": "m.wav"}, {"name": "s", "file": "s.wav"}]})
    np.testing.assert_allclose(out, stereo_of_mono(m) + s, atol=1e-7)


@pytest.mark.parametrize("stem_rate", [22050, 44100, 96000])
def test_stems_at_other_rates_are_resampled_in_time_and_in_tune(tmp_path, stem_rate):
    x = np.zeros((1, stem_rate), np.float32)
    x[0, stem_rate // 2] = 1.0  # an impulse at 0.5 s
    write_audio(tmp_path / "click.wav", x, stem_rate)
    write_audio(tmp_path / "tone.wav", tone(1000, 1.0), SR)
    out = render(
        tmp_path,
        {"stems": [{"name": "click", "file": "click.wav"}, {"name": "tone", "file": "tone.wav"}], "sample_rate": SR},
        block_size=1000,
    )
    assert out.shape[1] == SR
    alone = render(tmp_path, {"stems": [{"name": "click", "file": "click.wav"}], "sample_rate": SR}, out="alone.wav")
    assert abs(int(np.argmax(alone[0])) - SR // 2) <= 1
    # a 1 kHz sine at the stem's rate stays at 1 kHz
    write_audio(tmp_path / "sine.wav", tone(1000, 1.0, stem_rate), stem_rate)
    sine = render(tmp_path, {"stems": [{"name": "s", "file": "sine.wav"}], "sample_rate": SR}, out="sine-out.wav")
    spectrum = np.abs(np.fft.rfft(sine[0] * np.hanning(sine.shape[1])))
    assert np.argmax(spectrum) * SR / sine.shape[1] == pytest.approx(1000, abs=1.5)


def test_default_rate_is_the_highest_stem_rate(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 0.5, 44100), 44100)
    write_audio(tmp_path / "b.wav", tone(220, 0.5, 96000), 96000)
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "b.wav"}]})
    result = render_session(Session.model_validate_json(path.read_text()), path, tmp_path / "o.wav")
    assert result.sample_rate == 96000
    assert result.frames == 48000


def test_automatic_tail_follows_reverb_down_to_minus_90_dbfs(tmp_path):
    x = np.zeros((2, SR // 2), np.float32)
    x[:, 100] = 1.0
    write_audio(tmp_path / "a.wav", x)
    data = {"stems": [{"name": "a", "file": "a.wav", "chain": [{"type": "Reverb", "room_size": 0.8}]}]}
    out = render(tmp_path, data, tail_s=None)
    assert out.shape[1] > SR  # the tail rings on well past the stem's half second
    assert np.max(np.abs(out[:, -1])) > 10 ** (-90 / 20)  # it stops at the last sample above −90 dBFS
    longer = render(tmp_path, data, out="long.wav", tail_s=20.0)
    assert np.max(np.abs(longer[:, out.shape[1] :])) <= 10 ** (-90 / 20)


def test_tail_zero_stops_at_the_longest_stem_and_tail_s_adds_exact_seconds(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 0.75, channels=2))
    data = {
        "stems": [{"name": "a", "file": "a.wav", "chain": [{"type": "Delay", "delay_seconds": 0.3, "feedback": 0.5}]}]
    }
    assert render(tmp_path, data, tail_s=0.0).shape[1] == round(0.75 * SR)
    assert render(tmp_path, data, out="t.wav", tail_s=1.25).shape[1] == round(2.0 * SR)


def test_automatic_tail_is_capped_at_30_seconds(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 0.2, channels=2))
    data = {
        "stems": [{"name": "a", "file": "a.wav", "chain": [{"type": "Delay", "delay_seconds": 0.1, "feedback": 1.0}]}]
    }
    out = render(tmp_path, data, tail_s=None, block_size=65536)
    assert out.shape[1] == round(30.2 * SR)
