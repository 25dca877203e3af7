"""Fixture generators: stems and sessions written into tmp_path, never checked-in binaries."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile


def tone(freq: float, seconds: float, sample_rate: int = 48000, channels: int = 1, level: float = 0.25) -> np.ndarray:
    """A sine as ``(channels, frames)`` float32; the right channel a fifth up so channels differ."""
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    rows = [level * np.sin(2 * np.pi * freq * (1.5 if c else 1.0) * t) for c in range(channels)]
    return np.asarray(rows, dtype=np.float32)


def noise(seconds: float, sample_rate: int = 48000, channels: int = 1, level: float = 0.1, seed: int = 1) -> np.ndarray:
    """Deterministic white noise as ``(channels, frames)`` float32."""
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal((channels, round(seconds * sample_rate)))).astype(np.float32)


def peak_hz(x: np.ndarray, near: float, sample_rate: int = 48000, size: int = 1 << 21) -> float:
    """The spectral peak of 1-D ``x`` within a semitone of ``near``, parabola-interpolated (hundredths of a Hz)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), size))
    hz = np.fft.rfftfreq(size, 1 / sample_rate)
    band = np.flatnonzero((hz > near * 2 ** (-1 / 12)) & (hz < near * 2 ** (1 / 12)))
    k = band[np.argmax(spectrum[band])]
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return float(hz[k] + (a - c) / (2 * (a - 2 * b + c)) * (hz[1] - hz[0]))


def write_audio(path: Path, audio: np.ndarray, sample_rate: int = 48000, subtype: str | None = "FLOAT") -> Path:
    """Write ``(channels, frames)`` audio; float WAV by default so it reads back bit for bit."""
    if path.suffix.lower() in (".ogg", ".mp3"):
        subtype = None
    soundfile.write(str(path), audio.T, sample_rate, subtype=subtype)
    return path


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """Read a file as ``(channels, frames)`` float32 and its rate."""
    data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T), rate


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root: its kind, mode, and content hash (files) or target (links)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            found[str(path.relative_to(root))] = ("link", os.readlink(path))
        elif path.is_dir():
            found[str(path.relative_to(root))] = ("dir", info.st_mode)
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = ("file", info.st_mode, digest)
    return found


def write_session(folder: Path, data: dict, name: str = "session.json") -> Path:
    path = folder / name
    path.write_text(json.dumps(data, indent=2))
    return path


@pytest.fixture
def make_stem(tmp_path: Path):
    """make_stem(name, audio=None, freq=440, seconds=1, sample_rate=48000, channels=1, ext='.wav') → file name."""

    def make(
        name: str,
        audio: np.ndarray | None = None,
        freq: float = 440.0,
        seconds: float = 1.0,
        sample_rate: int = 48000,
        channels: int = 1,
        ext: str = ".wav",
    ) -> str:
        if audio is None:
            audio = tone(freq, seconds, sample_rate, channels)
        write_audio(tmp_path / f"{name}{ext}", audio, sample_rate)
        return f"{name}{ext}"

    return make


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """Keep the stem cache and the journals of temporary files of every test run out of the user's folders."""
    import os

    os.environ["STEMHOST_CACHE_DIR"] = str(tmp_path_factory.mktemp("stem-cache"))
    os.environ["STEMHOST_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))


@pytest.fixture(scope="session")
def jack_device():
    """The JACK server's device ('system') as stemhost sees it: the clocked audio device of the live tests.

    scripts/test starts ``jackd -d dummy -r 48000 -p 256`` and sets STEMHOST_LIVE_TESTS=required, so a
    missing server fails these tests there; elsewhere they are skipped when no server answers.
    """
    import os
    import subprocess

    from stemhost.errors import DeviceError
    from stemhost.live.devices import find_device

    running = subprocess.run(["jack_lsp"], capture_output=True).returncode == 0 if _has("jack_lsp") else False
    try:
        if not running:
            raise DeviceError("no JACK server answers (start: jackd --no-realtime -d dummy -r 48000 -p 256)")
        return find_device("system")
    except DeviceError as exc:
        if os.environ.get("STEMHOST_LIVE_TESTS") == "required":
            pytest.fail(f"live tests need a JACK server: {exc}")
        pytest.skip(f"live tests need a JACK server: {exc}")


def _has(program: str) -> bool:
    import shutil

    return shutil.which(program) is not None


def claim_unbounded_length(path: Path) -> Path:
    """Patch a WAV's RIFF and data chunk sizes to 0xFFFFFFFF, as ``ffmpeg -f wav -`` writes them to a pipe.

    The file then claims far more data than it holds: pedalboard reports 2,147,483,647 frames,
    libsndfile the frames actually present.
    """
    data = bytearray(path.read_bytes())
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", f"{path} is not a RIFF WAV"
    data[4:8] = b"\xff\xff\xff\xff"
    at = 12
    while data[at : at + 4] != b"data":
        at += 8 + int.from_bytes(data[at + 4 : at + 8], "little")
        at += at & 1
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    return path


def claim_flac_length(path: Path, frames: int) -> Path:
    """Patch a FLAC's STREAMINFO total-samples field (36 bits) to claim ``frames``; libsndfile believes it."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0, f"{path} does not start with STREAMINFO"
    info = int.from_bytes(data[8:42], "big")  # the 34-byte STREAMINFO block; total samples end 128 bits from its end
    info &= ~(((1 << 36) - 1) << 128 | ((1 << 128) - 1))  # clear the count and the MD5, which would contradict it
    data[8:42] = (info | frames << 128).to_bytes(34, "big")
    path.write_bytes(bytes(data))
    return path


@pytest.fixture(scope="session")
def test_plugin_folder() -> Path:
    """The folder holding stemhost's five test VST3 bundles (StemhostGain, StemhostLatency, StemhostMono,
    StemhostAbort, StemhostHang), built from tests/plugins/ when their sources change (tests/plugin_builds.py).

    scripts/test sets STEMHOST_PLUGIN_TESTS=required, so a machine without g++ or dpf-source fails these tests
    there; elsewhere they are skipped.
    """
    from plugin_builds import build_test_plugins, missing_tools

    missing = missing_tools()
    if missing:
        reason = f"the test plugins need {' and '.join(missing)} (scripts/install test installs them)"
        if os.environ.get("STEMHOST_PLUGIN_TESTS") == "required":
            pytest.fail(reason)
        pytest.skip(reason)
    return build_test_plugins()


def without_steps(err: str) -> str:
    """stderr without the lines of steps a run without a terminal prints as it goes (``reading bass (1/5)…``,
    ``done in 1.2 s``): the messages a test checks."""
    lines = err.splitlines(keepends=True)
    return "".join(
        line for line in lines if not line.rstrip().endswith("…") and not line.startswith(("done in ", "stopped in "))
    )
