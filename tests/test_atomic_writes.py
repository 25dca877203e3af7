"""What the user sees around the file system: read-only folders, Ctrl-C mid-render, the progress bar."""

from __future__ import annotations

import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import noise, write_audio, write_session

STEMHOST = str(Path(sys.executable).parent / "stemhost")


def long_session(folder: Path, seconds: float = 60.0) -> Path:
    write_audio(folder / "a.wav", noise(seconds, channels=2, level=0.1), subtype="PCM_16")
    chain = [{"type": "Reverb"}, {"type": "Chorus"}, {"type": "Phaser"}, {"type": "Compressor", "ratio": 4}]
    return write_session(folder, {"stems": [{"name": "a", "file": "a.wav", "chain": chain}]})


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_mid_render_leaves_no_file_behind(tmp_path, workers):
    session = long_session(tmp_path)
    out = tmp_path / "out" / "mix.wav"
    out.parent.mkdir()
    proc = subprocess.Popen(
        [STEMHOST, "render", str(session), "-o", str(out), "--block-size", "256", "--workers", workers],
        stderr=subprocess.PIPE,
        text=True,
        # a shell's background jobs ignore SIGINT, and Python keeps it ignored: give the render a terminal's default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not list(out.parent.glob(".mix.wav.*.part")):
        assert proc.poll() is None, "the render ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert stderr.strip().splitlines() == ["error: interrupted; nothing was written"]
    assert list(out.parent.iterdir()) == []


def test_read_only_output_folder_is_a_clear_error(tmp_path):
    write_audio(tmp_path / "a.wav", noise(0.5, channels=2))
    session = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    folder = tmp_path / "ro"
    folder.mkdir()
    command = [STEMHOST, "render", str(session), "-o", str(folder / "mix.wav")]
    if os.geteuid() == 0:  # root writes anywhere a mode allows: make the folder a read-only mount instead
        if not shutil.which("unshare"):
            pytest.skip("needs unshare(1) to make a read-only mount as root")
        mount = f'mount --bind -o ro {folder} {folder} && exec "$@"'
        command = ["unshare", "-m", "sh", "-c", mount, "sh", *command]
    else:
        folder.chmod(0o500)
    result = subprocess.run(command, capture_output=True, text=True)
    if "unshare failed" in result.stderr or "mount:" in result.stderr:
        pytest.skip(f"cannot make a read-only mount here: {result.stderr.strip()}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: -o {str(folder / 'mix.wav')!r}: the folder {str(folder)!r} is not writable"
    ]
    assert list(folder.iterdir()) == []


def test_progress_bar_shows_on_a_terminal_only(tmp_path):
    session = long_session(tmp_path, seconds=20.0)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [STEMHOST, "render", str(session), "-o", str(tmp_path / "tty.wav")], stderr=terminal, stdout=subprocess.DEVNULL
    )
    os.close(terminal)
    seen = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=60)
    assert proc.returncode == 0
    assert b"rendering tty.wav" in seen
    piped = subprocess.run(
        [STEMHOST, "render", str(session), "-o", str(tmp_path / "pipe.wav")], capture_output=True, text=True
    )
    assert piped.returncode == 0 and piped.stderr == ""
