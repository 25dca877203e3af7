"""Files that lie: headers that claim more than the file holds, stems that change while they are read, NaN in
impulse responses. Each is read by what it holds, or refused with one `error:` line; memory never follows a lie."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pedalboard
import pytest
import soundfile

import stemhost.engine.sources
from stemhost.cli.main import main
from stemhost.engine.plugins import build_plugin
from stemhost.engine.sources import StemSource, probe, read_impulse_response, read_stem
from stemhost.errors import AudioFileError
from stemhost.render.driver import RenderOptions, render_session
from stemhost.session.effects import Convolution
from stemhost.session.model import Session

from conftest import claim_flac_length, claim_unbounded_length, noise, read_audio, tone, write_audio, write_session

SR = 48000
MEMORY_LIMIT = 2 << 30  # bytes of address space for the subprocess renders: a lying header must not need more


def decaying_noise(seconds: float, channels: int = 2, sample_rate: int = SR) -> np.ndarray:
    """An impulse-response-like decay as ``(channels, frames)`` float32."""
    audio = noise(seconds, sample_rate, channels, level=0.3, seed=7)
    return (audio * np.exp(-np.arange(audio.shape[1]) / (0.05 * sample_rate))).astype(np.float32)


def lying_wav(path: Path, audio: np.ndarray, subtype: str = "PCM_16") -> Path:
    """A WAV holding ``audio`` whose header claims 0xFFFFFFFF bytes of data (16-bit, as ffmpeg pipes it)."""
    return claim_unbounded_length(write_audio(path, audio, SR, subtype))


def one_stem(folder: Path, stem: str, chain: list | None = None) -> Path:
    return write_session(folder, {"stems": [{"name": "vox", "file": stem, "chain": chain or []}]})


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_error_line(status: int, err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "internal error" not in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert status == 1


def leftovers(folder: Path) -> list[str]:
    """Temporary files and folders a render left behind."""
    return sorted(p.name for p in folder.rglob(".*") if p.name.endswith(".part") or p.name.startswith(".stemhost-"))


def render_limited(session: Path, output: Path, *args: str) -> subprocess.CompletedProcess:
    """``stemhost render`` in a subprocess whose address space is limited: a runaway allocation fails, not the host."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    argv = [sys.executable, "-m", "stemhost.cli.main", "render", str(session), "-o", str(output), "--bit-depth", "32f"]
    return subprocess.run(
        [*argv, *args], preexec_fn=limit, capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )


# ---------------------------------------------------------------------------------------------------------------
# A header that claims more data than the file holds (ffmpeg writing WAV to a pipe)


def test_lying_header_stem_renders_the_frames_it_holds_whatever_the_block_size(tmp_path: Path) -> None:
    audio = noise(1.0, SR, channels=2, level=0.25)
    lying_wav(tmp_path / "piped.wav", audio)
    write_audio(tmp_path / "honest.wav", audio, SR, "PCM_16")
    outputs = {}
    for stem, block_size in [("honest.wav", 4096), ("piped.wav", 4096), ("piped.wav", 65536)]:
        session = one_stem(tmp_path, stem)
        output = tmp_path / f"{stem}-{block_size}.wav"
        render_session(
            Session.model_validate_json(session.read_text()),
            session,
            output,
            RenderOptions(bit_depth="32f", tail_s=0.0, block_size=block_size),
        )
        outputs[stem, block_size] = read_audio(output)[0]

    assert outputs["piped.wav", 4096].shape == (2, 48000)
    np.testing.assert_array_equal(outputs["piped.wav", 4096], outputs["piped.wav", 65536])
    # pedalboard reads 16-bit samples / 32767, libsndfile / 32768: the same audio within that scale
    np.testing.assert_allclose(outputs["piped.wav", 4096], outputs["honest.wav", 4096], rtol=0, atol=1e-4)


def test_lying_header_stem_is_read_whole_by_what_it_holds(tmp_path: Path) -> None:
    audio = noise(1.0, SR, channels=2, level=0.25)
    lying_wav(tmp_path / "piped.wav", audio, "FLOAT")

    read, rate = read_stem(tmp_path / "piped.wav", "session.json: stems[0].file")

    assert rate == SR
    np.testing.assert_array_equal(read, audio)


@pytest.mark.parametrize("what", ["stem", "impulse_response"])
def test_lying_header_renders_under_a_memory_limit(tmp_path: Path, what: str) -> None:
    """A 96 KB WAV claiming 4 GB of data once took 24 GB as an impulse response and the kernel killed stemhost."""
    stem, ir = noise(1.0, SR, channels=2, level=0.25), decaying_noise(0.5)
    write_audio(tmp_path / "stem.wav", stem, SR, "FLOAT")
    write_audio(tmp_path / "ir.wav", ir, SR, "FLOAT")
    lying_wav(tmp_path / f"piped-{what}.wav", stem if what == "stem" else ir, "FLOAT")
    chain = [{"type": "Convolution", "impulse_response_filename": "ir.wav", "mix": 0.5}]
    honest = one_stem(tmp_path, "stem.wav", chain)
    main(["render", str(honest), "-o", str(tmp_path / "honest.wav"), "--bit-depth", "32f"])
    if what == "stem":
        session = one_stem(tmp_path, "piped-stem.wav", chain)
    else:
        session = one_stem(
            tmp_path, "stem.wav", [{**chain[0], "impulse_response_filename": "piped-impulse_response.wav"}]
        )

    proc = render_limited(session, tmp_path / "mix.wav")

    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    np.testing.assert_array_equal(read_audio(tmp_path / "mix.wav")[0], read_audio(tmp_path / "honest.wav")[0])


@pytest.mark.parametrize("key_shift", [0, 1], ids=["streamed", "read-whole-to-shift"])
def test_flac_claiming_days_is_read_by_what_it_holds(tmp_path: Path, key_shift: int) -> None:
    """libsndfile believes a FLAC's length field (2**35 frames: 128 GiB of float32); pedalboard does not."""
    audio = noise(1.0, SR, channels=1, level=0.25)
    write_audio(tmp_path / "honest.flac", audio, SR, "PCM_16")
    claim_flac_length(write_audio(tmp_path / "lying.flac", audio, SR, "PCM_16"), 1 << 35)
    assert soundfile.info(str(tmp_path / "lying.flac")).frames == 1 << 35
    for name in ("honest", "lying"):
        write_session(
            tmp_path, {"stems": [{"name": "vox", "file": f"{name}.flac", "key_shift": key_shift}]}, f"{name}.json"
        )

    proc = render_limited(tmp_path / "lying.json", tmp_path / "lying.wav", "--tail", "0")
    main(
        [
            "render",
            str(tmp_path / "honest.json"),
            "-o",
            str(tmp_path / "honest.wav"),
            "--bit-depth",
            "32f",
            "--tail",
            "0",
        ]
    )

    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    lying, honest = read_audio(tmp_path / "lying.wav")[0], read_audio(tmp_path / "honest.wav")[0]
    assert lying.shape == (2, 48000)
    np.testing.assert_allclose(lying, honest, rtol=0, atol=1e-4)  # 16-bit: libsndfile / 32768, pedalboard / 32767


# ---------------------------------------------------------------------------------------------------------------
# Impulse responses: read by stemhost, as pedalboard would read them, checked before use


@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16", "PCM_24"])
@pytest.mark.parametrize(("channels", "rate", "frames"), [(1, 48000, 14400), (2, 44100, 14400), (2, 48000, 2)])
def test_impulse_response_sounds_as_pedalboard_reading_the_file(
    tmp_path: Path, subtype: str, channels: int, rate: int, frames: int
) -> None:
    write_audio(tmp_path / "ir.wav", decaying_noise(frames / rate, channels, rate), rate, subtype)
    signal = noise(1.0, SR, channels=2, level=0.2)
    effect = Convolution(type="Convolution", impulse_response_filename="ir.wav", mix=0.7)

    ours = build_plugin(effect, base_dir=tmp_path, sample_rate=SR, where="session.json: master.chain[0]")
    theirs = pedalboard.Convolution(str(tmp_path / "ir.wav"), mix=0.7)

    np.testing.assert_array_equal(ours(signal, SR), theirs(signal, SR))


IR_FORMATS = [("ir.wav", "FLOAT"), ("ir.wav", "DOUBLE"), ("ir.aiff", "FLOAT"), ("ir.caf", "FLOAT")]


@pytest.mark.parametrize("output", ["mix.wav", "mix.flac", "mix.mp3"])
@pytest.mark.parametrize(("name", "subtype"), IR_FORMATS, ids=[f"{n}-{s}" for n, s in IR_FORMATS])
@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "infinite")])
def test_non_finite_impulse_response_is_one_error_and_writes_nothing(
    tmp_path: Path, capsys, name: str, subtype: str, value: float, kind: str, output: str
) -> None:
    ir = decaying_noise(0.5)
    ir[1, 12000] = value
    write_audio(tmp_path / name, ir, SR, subtype)
    write_audio(tmp_path / "stem.wav", noise(1.0, SR, channels=2))
    session = one_stem(tmp_path, "stem.wav", [{"type": "Convolution", "impulse_response_filename": name}])
    (tmp_path / "out").mkdir()

    status, out, err = cli(capsys, "render", session, "-o", tmp_path / "out" / output)

    one_error_line(status, err, "stems[0].chain[0].impulse_response_filename", name, kind, "0:00.250", "frame 12000")
    assert list((tmp_path / "out").iterdir()) == []
    assert leftovers(tmp_path) == []


def test_impulse_response_longer_than_the_limit_is_refused(tmp_path: Path, capsys) -> None:
    rate = 8000
    write_audio(tmp_path / "ir.wav", np.zeros((1, round(61 * rate)), np.float32), rate)
    write_audio(tmp_path / "stem.wav", noise(1.0, SR))
    session = one_stem(tmp_path, "stem.wav", [{"type": "Convolution", "impulse_response_filename": "ir.wav"}])

    status, _, err = cli(capsys, "render", session, "-o", tmp_path / "mix.wav")

    one_error_line(status, err, "stems[0].chain[0].impulse_response_filename", "ir.wav", "1:01.000", "60 s")
    assert not (tmp_path / "mix.wav").exists()


# ---------------------------------------------------------------------------------------------------------------
# Whole-file reads check the memory they need before they take it


def test_whole_stem_read_refuses_what_memory_cannot_hold(tmp_path: Path, monkeypatch) -> None:
    write_audio(tmp_path / "long.wav", noise(2.0, SR, channels=2))
    monkeypatch.setattr(stemhost.engine.sources, "available_memory", lambda: 1 << 20)

    with pytest.raises(AudioFileError, match=r"stems\[0\]\.file: '.*long\.wav' does not fit in memory .* 1\.0 MiB"):
        read_stem(tmp_path / "long.wav", "session.json: stems[0].file")


def test_impulse_response_read_refuses_what_memory_cannot_hold(tmp_path: Path, monkeypatch) -> None:
    write_audio(tmp_path / "ir.wav", decaying_noise(2.0))
    monkeypatch.setattr(stemhost.engine.sources, "available_memory", lambda: 1 << 20)

    with pytest.raises(AudioFileError, match=r"impulse_response_filename: '.*ir\.wav' does not fit in memory"):
        read_impulse_response(tmp_path / "ir.wav", "session.json: master.chain[0].impulse_response_filename")


# ---------------------------------------------------------------------------------------------------------------
# A stem that changes while it is read


def truncate_after_first_block(path: Path):
    """A progress callback that cuts a file to its header and a few frames once the render has begun."""
    calls = []

    def progress(done_s: float, expected_s: float) -> None:
        calls.append(done_s)
        if len(calls) == 1:
            os.truncate(path, 4096)

    return progress


@pytest.mark.parametrize("stem_rate", [48000, 44100])
@pytest.mark.parametrize("subtype", ["FLOAT", "PCM_16"])
def test_stem_truncated_while_rendering_is_an_error(tmp_path: Path, subtype: str, stem_rate: int) -> None:
    write_audio(tmp_path / "vox.wav", noise(3.0, stem_rate, channels=2), stem_rate, subtype)
    session = one_stem(tmp_path, "vox.wav")

    with pytest.raises(AudioFileError, match=r"stems\[0\]\.file: stem 'vox': '.*vox\.wav' changed while being read"):
        render_session(
            Session.model_validate_json(session.read_text()),
            session,
            tmp_path / "mix.wav",
            RenderOptions(bit_depth="32f", block_size=4096),
            progress=truncate_after_first_block(tmp_path / "vox.wav"),
        )
    assert not (tmp_path / "mix.wav").exists()
    assert leftovers(tmp_path) == []


def test_stem_rewritten_while_rendering_is_an_error(tmp_path: Path) -> None:
    """Same size, other audio: only the file's modification time tells."""
    write_audio(tmp_path / "vox.wav", noise(3.0, SR, channels=2, seed=1))
    session = one_stem(tmp_path, "vox.wav")
    other = noise(3.0, SR, channels=2, seed=2)

    def rewrite(done_s: float, expected_s: float) -> None:
        if done_s < 0.1:
            with soundfile.SoundFile(str(tmp_path / "vox.wav"), "r+") as f:
                f.seek(0)
                f.write(other.T)

    with pytest.raises(AudioFileError, match="changed while being read"):
        render_session(
            Session.model_validate_json(session.read_text()),
            session,
            tmp_path / "mix.wav",
            RenderOptions(bit_depth="32f", block_size=4096),
            progress=rewrite,
        )


def test_a_source_says_done_only_after_counting_its_last_frames(tmp_path: Path, monkeypatch) -> None:
    """The graph reads done and frames_out from another thread: done must never run ahead of the count."""
    write_audio(tmp_path / "a.wav", tone(440, 1.5))
    source = StemSource(probe(tmp_path / "a.wav", "s.json: stems[0].file"), 48000, "a", "s.json: stems[0].file")
    seen = []
    monkeypatch.setattr(
        stemhost.engine.sources, "check_unchanged", lambda *_: seen.append((source.done, source.frames_out))
    )
    source.read(65536)
    source.read(65536)
    assert seen == [(False, 65536)], "the last block is read, not yet counted: not done"
    assert source.done and source.frames_out == 72000
