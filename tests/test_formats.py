"""Every input and output format, bit depths, dither, output resampling and the loudness meter."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest
import soundfile

from stemhost.render.driver import RenderOptions, render_session
from stemhost.render.meter import LoudnessMeter
from stemhost.session.model import Session

from conftest import noise, read_audio, tone, write_audio, write_session

SR = 48000


def render_file(tmp_path, data, out, **options):
    path = write_session(tmp_path, data)
    options.setdefault("tail_s", 0.0)
    return render_session(Session.model_validate(data), path, tmp_path / out, RenderOptions(**options))


def song(tmp_path, seconds=1.0):
    x = tone(440, seconds, channels=2, level=0.3) + noise(seconds, channels=2, level=0.02)
    write_audio(tmp_path / "a.wav", x)
    return x, {"stems": [{"name": "a", "file": "a.wav"}]}


@pytest.mark.parametrize("ext", [".wav", ".flac", ".aiff", ".ogg", ".mp3"])
def test_every_input_format_reads_sample_aligned(tmp_path, ext):
    x = np.zeros((1, SR), np.float32)
    x[0, 20000] = 0.9
    x += tone(220, 1.0, level=0.1)
    write_audio(tmp_path / f"in{ext}", x, subtype="PCM_24" if ext in (".wav", ".flac", ".aiff") else None)
    render_file(tmp_path, {"stems": [{"name": "s", "file": f"in{ext}"}]}, "out.wav", bit_depth="32f")
    out, _ = read_audio(tmp_path / "out.wav")
    assert abs(out.shape[1] - SR) <= (0 if ext in (".wav", ".flac", ".aiff") else 1152)
    if ext in (".wav", ".flac", ".aiff"):
        np.testing.assert_allclose(out[0], x[0] * math.sqrt(0.5), atol=1e-6)
    else:  # lossy: the click must land on the same sample (MP3 decoded sample-exact, no encoder delay)
        assert abs(int(np.argmax(out[0])) - 20000) <= 1


@pytest.mark.parametrize(
    ("ext", "bit_depth", "subtype"),
    [
        (".wav", None, "PCM_24"),
        (".wav", "16", "PCM_16"),
        (".wav", "32f", "FLOAT"),
        (".flac", None, "PCM_24"),
        (".flac", "16", "PCM_16"),
        (".aiff", None, "PCM_24"),
        (".aiff", "32f", "FLOAT"),
    ],
)
def test_pcm_outputs_read_back_at_their_bit_depth(tmp_path, ext, bit_depth, subtype):
    x, data = song(tmp_path)
    render_file(tmp_path, data, f"out{ext}", bit_depth=bit_depth)
    assert soundfile.info(str(tmp_path / f"out{ext}")).subtype == subtype
    out, rate = read_audio(tmp_path / f"out{ext}")
    assert rate == SR and out.shape == x.shape
    tolerance = {"PCM_16": 2.5 / 32768, "PCM_24": 1.0 / 2**23, "FLOAT": 1e-7}[subtype]
    np.testing.assert_allclose(out, x, atol=tolerance)


@pytest.mark.parametrize("ext", [".ogg", ".mp3"])
def test_lossy_outputs_line_up_with_the_wav_within_one_ms(tmp_path, ext):
    x = np.zeros((2, SR), np.float32)
    x[:, 24000] = 0.8
    x += tone(300, 1.0, channels=2, level=0.1)
    write_audio(tmp_path / "a.wav", x)
    render_file(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, f"out{ext}")
    out, rate = read_audio(tmp_path / f"out{ext}")
    assert rate == SR
    assert abs(out.shape[1] - SR) <= SR // 1000 + 1152
    assert abs(int(np.argmax(np.abs(out[0]))) - 24000) <= SR // 1000


def test_16_bit_output_is_tpdf_dithered(tmp_path):
    x = tone(1000, 1.0, channels=2, level=10 ** (-60 / 20))  # a quiet sine, a few LSBs tall
    write_audio(tmp_path / "a.wav", x)
    render_file(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, "out.wav", bit_depth="16")
    out, _ = read_audio(tmp_path / "out.wav")
    error = (out - x) * 32768
    assert np.max(np.abs(error)) <= 1.6  # rounding plus TPDF noise of ±1 LSB
    assert np.var(error) == pytest.approx(1 / 12 + 1 / 6, rel=0.1)  # rounding + triangular noise power
    assert abs(np.corrcoef(error[0], x[0])[0, 1]) < 0.05  # the error does not follow the signal


def test_renders_are_reproducible_with_dither(tmp_path):
    _, data = song(tmp_path)
    render_file(tmp_path, data, "one.wav", bit_depth="16")
    render_file(tmp_path, data, "two.wav", bit_depth="16", block_size=333)
    assert (tmp_path / "one.wav").read_bytes() == (tmp_path / "two.wav").read_bytes()


@pytest.mark.parametrize("out_rate", [44100, 96000])
def test_sample_rate_option_converts_the_output(tmp_path, out_rate):
    x = tone(1000, 1.0, channels=2, level=0.3)
    write_audio(tmp_path / "a.wav", x)
    result = render_file(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, "out.wav", sample_rate=out_rate)
    out, rate = read_audio(tmp_path / "out.wav")
    assert rate == out_rate == result.sample_rate
    assert out.shape[1] == out_rate
    spectrum = np.abs(np.fft.rfft(out[0] * np.hanning(out.shape[1])))
    assert np.argmax(spectrum) * out_rate / out.shape[1] == pytest.approx(1000, abs=1.5)
    assert np.max(np.abs(out[0, 1000:-1000])) == pytest.approx(0.3, abs=0.005)


@pytest.mark.parametrize("channels", [1, 2])
def test_streaming_meter_agrees_with_pyloudnorm(channels):
    x = noise(5.0, channels=channels, level=0.1) * np.linspace(0.2, 1.0, 5 * SR, dtype=np.float32)
    meter = LoudnessMeter(channels, SR)
    for start in range(0, x.shape[1], 4096):
        meter.add(x[:, start : start + 4096])
    reference = pyloudnorm.Meter(SR).integrated_loudness(x.T.astype(np.float64))
    assert meter.integrated_lufs == pytest.approx(reference, abs=0.1)
    assert meter.peak_dbfs == pytest.approx(20 * np.log10(np.max(np.abs(x))), abs=1e-3)


def test_summary_figures_match_the_written_file(tmp_path):
    _, data = song(tmp_path, 3.0)
    result = render_file(tmp_path, data, "out.wav", bit_depth="32f")
    out, _ = read_audio(tmp_path / "out.wav")
    assert result.frames == out.shape[1]
    assert result.peak_dbfs == pytest.approx(20 * np.log10(np.max(np.abs(out))), abs=1e-3)
    assert result.loudness_lufs == pytest.approx(
        pyloudnorm.Meter(SR).integrated_loudness(out.T.astype(np.float64)), abs=0.1
    )


def test_master_clipping_is_reported_with_the_loudest_stem_and_time(tmp_path):
    x = tone(100, 1.0, channels=2, level=0.5)
    y = tone(200, 1.0, channels=2, level=0.05)
    write_audio(tmp_path / "loud.wav", x)
    write_audio(tmp_path / "soft.wav", y)
    data = {"stems": [{"name": "loud", "file": "loud.wav", "gain_db": 9}, {"name": "soft", "file": "soft.wav"}]}
    result = render_file(tmp_path, data, "out.wav", bit_depth="32f")
    assert result.clips.samples > 0
    assert result.clips.loudest_stems()[0] == "loud"
    assert 0 <= result.clips.first_s < 0.01


@pytest.mark.parametrize(("mode", "low_kbps", "high_kbps"), [("cbr320", 315, 330), ("v0", 180, 300), ("v2", 120, 230)])
def test_mp3_modes_encode_at_their_bitrates_and_stay_aligned(tmp_path, mode, low_kbps, high_kbps):
    x = np.zeros((2, 10 * SR), np.float32)
    x[:, 5 * SR] = 0.8
    x += noise(10.0, channels=2, level=0.1)
    write_audio(tmp_path / "a.wav", x)
    render_file(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, "o.mp3", mp3_mode=mode)
    kbps = (tmp_path / "o.mp3").stat().st_size * 8 / 10 / 1000
    assert low_kbps <= kbps <= high_kbps
    out, _ = read_audio(tmp_path / "o.mp3")
    assert abs(int(np.argmax(np.abs(out[0]))) - 5 * SR) <= SR // 1000


def test_v0_is_bigger_than_v2(tmp_path):
    write_audio(tmp_path / "a.wav", noise(5.0, channels=2, level=0.1))
    data = {"stems": [{"name": "a", "file": "a.wav"}]}
    render_file(tmp_path, data, "v0.mp3", mp3_mode="v0")
    render_file(tmp_path, data, "v2.mp3", mp3_mode="v2")
    assert (tmp_path / "v0.mp3").stat().st_size > 1.15 * (tmp_path / "v2.mp3").stat().st_size


@pytest.mark.parametrize(("out", "mode", "message"), [("o.wav", "v0", "--mp3 v0: the output is WAV, not MP3")])
def test_mp3_mode_on_another_format_is_an_error(tmp_path, out, mode, message):
    from stemhost.errors import OutputError

    write_audio(tmp_path / "a.wav", noise(0.5, channels=2))
    with pytest.raises(OutputError, match=message):
        render_file(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, out, mp3_mode=mode)
    assert not (tmp_path / out).exists()


@pytest.mark.parametrize("ext", [".wav", ".flac", ".aiff", ".ogg", ".mp3"])
def test_title_artist_key_and_tempo_are_tagged_where_the_format_has_them(tmp_path, ext):
    import mutagen

    write_audio(tmp_path / "a.wav", noise(1.0, channels=2))
    data = {
        "stems": [{"name": "a", "file": "a.wav"}],
        "title": "Silver Sand",
        "artist": "The Stems",
        "key": "A major",
        "bpm": 100,
        "key_shift": -3,
        "tempo": 0.9,
    }
    render_file(tmp_path, data, f"o{ext}")
    with soundfile.SoundFile(str(tmp_path / f"o{ext}")) as f:
        assert (f.title, f.artist) == ("Silver Sand", "The Stems")
        comment = f.comment
    if ext in (".wav", ".aiff"):
        assert comment == "key F# major, bpm 90"
    elif ext == ".mp3":
        tags = mutagen.File(str(tmp_path / f"o{ext}")).tags
        assert (str(tags["TKEY"]), str(tags["TBPM"])) == ("F#", "90")  # ID3: three characters at most
    else:
        tags = mutagen.File(str(tmp_path / f"o{ext}"))
        assert (tags["KEY"], tags["BPM"]) == (["F#"], ["90"])  # as Picard maps KEY to TKEY


@pytest.mark.parametrize("block", [512, 4096, 65536])
def test_float_stems_read_the_same_numbers_whichever_reader_the_block_size_picks(tmp_path, block):
    """libsndfile reads float files in large blocks (faster there), pedalboard in small ones (live playback)."""
    import pedalboard

    from stemhost.engine.sources import LARGE_READ, SoundFileReader, StemSource, probe

    audio = noise(2.3, channels=2, seed=7)
    soundfile.write(str(tmp_path / "f.wav"), audio.T, 48000, subtype="FLOAT")
    source = StemSource(probe(tmp_path / "f.wav", "f"), 48000, "f", "f", block)
    expected = SoundFileReader if block >= LARGE_READ else pedalboard.io.ReadableAudioFile
    assert isinstance(source._file, expected)
    read = np.concatenate([source.read(block) for _ in range(-(-audio.shape[1] // block))], axis=1)
    np.testing.assert_array_equal(read[:, : audio.shape[1]], audio)
    assert not read[:, audio.shape[1] :].any()
