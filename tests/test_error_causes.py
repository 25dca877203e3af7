"""Errors keep their cause (shown with --debug), and a closed pipe ends a command quietly."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from stemhost.cli.main import main
from stemhost.errors import AudioFileError

from conftest import write_session

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "stemhost"
STEMHOST = str(Path(sys.executable).parent / "stemhost")


def test_no_error_is_raised_from_none():
    """`raise ... from None` hides the original error even from --debug; every one-line error chains its cause."""
    hidden = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.cause, ast.Constant) and node.cause.value is None:
                hidden.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not hidden, hidden


def test_debug_shows_the_cause_of_a_one_line_error(tmp_path, capsys):
    (tmp_path / "a.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    session = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    assert main(["render", str(session), "-o", str(tmp_path / "mix.wav")]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(AudioFileError) as raised:
        main(["--debug", "render", str(session), "-o", str(tmp_path / "mix.wav")])
    assert raised.value.__cause__ is not None, "the library's own error is kept"


def test_a_closed_pipe_ends_the_command_quietly():
    proc = subprocess.Popen([STEMHOST, "schema"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader went away, as `| head` does
    _, stderr = proc.communicate(timeout=60)
    assert stderr == b"" and proc.returncode == 141
