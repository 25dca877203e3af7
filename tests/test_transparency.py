"""Bit-transparent at unity: integer PCM is read and written on libsndfile's scale (2^(bits-1)), as DAWs do."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.files import load_session

from conftest import noise, read_audio, write_session


def pcm_stem(folder, name, subtype, ext=".wav", seed=1):
    """A stereo stem at full scale, with the most negative sample in it (pedalboard read it as -1.0000305)."""
    audio = np.clip(noise(0.5, channels=2, level=0.5, seed=seed), -1, 1)
    audio[:, :4] = [[-1.0, 1.0, -1.0, 0.999], [1.0, -1.0, 0.5, -1.0]]
    soundfile.write(str(folder / f"{name}{ext}"), audio.T, 48000, subtype=subtype)
    return f"{name}{ext}"


def render(folder, stems, out, **options):
    path = write_session(folder, {"stems": stems})
    render_session(load_session(path), path, folder / out, RenderOptions(tail_s=0.0, **options))
    return folder / out


@pytest.mark.parametrize(("subtype", "ext"), [("PCM_16", ".wav"), ("PCM_24", ".wav"), ("PCM_16", ".aiff"),
                                              ("PCM_24", ".flac"), ("PCM_U8", ".wav")])  # fmt: skip
def test_a_unity_render_of_a_pcm_stem_to_32f_equals_the_decoded_source_exactly(tmp_path, subtype, ext):
    file = pcm_stem(tmp_path, "a", subtype, ext)
    out = render(tmp_path, [{"name": "a", "file": file}], "mix.wav", bit_depth="32f")
    source, _ = soundfile.read(str(tmp_path / file), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(read_audio(out)[0], source.T)


def test_the_sum_of_a_pcm16_and_a_pcm24_stem_is_the_sum_of_the_decoded_sources(tmp_path):
    stems = [
        {"name": "a", "file": pcm_stem(tmp_path, "a", "PCM_16")},
        {"name": "b", "file": pcm_stem(tmp_path, "b", "PCM_24", seed=2)},
    ]
    out = render(tmp_path, stems, "mix.wav", bit_depth="32f")
    a, _ = soundfile.read(str(tmp_path / "a.wav"), dtype="float32", always_2d=True)
    b, _ = soundfile.read(str(tmp_path / "b.wav"), dtype="float32", always_2d=True)
    np.testing.assert_array_equal(read_audio(out)[0], (a + b).T)


def test_a_pcm16_stem_rendered_to_24_bit_is_its_samples_times_256(tmp_path):
    file = pcm_stem(tmp_path, "a", "PCM_16")
    out = render(tmp_path, [{"name": "a", "file": file}], "mix.wav", bit_depth="24")
    source, _ = soundfile.read(str(tmp_path / file), dtype="int16", always_2d=True)
    written, _ = soundfile.read(str(out), dtype="int32", always_2d=True)
    np.testing.assert_array_equal(written >> 8, source.astype(np.int32) * 256)


def test_an_unpitched_pcm_stem_under_a_key_change_equals_its_decoded_source(tmp_path):
    stems = [{"name": "d", "file": pcm_stem(tmp_path, "d", "PCM_16"), "role": "drums"}]
    path = write_session(tmp_path, {"stems": stems, "key_shift": -3})
    render_session(load_session(path), path, tmp_path / "mix.wav", RenderOptions(tail_s=0.0, bit_depth="32f"))
    source, _ = soundfile.read(str(tmp_path / "d.wav"), dtype="float32", always_2d=True)
    np.testing.assert_allclose(read_audio(tmp_path / "mix.wav")[0], source.T, rtol=0, atol=1e-7)


def test_a_16_bit_render_of_a_16_bit_stem_stays_within_its_dither(tmp_path):
    """TPDF dither moves a sample by at most one step; on the same scale the source's own steps survive."""
    file = pcm_stem(tmp_path, "a", "PCM_16")
    out = render(tmp_path, [{"name": "a", "file": file}], "mix.wav", bit_depth="16")
    source, _ = soundfile.read(str(tmp_path / file), dtype="int16", always_2d=True)
    written, _ = soundfile.read(str(out), dtype="int16", always_2d=True)
    assert np.max(np.abs(written.astype(np.int32) - source)) <= 1
