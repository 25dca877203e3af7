"""Bad input: one `error:` line naming the file, the JSON path and the fix; exit 1; nothing written."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

import stemhost.engine.graph
from stemhost.cli.main import main
from stemhost.session.effects import EFFECT_TYPES

from conftest import noise, tone, write_audio, write_session

STEMHOST = Path(sys.executable).parent / "stemhost"

BASE = {
    "stems": [
        {"name": "vox", "file": "vox.wav", "role": "lead_vocal", "output": "vocals"},
        {"name": "bass", "file": "bass.wav", "role": "bass"},
    ],
    "buses": [{"name": "vocals"}],
}


@pytest.fixture
def song(tmp_path: Path, make_stem) -> Path:
    """A folder with two one-second stems and an empty output folder ``out``."""
    make_stem("vox", freq=440)
    make_stem("bass", freq=110, channels=2)
    (tmp_path / "out").mkdir()
    return tmp_path


def edited(changes: dict[str, object]) -> dict:
    """BASE with values set at JSON paths such as ``stems[0].chain`` (an index one past the end appends)."""
    data = copy.deepcopy(BASE)
    for path, value in changes.items():
        keys = [int(k) if k.isdigit() else k for k in re.findall(r"[^.\[\]]+", path)]
        node = data
        for key in keys[:-1]:
            node = node[key]
        if isinstance(node, list) and keys[-1] == len(node):
            node.append(value)
        else:
            node[keys[-1]] = value
    return data


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder (hidden ones too) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.part"))


def run(capsys, *argv: object) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_subprocess(*argv: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(STEMHOST), *(str(a) for a in argv)], cwd=cwd, capture_output=True, text=True, timeout=60)


def assert_one_error(status: int, err: str, fragments: tuple = (), code: int = 1) -> str:
    """Exactly one `error:` line and nothing else on stderr, holding every fragment (str or regex)."""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    line = lines[0]
    assert line.startswith("error: "), line
    assert "internal error" not in line, line
    for fragment in fragments:
        if isinstance(fragment, re.Pattern):
            assert fragment.search(line), f"{fragment.pattern!r} not in {line!r}"
        else:
            assert fragment in line, f"{fragment!r} not in {line!r}"
    assert status == code, line
    return line


# ---------------------------------------------------------------------------------------------------------------
# The table of bad inputs


def write_text_as_wav(folder: Path) -> None:
    (folder / "notes.wav").write_text("these are my lyrics, not audio\n")


def write_empty_wav(folder: Path) -> None:
    write_audio(folder / "empty.wav", np.zeros((1, 0), np.float32))


def write_three_channels(folder: Path) -> None:
    write_audio(folder / "surround.wav", tone(440, 0.2, channels=3))


def make_folder_named_wav(folder: Path) -> None:
    (folder / "folder.wav").mkdir()


def write_impulse_response(folder: Path) -> None:
    ir = np.zeros((1, 4800), np.float32)
    ir[0, 0] = 1.0
    write_audio(folder / "room.wav", ir)


def make_output_a_folder(folder: Path) -> None:
    (folder / "out" / "mix.wav").mkdir()


def write_bad_preset(folder: Path) -> None:
    write_session(folder, {"stems": [{"role": "lead_vocal", "mute": "sometimes"}]}, "mine.json")


@dataclass(frozen=True)
class Bad:
    """A bad input: session edits or raw session text, extra files and arguments, and what the error names.

    In args, ``{dir}`` stands for the session's folder; render gets ``-o {dir}/out/mix.wav`` unless args hold ``-o``.
    """

    fragments: tuple
    session: dict[str, object] = field(default_factory=dict)
    raw: str | None = None
    files: Callable[[Path], None] | None = None
    args: tuple[str, ...] = ()
    commands: tuple[str, ...] = ("validate", "render")


SESSION_JSON = "session.json: "
CONV = {"type": "Convolution", "impulse_response_filename": "room.wav"}

BAD_INPUTS: dict[str, Bad] = {
    "malformed-json": Bad(
        raw='{\n  "stems": [\n    {"name": "vox",, "file": "vox.wav"}\n  ]\n}\n',
        fragments=("session.json: line 3, column 20", "malformed JSON"),
    ),
    "unknown-field": Bad(
        session={"stems[0].chian": []},
        fragments=(SESSION_JSON + "stems[0].chian:", "unknown field", "did you mean 'chain'?", "valid fields: chain,"),
    ),
    "unknown-bus-field": Bad(
        session={"buses[0].gian_db": 3},
        fragments=(SESSION_JSON + "buses[0].gian_db:", "did you mean 'gain_db'?"),
    ),
    "unknown-effect-type": Bad(
        session={"stems[0].chain": [{"type": "Compresor", "ratio": 4}]},
        fragments=(
            SESSION_JSON + "stems[0].chain[0].type:",
            "'Compresor'",
            "did you mean 'Compressor'?",
            *EFFECT_TYPES,
        ),
    ),
    "effect-without-type": Bad(
        session={"stems[1].chain": [{"ratio": 4}]},
        fragments=(SESSION_JSON + "stems[1].chain[0]:", "'type'", "Compressor"),
    ),
    "unknown-effect-parameter": Bad(
        session={"stems[0].chain": [{"type": "Compressor", "treshold_db": -20}]},
        fragments=(SESSION_JSON + "stems[0].chain[0].treshold_db:", "did you mean 'threshold_db'?"),
    ),
    "ratio-below-one": Bad(
        session={"stems[0].chain": [{"type": "Gain"}, {"type": "Compressor", "ratio": 0.5}]},
        fragments=(SESSION_JSON + "stems[0].chain[1].ratio: 0.5", "greater than or equal to 1"),
    ),
    "pan-above-one": Bad(
        session={"stems[1].pan": 2},
        fragments=(SESSION_JSON + "stems[1].pan: 2", "less than or equal to 1"),
    ),
    "bus-gain-too-high": Bad(
        session={"buses[0].gain_db": 30},
        fragments=(SESSION_JSON + "buses[0].gain_db: 30", "less than or equal to 24"),
    ),
    "unknown-role": Bad(
        session={"stems[1].role": "bassline"},
        fragments=(SESSION_JSON + "stems[1].role:", "'bassline'", "'bass'", "'lead_vocal'"),
    ),
    "no-stems": Bad(session={"stems": [], "buses": []}, fragments=(SESSION_JSON + "stems:", "at least 1")),
    "missing-stem-file": Bad(
        session={"stems[1].file": "basss.wav"},
        fragments=(SESSION_JSON + "stems[1].file:", "basss.wav", "does not exist"),
    ),
    "text-file-named-wav": Bad(
        session={"stems[1].file": "notes.wav"},
        files=write_text_as_wav,
        fragments=(SESSION_JSON + "stems[1].file:", "notes.wav", "not a readable audio file", "WAV, FLAC"),
    ),
    "empty-wav": Bad(
        session={"stems[1].file": "empty.wav"},
        files=write_empty_wav,
        fragments=(SESSION_JSON + "stems[1].file:", "empty.wav", "0 frames"),
    ),
    "three-channels": Bad(
        session={"stems[1].file": "surround.wav"},
        files=write_three_channels,
        fragments=(SESSION_JSON + "stems[1].file:", "surround.wav", "3 channels", "mono or stereo"),
    ),
    "stem-file-is-a-folder": Bad(
        session={"stems[1].file": "folder.wav"},
        files=make_folder_named_wav,
        fragments=(SESSION_JSON + "stems[1].file:", "folder.wav", "not a file"),
    ),
    "duplicate-stem-names": Bad(
        session={"stems[2]": {"name": "vox", "file": "bass.wav"}},
        fragments=(SESSION_JSON + "stems[2].name: 'vox'", "stems[0]", "unique"),
    ),
    "duplicate-bus-names": Bad(
        session={"buses[1]": {"name": "vocals", "gain_db": -3}},
        fragments=(SESSION_JSON + "buses[1].name: 'vocals'", "buses[0]", "unique"),
    ),
    "bus-named-master": Bad(
        session={"buses[1]": {"name": "master"}},
        fragments=(SESSION_JSON + "buses[1].name: 'master'", "reserved"),
    ),
    "unknown-bus-in-output": Bad(
        session={"stems[0].output": "vocalz"},
        fragments=(SESSION_JSON + "stems[0].output: 'vocalz'", "'vocals'", "'master'"),
    ),
    "unknown-bus-in-sends": Bad(
        session={"stems[1].sends": [{"bus": "vocals"}, {"bus": "verb", "level_db": -6}]},
        fragments=(SESSION_JSON + "stems[1].sends[1].bus: 'verb'", "'vocals'"),
    ),
    "unknown-bus-in-bus-output": Bad(
        session={"buses[0].output": "nowhere"},
        fragments=(SESSION_JSON + "buses[0].output: 'nowhere'", "'master'"),
    ),
    "bus-cycle": Bad(
        session={"stems[0].output": "a", "buses": [{"name": "a", "output": "b"}, {"name": "b", "output": "a"}]},
        fragments=("session.json", "cycle", re.compile(r"a → b → a|b → a → b")),
    ),
    # Signal flows a → b → c → a: the cycle should read in that direction, not against it.
    "bus-cycle-of-three": Bad(
        session={
            "stems[0].output": "a",
            "buses": [{"name": "a", "output": "b"}, {"name": "b", "output": "c"}, {"name": "c", "output": "a"}],
        },
        fragments=("session.json", "cycle", re.compile(r"a → b → c → a|b → c → a → b|c → a → b → c")),
    ),
    "cutoff-above-nyquist": Bad(
        session={"stems[0].chain": [{"type": "LowpassFilter", "cutoff_frequency_hz": 30000}]},
        fragments=(SESSION_JSON + "stems[0].chain[0].cutoff_frequency_hz: 30000", "Nyquist", "24000 Hz"),
    ),
    "bus-cutoff-above-nyquist": Bad(
        session={"buses[0].chain": [{"type": "HighShelfFilter", "cutoff_frequency_hz": 24000}]},
        fragments=(SESSION_JSON + "buses[0].chain[0].cutoff_frequency_hz: 24000", "Nyquist"),
    ),
    "missing-impulse-response": Bad(
        session={"stems[0].chain": [CONV]},
        fragments=(SESSION_JSON + "stems[0].chain[0].impulse_response_filename:", "room.wav", "does not exist"),
    ),
    "impulse-response-not-audio": Bad(
        session={"master": {"chain": [{**CONV, "impulse_response_filename": "notes.wav"}]}},
        files=write_text_as_wav,
        fragments=(SESSION_JSON + "master.chain[0].impulse_response_filename:", "notes.wav", "not a readable audio"),
    ),
    "unknown-preset": Bad(
        args=("--preset", "karaoke", "--preset", "karoake"),
        fragments=("--preset 'karoake'", "karaoke", "instrumental", "acapella", "harmonies", "piano-only"),
    ),
    "bad-preset-file": Bad(
        files=write_bad_preset,
        args=("--preset", "{dir}/mine.json"),
        fragments=("mine.json: stems[0].mute:", "'sometimes'", "bool"),
    ),
    "mute-matches-nothing": Bad(
        args=("--mute", "drums"),
        fragments=("--mute 'drums'", "stems: vox, bass", "roles: bass, lead_vocal"),
    ),
    "solo-matches-nothing": Bad(args=("--solo", "Vox"), fragments=("--solo 'Vox'", "stems: vox, bass")),
    "gain-without-db": Bad(args=("--gain", "bass"), fragments=("--gain 'bass'", "NAME=DB")),
    "gain-not-a-number": Bad(args=("--gain", "bass=loud"), fragments=("--gain 'bass=loud'", "NAME=DB")),
    "gain-unknown-stem": Bad(args=("--gain", "drums=+3"), fragments=("--gain 'drums'", "stems: vox, bass")),
    # The override is stems[1] of the session; the message must name the option, not "command line: stems[0]".
    "pan-override-out-of-range": Bad(args=("--pan", "bass=2"), fragments=("--pan", "bass", "1")),
    "gain-override-out-of-range": Bad(args=("--gain", "bass=+30"), fragments=("--gain", "bass", "24")),
    "output-is-a-stem": Bad(
        args=("-o", "{dir}/vox.wav"),
        fragments=("vox.wav", "one of the session's stems"),
        commands=("render",),
    ),
    "output-is-a-stem-by-another-path": Bad(
        args=("-o", "{dir}/out/../bass.wav"),
        fragments=("bass.wav", "one of the session's stems"),
        commands=("render",),
    ),
    # The impulse response is an input too: rendering over it would destroy it.
    "output-is-the-impulse-response": Bad(
        session={"stems[0].chain": [CONV]},
        files=write_impulse_response,
        args=("-o", "{dir}/room.wav"),
        fragments=("room.wav",),
        commands=("render",),
    ),
    "output-folder-missing": Bad(
        args=("-o", "{dir}/nowhere/mix.wav"),
        fragments=("nowhere", "does not exist"),
        commands=("render",),
    ),
    "output-is-a-folder": Bad(
        files=make_output_a_folder,
        args=("-o", "{dir}/out/mix.wav"),
        fragments=("mix.wav", "folder"),
        commands=("render",),
    ),
    "unknown-extension": Bad(
        args=("-o", "{dir}/out/mix.xyz"),
        fragments=("mix.xyz", "'.xyz'", ".wav", ".flac", ".mp3"),
        commands=("render",),
    ),
    "no-extension": Bad(
        args=("-o", "{dir}/out/mix"),
        fragments=("(no extension)", ".wav"),
        commands=("render",),
    ),
    "32f-flac": Bad(
        args=("-o", "{dir}/out/mix.flac", "--bit-depth", "32f"),
        fragments=("--bit-depth 32f", "FLAC", "16 or 24"),
        commands=("render",),
    ),
    "bit-depth-mp3": Bad(
        args=("-o", "{dir}/out/mix.mp3", "--bit-depth", "16"),
        fragments=("--bit-depth 16", "MP3", "WAV, FLAC and AIFF"),
        commands=("render",),
    ),
    "bit-depth-ogg": Bad(
        args=("-o", "{dir}/out/mix.ogg", "--bit-depth", "24"),
        fragments=("--bit-depth 24", "OGG", "WAV, FLAC and AIFF"),
        commands=("render",),
    ),
}


def prepare(folder: Path, case: Bad, command: str) -> list[str]:
    """Write the case's session and files; return the CLI arguments."""
    path = folder / "session.json"
    if case.raw is not None:
        path.write_text(case.raw)
    else:
        write_session(folder, edited(case.session))
    if case.files is not None:
        case.files(folder)
    args = [a.format(dir=folder) for a in case.args]
    if command == "render" and "-o" not in args:
        args += ["-o", str(folder / "out" / "mix.wav")]
    return [command, str(path), *args]


@pytest.mark.parametrize(
    ("case", "command"),
    [
        pytest.param(case, command, id=f"{name}-{command}")
        for name, case in BAD_INPUTS.items()
        for command in case.commands
    ],
)
def test_bad_input_is_one_error_line_and_writes_nothing(song: Path, capsys, case: Bad, command: str) -> None:
    argv = prepare(song, case, command)
    before = snapshot(song)

    status, out, err = run(capsys, *argv)

    assert_one_error(status, err, case.fragments)
    assert "wrote" not in out
    assert snapshot(song) == before, "a failed command changed, added or left files in the session folder"
    assert part_files(song) == []


@pytest.mark.parametrize(
    "name", ["malformed-json", "unknown-effect-type", "missing-stem-file", "duplicate-bus-names", "32f-flac"]
)
def test_bad_input_through_a_real_process(song: Path, name: str) -> None:
    case = BAD_INPUTS[name]
    argv = prepare(song, case, case.commands[-1])
    before = snapshot(song)

    proc = run_subprocess(*argv, cwd=song)

    assert_one_error(proc.returncode, proc.stderr, case.fragments)
    assert snapshot(song) == before


def test_missing_session_file(song: Path, capsys) -> None:
    status, _, err = run(capsys, "render", song / "sesion.json", "-o", song / "out" / "mix.wav")
    assert_one_error(status, err, ("sesion.json", "no such file"))
    assert snapshot(song / "out") == {}


def test_session_file_that_is_not_an_object(song: Path, capsys) -> None:
    (song / "session.json").write_text("[]\n")
    status, _, err = run(capsys, "validate", song / "session.json")
    assert_one_error(status, err, ("session.json", "dictionary"))


# ---------------------------------------------------------------------------------------------------------------
# Non-finite samples: found while rendering, named by stem and time


@pytest.mark.parametrize("block_size", [1000, 4096])
@pytest.mark.parametrize("sample_rate", [48000, 44100])
@pytest.mark.parametrize(("value", "kind"), [(np.nan, "NaN"), (np.inf, "infinite")])
def test_non_finite_sample_names_stem_and_time(
    song: Path, capsys, value: float, kind: str, sample_rate: int, block_size: int
) -> None:
    audio = noise(1.0, sample_rate)
    audio[0, round(0.5 * sample_rate)] = value
    write_audio(song / "glitch.wav", audio, sample_rate)
    session = write_session(song, edited({"stems[2]": {"name": "glitchy", "file": "glitch.wav"}}))
    before = snapshot(song)

    status, out, err = run(
        capsys, "render", session, "-o", song / "out" / "mix.wav", "--bit-depth", "32f", "--block-size", block_size
    )

    assert_one_error(status, err, ("stem 'glitchy'", "glitch.wav", kind, "0:00.500"))
    assert out == ""
    assert snapshot(song) == before
    assert part_files(song) == []


def test_nan_late_in_a_long_stem_is_timed_in_minutes(tmp_path: Path, capsys, make_stem) -> None:
    rate = 8000
    audio = np.zeros((1, 65 * rate), np.float32)
    audio[0, round(61.25 * rate)] = np.nan
    write_audio(tmp_path / "long.wav", audio, rate)
    session = write_session(tmp_path, {"stems": [{"name": "long", "file": "long.wav"}]})

    status, _, err = run(capsys, "render", session, "-o", tmp_path / "mix.wav", "--tail", "0")

    assert_one_error(status, err, ("stem 'long'", "NaN", "1:01.250"))
    assert not (tmp_path / "mix.wav").exists()
    assert part_files(tmp_path) == []


# ---------------------------------------------------------------------------------------------------------------
# Interrupted and failing renders leave no trace and keep an existing output


def interrupt_after(monkeypatch, blocks: int, folder: Path) -> list[list[Path]]:
    """Make the master raise KeyboardInterrupt on its block after `blocks`; returns what .part files existed."""
    real = stemhost.engine.graph.BusNode.render
    calls = 0
    seen: list[list[Path]] = []

    def render(self, n, outputs):
        nonlocal calls
        if self.name == "master":
            calls += 1
            if calls > blocks:
                seen.append(part_files(folder))
                raise KeyboardInterrupt
        return real(self, n, outputs)

    monkeypatch.setattr(stemhost.engine.graph.BusNode, "render", render)
    return seen


@pytest.mark.parametrize("existing", [False, True], ids=["new-output", "existing-output"])
def test_interrupted_render_exits_130_and_leaves_nothing(song: Path, capsys, monkeypatch, existing: bool) -> None:
    output = song / "out" / "mix.wav"
    if existing:
        write_audio(output, tone(220, 0.1))
    session = write_session(song, BASE)
    before = snapshot(song)
    seen = interrupt_after(monkeypatch, 3, song / "out")

    status, out, err = run(capsys, "render", session, "-o", output, "--block-size", "1024")

    assert_one_error(status, err, ("interrupted",), code=130)
    assert len(seen[0]) == 1, "the render should have been writing a .part file when it was interrupted"
    assert out == ""
    assert snapshot(song) == before
    assert part_files(song) == []
    assert output.exists() == existing


@pytest.mark.parametrize(
    ("edits", "args", "fragments"),
    [
        pytest.param({"stems[1].file": "glitch.wav"}, (), ("stem 'bass'", "NaN"), id="nan-mid-render"),
        pytest.param({"stems[0].pan": -3}, (), ("stems[0].pan",), id="invalid-session"),
        pytest.param({}, ("--mute", "nobody"), ("--mute 'nobody'",), id="bad-override"),
        pytest.param({}, ("--bit-depth", "32f"), ("--bit-depth 32f",), id="bad-format"),
    ],
)
def test_failing_render_leaves_existing_output_untouched(
    song: Path, capsys, edits: dict, args: tuple, fragments: tuple
) -> None:
    glitch = noise(1.0, channels=2)
    glitch[1, 30000] = np.nan
    write_audio(song / "glitch.wav", glitch)
    output = song / "out" / ("mix.flac" if "--bit-depth" in args else "mix.wav")
    write_audio(output, tone(220, 0.25, channels=2), subtype="PCM_16")
    session = write_session(song, edited(edits))
    before = snapshot(song)

    status, _, err = run(capsys, "render", session, "-o", output, "--block-size", "512", *args)

    assert_one_error(status, err, fragments)
    assert snapshot(song) == before
    assert part_files(song) == []


# ---------------------------------------------------------------------------------------------------------------
# Usage errors exit 2


USAGE_ERRORS = {
    "unknown-option": ["render", "{s}", "-o", "{o}", "--bogus"],
    "missing-output": ["render", "{s}"],
    "bad-bit-depth": ["render", "{s}", "-o", "{o}", "--bit-depth", "8"],
    "negative-tail": ["render", "{s}", "-o", "{o}", "--tail", "-1"],
    "zero-block-size": ["render", "{s}", "-o", "{o}", "--block-size", "0"],
    "unknown-command": ["mix", "{s}"],
}


@pytest.mark.parametrize("argv", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_error_exits_2(song: Path, capsys, argv: list[str]) -> None:
    session = write_session(song, BASE)
    before = snapshot(song)
    argv = [a.format(s=session, o=song / "out" / "mix.wav") for a in argv]

    with pytest.raises(SystemExit) as exit_info:
        main(argv)

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: stemhost" in err
    assert "Traceback" not in err
    assert snapshot(song) == before


@pytest.mark.parametrize("argv", [USAGE_ERRORS["unknown-option"], USAGE_ERRORS["bad-bit-depth"]])
def test_usage_error_through_a_real_process(song: Path, argv: list[str]) -> None:
    session = write_session(song, BASE)
    before = snapshot(song)

    proc = run_subprocess(*(a.format(s=session, o=song / "out" / "mix.wav") for a in argv), cwd=song)

    assert proc.returncode == 2
    assert "usage: stemhost" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    assert snapshot(song) == before
