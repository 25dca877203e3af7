"""Key and tempo changes render only a stem's sounding regions, placed exactly where the whole stem's would be."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import stemhost.engine.stretch
from stemhost.engine.stretch import StretchSettings, stretch
from stemhost.engine.stretch_regions import BLOCK, MIN_GAP_S, MIN_GROUP_S, PAD_S, sounding_regions, stretch_sounding

from conftest import peak_hz

SR = 48000


def nearest_frames(tempo: float):
    """A stand-in for Rubber Band that only changes time: output frame k is input frame k * tempo, rounded
    (in integers, so that no rounding tie depends on where the frame is)."""
    calls = []
    ratio = Fraction(tempo).limit_denominator(1000)

    def render(audio: np.ndarray) -> np.ndarray:
        calls.append(audio.shape[1])
        k = np.arange(round(audio.shape[1] / tempo))
        source = (k * ratio.numerator + ratio.denominator // 3) // ratio.denominator
        return audio[:, np.minimum(source, audio.shape[1] - 1)]

    return render, calls


def noise_in(seconds: float, spans: list[tuple[float, float]], channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = np.zeros((channels, round(seconds * SR)), np.float32)
    for a, b in spans:
        audio[:, round(a * SR) : round(b * SR)] = rng.uniform(-0.5, 0.5, (channels, round(b * SR) - round(a * SR)))
    return audio


SPARSE = [(0.0, 2.0), (5.0, 5.5), (5.9, 7.0), (12.3, 15.0), (19.9999, 20.0)]  # a 0.4 s gap stays inside a region


@pytest.mark.parametrize("tempo", [1.0, 0.9, 0.8, 1.25, 0.5, 2.0])
def test_each_region_lands_on_the_frame_the_whole_stem_puts_it(tempo):
    """With a renderer that moves frames only, rendering the regions equals rendering the whole stem exactly."""
    audio = noise_in(20.0, SPARSE)
    whole, _ = nearest_frames(tempo)
    render, calls = nearest_frames(tempo)
    out = stretch_sounding(audio, SR, tempo, render)
    assert out.shape == (2, round(audio.shape[1] / tempo))
    np.testing.assert_array_equal(out, whole(audio))
    assert len(calls) == 1 and calls[0] < audio.shape[1] * 0.6  # one render of the sounding part only


@pytest.mark.parametrize("tempo", [1.0, 0.9, 1.25])
@pytest.mark.parametrize("groups", [2, 3, 8])
def test_regions_rendered_in_parallel_runs_land_where_the_whole_stem_puts_them(tempo, groups):
    spans = [(a, a + 9.0) for a in np.arange(0.0, 240.0, 12.0)] + [(245.0, 245.2)]  # 21 regions, 180 s sounding
    audio = noise_in(250.0, spans, channels=1)
    whole, _ = nearest_frames(tempo)
    render, calls = nearest_frames(tempo)
    np.testing.assert_array_equal(stretch_sounding(audio, SR, tempo, render, groups=groups), whole(audio))
    assert 2 <= len(calls) <= groups  # runs of about equal length, none much under MIN_GROUP_S
    assert min(calls) >= (MIN_GROUP_S - 5) * SR
    assert max(calls) - min(calls) < 11 * SR  # a region and its pads apart


def test_regions_keep_short_gaps_and_pad_the_long_ones():
    audio = noise_in(20.0, SPARSE)
    regions = sounding_regions(audio, SR, 1.0)
    pad = math.ceil(PAD_S * SR)

    def blocks(a: float, b: float) -> tuple[int, int]:  # whole blocks, widened by the pads
        return round(a * SR) // BLOCK * BLOCK - pad, -(-round(b * SR) // BLOCK) * BLOCK + pad

    assert regions == [
        (0, blocks(0, 2)[1]),
        blocks(5, 7),  # 5.5-5.9 s is shorter than MIN_GAP_S: one region
        blocks(12.3, 15),
        (blocks(19.9999, 20)[0], 20 * SR),  # sounding in its last block only
    ]
    assert MIN_GAP_S > 2 * PAD_S  # padded regions never overlap


def test_a_silent_stem_is_never_rendered_and_stays_silent():
    render, calls = nearest_frames(0.8)
    out = stretch_sounding(np.zeros((2, 10 * SR), np.float32), SR, 0.8, render)
    assert calls == [] and out.shape == (2, round(10 * SR / 0.8)) and not out.any()


def test_a_stem_that_sounds_throughout_is_rendered_whole():
    audio = noise_in(6.0, [(0.0, 6.0)])
    render, calls = nearest_frames(1.25)
    stretch_sounding(audio, SR, 1.25, render)
    assert calls == [audio.shape[1]]


def test_samples_below_minus_120_dbfs_count_as_silence_and_come_out_as_zeros():
    audio = noise_in(12.0, [(0.0, 1.0), (9.0, 10.0)])
    audio[:, 2 * SR : 8 * SR] = 1e-6  # a float noise floor at -120 dBFS
    out = stretch_sounding(audio, SR, 1.0, nearest_frames(1.0)[0])
    assert not out[:, 2 * SR : 8 * SR].any()


# ---------------------------------------------------------------- with Rubber Band


def note(freq: float, seconds: float) -> np.ndarray:
    """A plucked tone with harmonics, starting sharply (its onset is measurable) and ending at zero."""
    t = np.arange(round(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * freq * h * t) / h**1.5 for h in range(1, 6))
    envelope = np.minimum(1, t / 0.002) * np.exp(-1.5 * t) * np.minimum(1, (t[-1] - t) / 0.02)
    return (0.3 * tone * envelope).astype(np.float32)


NOTES = [(0.5, 220.0, 1.5), (6.0, 330.0, 1.0), (7.6, 247.0, 1.2), (14.0, 196.0, 2.0), (21.0, 294.0, 1.0)]


def sparse_song() -> np.ndarray:
    audio = np.zeros((2, 23 * SR), np.float32)
    for start, freq, seconds in NOTES:
        n = note(freq, seconds)
        audio[:, round(start * SR) : round(start * SR) + n.size] = n
    return audio


def onset(x: np.ndarray, near: int) -> int:
    """Where the envelope first reaches half of its peak, within 50 ms before and 100 ms after ``near``."""
    env = np.abs(x[:, near - SR // 20 : near + SR // 10]).max(axis=0)
    return near - SR // 20 + int(np.argmax(env >= 0.5 * env.max()))


@pytest.mark.skipif(stemhost.engine.stretch.engine() != "rubberband", reason="needs the rubberband command")
@pytest.mark.parametrize(("semitones", "tempo"), [(2.0, 1.0), (-5.0, 0.85), (3.0, 1.2)])
def test_regions_match_the_whole_stem_in_pitch_onsets_and_silence(monkeypatch, semitones, tempo):
    audio = sparse_song()
    settings = StretchSettings(semitones, tempo, vocal=False)
    regions = stretch(audio, SR, settings)
    monkeypatch.setattr(
        stemhost.engine.stretch, "stretch_sounding", lambda audio, rate, tempo, render, groups: render(audio)
    )
    whole = stretch(audio, SR, settings)
    assert regions.shape == whole.shape == (2, round(audio.shape[1] / tempo))
    for start, freq, seconds in NOTES:
        at = round(start * SR / tempo)
        target = freq * 2 ** (semitones / 12)
        middle = slice(at + round(0.1 * SR / tempo), at + round(0.6 * seconds * SR / tempo))
        cents = [1200 * math.log2(peak_hz(x[0, middle], target, size=1 << 20) / target) for x in (regions, whole)]
        assert max(map(abs, cents)) <= 5, f"note at {start} s: {cents} cents"
        assert abs(cents[0] - cents[1]) <= 1
        ms = [(onset(x, at) - start * SR / tempo) / SR * 1000 for x in (regions, whole)]
        assert abs(ms[0] - ms[1]) <= 1.0, f"note at {start} s: onsets {ms} ms"
    # silence where the source is silent: exact zeros beyond the pads, and no step at a region's edges
    source_regions = sounding_regions(audio, SR, tempo)
    covered = np.zeros(regions.shape[1], bool)
    for start, end in source_regions:
        a, b = round(start / tempo), round(end / tempo)
        covered[a:b] = True
        edge = round(PAD_S * SR / 2)  # half the pad: beyond Rubber Band's smear (at most 113 ms measured)
        assert np.abs(regions[:, a : a + edge]).max() <= 1e-5 or start == 0
        assert np.abs(regions[:, b - edge : b]).max() <= 1e-5 or end == audio.shape[1]
    assert not regions[:, ~covered].any()
    assert covered.mean() < 0.8
