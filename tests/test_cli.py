"""The stemhost command end to end, through a real process: help, init, validate, render, presets, schema."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyloudnorm
import pytest

import stemhost
from stemhost.cli.main import main

from conftest import noise, read_audio, tone, write_audio, write_session

STEMHOST = Path(sys.executable).parent / "stemhost"
REPO = Path(__file__).resolve().parents[1]
COMMANDS = (
    "init",
    "validate",
    "render",
    "export",
    "batch",
    "devices",
    "play",
    "serve",
    "sections",
    "presets",
    "schema",
    "analyze",
    "fit",
    "cache",
    "show",
    "plugins",
)
PRESETS = (
    "acapella",
    "apple",
    "broadcast",
    "club",
    "harmonies",
    "instrumental",
    "karaoke",
    "piano-only",
    "podcast",
    "streaming",
)
CENTRE = math.cos(math.pi / 4)  # constant-power pan law: a mono stem at centre, each side
LEVEL = 0.15


def stemhost_run(*argv: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``stemhost`` script; stderr is a pipe, not a terminal."""
    return subprocess.run([str(STEMHOST), *(str(a) for a in argv)], cwd=cwd, capture_output=True, text=True, timeout=60)


def ok(*argv: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = stemhost_run(*argv, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc


def render(session: Path, output: Path, *args: object) -> np.ndarray:
    """Render to a 32-bit float WAV through the real command; returns ``(2, frames)``."""
    proc = ok("render", session, "-o", output, "--bit-depth", "32f", *args)
    assert proc.stderr == ""
    audio, rate = read_audio(output)
    assert rate == 48000
    return audio


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.fixture
def band(tmp_path: Path) -> Path:
    """A one-second song: a lead vocal (to a vocals bus and a reverb send), two harmonies, bass and keys."""
    stems = {
        "vox": tone(440, 1.0, level=LEVEL),
        "bv_high": tone(660, 1.0, level=LEVEL),
        "bv_low": tone(550, 1.0, level=LEVEL),
        "bass": tone(110, 1.0, channels=2, level=LEVEL),
        "keys": tone(262, 1.0, level=LEVEL),
    }
    for name, audio in stems.items():
        write_audio(tmp_path / f"{name}.wav", audio)
    write_session(
        tmp_path,
        {
            "stems": [
                {
                    "name": "vox",
                    "file": "vox.wav",
                    "role": "lead_vocal",
                    "output": "vocals",
                    "sends": [{"bus": "verb", "level_db": -6}],
                },
                {"name": "bv_high", "file": "bv_high.wav", "role": "backing_vocals", "output": "vocals"},
                {"name": "bv_low", "file": "bv_low.wav", "role": "backing_vocals", "output": "vocals"},
                {"name": "bass", "file": "bass.wav", "role": "bass"},
                {"name": "keys", "file": "keys.wav", "role": "piano"},
            ],
            "buses": [{"name": "vocals", "gain_db": 0}, {"name": "verb", "chain": [{"type": "Reverb"}]}],
        },
    )
    (tmp_path / "out").mkdir()
    return tmp_path


# ---------------------------------------------------------------------------------------------------------------
# --version and --help


def test_version_is_the_package_version() -> None:
    proc = ok("--version")
    assert proc.stdout.strip() == f"stemhost {stemhost.__version__}"
    assert stemhost.__version__ == importlib.metadata.version("stemhost")


@functools.cache
def command_summaries() -> dict[str, str]:
    """Each command's one-line summary, as the top-level --help lists it."""
    proc = ok("--help")
    found = dict(re.findall(r"^ {4}(\w+) +(\S.*)$", proc.stdout, flags=re.MULTILINE))
    assert set(found) == set(COMMANDS), proc.stdout
    return found


def test_help_lists_every_command() -> None:
    proc = ok("--help")
    assert proc.stdout.startswith("usage: stemhost")
    assert "stems" in proc.stdout
    for command, summary in command_summaries().items():
        assert len(summary.split()) >= 3, f"{command}: {summary!r} explains nothing"


@pytest.mark.parametrize("command", COMMANDS)
def test_command_help_explains_the_command(command: str) -> None:
    proc = ok(command, "--help")
    assert proc.stdout.startswith(f"usage: stemhost {command}")
    text = " ".join(proc.stdout.split())
    summary = " ".join(command_summaries()[command].split())
    assert summary.lower() in text.lower(), (
        f"`stemhost {command} --help` does not say what the command does ({summary!r})"
    )


# ---------------------------------------------------------------------------------------------------------------
# init

ROLE_GUESSES = {
    "Lead Vox.wav": "lead_vocal",
    "BGV harmony.wav": "backing_vocals",
    "Kick.wav": "drums",
    "bass gtr.wav": "bass",
    "lead guitar.wav": "guitar",
    "click.wav": "click",
    "piano.wav": "piano",
    "whatever.wav": "other",
    "03 Snare Top.flac": "drums",
    "Backing Vocals.aiff": "backing_vocals",
    "Electric Piano.wav": "piano",
    "Synth Pad.wav": "synth",
    "Strings.ogg": "strings",
    "Count-in.wav": "guide",
}


def write_tiny(path: Path) -> None:
    write_audio(path, tone(440, 0.05), subtype=None if path.suffix != ".wav" else "FLOAT")


def test_init_guesses_roles_from_file_names(tmp_path: Path) -> None:
    for name in ROLE_GUESSES:
        write_tiny(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not a stem")

    proc = ok("init", tmp_path)

    session = json.loads((tmp_path / "session.json").read_text())
    assert {s["file"]: s["role"] for s in session["stems"]} == ROLE_GUESSES
    names = [s["name"] for s in session["stems"]]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in names), names
    assert "lead_vox" in names
    assert f"wrote {tmp_path / 'session.json'} ({len(ROLE_GUESSES)} stems)" in proc.stdout
    for line in proc.stdout.splitlines()[:-1]:
        name, role, file = line.split(maxsplit=2)
        assert ROLE_GUESSES[file] == role
    assert proc.stderr == ""
    ok("validate", tmp_path / "session.json")


@pytest.mark.parametrize(
    ("file_name", "role"),
    [("BV1.wav", "backing_vocals"), ("Gtr2.wav", "guitar"), ("Vox 2.wav", "lead_vocal"), ("Kick2.wav", "drums")],
)
def test_init_guesses_roles_of_numbered_stems(tmp_path: Path, capsys, file_name: str, role: str) -> None:
    write_tiny(tmp_path / file_name)
    assert main(["init", str(tmp_path)]) == 0
    session = json.loads((tmp_path / "session.json").read_text())
    assert session["stems"][0]["role"] == role


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    write_tiny(tmp_path / "Kick.wav")
    ok("init", tmp_path)
    target = tmp_path / "session.json"
    edited = target.read_text().replace('"drums"', '"percussion"')
    target.write_text(edited)
    write_tiny(tmp_path / "bass.wav")

    refused = stemhost_run("init", tmp_path)

    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "session.json" in lines[0]
    assert "--force" in lines[0]
    assert target.read_text() == edited
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Kick.wav", "bass.wav", "session.json"]

    ok("init", tmp_path, "--force")

    session = json.loads(target.read_text())
    assert {s["file"]: s["role"] for s in session["stems"]} == {"Kick.wav": "drums", "bass.wav": "bass"}


@pytest.mark.parametrize("make", ["missing", "no-audio"])
def test_init_without_stems_is_an_error(tmp_path: Path, capsys, make: str) -> None:
    folder = tmp_path / "song"
    if make == "no-audio":
        folder.mkdir()
        (folder / "readme.txt").write_text("stems to come")
    assert main(["init", str(folder)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert str(folder) in err
    assert not (folder / "session.json").exists()


def test_init_writes_session_with_the_usual_permissions(tmp_path: Path) -> None:
    write_tiny(tmp_path / "Kick.wav")
    ok("init", tmp_path)
    assert (tmp_path / "session.json").stat().st_mode & 0o777 == 0o666 & ~umask()


# ---------------------------------------------------------------------------------------------------------------
# validate


def tree_parents(text: str) -> dict[str, str]:
    """Each row of the routing tree and the row it hangs from."""
    parents: dict[str, str] = {}
    stack: list[str] = []
    for line in text.splitlines():
        if line.startswith("master"):
            stack = ["master"]
            continue
        match = re.match(r"^((?:│   |    )*)(?:├── |└── )(.*)$", line)
        if match and stack:
            depth = len(match.group(1)) // 4 + 1
            stack = [*stack[:depth], match.group(2)]
            parents[match.group(2)] = stack[depth - 1]
    return parents


def parent_of(parents: dict[str, str], row_start: str) -> str:
    rows = [row for row in parents if row.startswith(row_start)]
    assert len(rows) == 1, f"{row_start!r} in {list(parents)}"
    return parents[rows[0]].split("  (")[0]


def test_validate_prints_the_routing_tree(band: Path) -> None:
    proc = ok("validate", band / "session.json")

    assert proc.stdout.startswith("master")
    parents = tree_parents(proc.stdout)
    assert len(parents) == 8  # two buses, five stems, one send
    assert parent_of(parents, "bus vocals") == "master"
    assert parent_of(parents, "bus verb") == "master"
    assert parent_of(parents, "stem vox ") == "bus vocals"
    assert parent_of(parents, "stem bv_high ") == "bus vocals"
    assert parent_of(parents, "stem bv_low ") == "bus vocals"
    assert parent_of(parents, "stem bass ") == "master"
    assert parent_of(parents, "stem keys ") == "master"
    assert parent_of(parents, "send from vox at -6.0 dB") == "bus verb"
    assert "Reverb" in next(row for row in parents if row.startswith("bus verb"))
    assert "[lead_vocal]" in next(row for row in parents if row.startswith("stem vox "))
    assert "  bass: 1.00 s, 48000 Hz, stereo" in proc.stdout
    assert "  keys: 1.00 s, 48000 Hz, mono" in proc.stdout
    last = proc.stdout.rstrip().splitlines()[-1]
    assert last.startswith(f"ok: {band / 'session.json'} (5 stems, 2 buses, 48000 Hz"), last
    assert proc.stderr == ""


def test_validate_shows_what_a_preset_silences(band: Path) -> None:
    proc = ok("validate", band / "session.json", "--preset", "karaoke")
    rows = {row.split()[1]: row for row in tree_parents(proc.stdout) if row.startswith("stem ")}
    assert "MUTE" in rows["vox"]
    assert "(silent)" in rows["vox"]
    assert all("MUTE" not in rows[n] and "(silent)" not in rows[n] for n in ("bv_high", "bv_low", "bass", "keys"))


# ---------------------------------------------------------------------------------------------------------------
# render: the summary, clipping, quiet stderr

SUMMARY = re.compile(
    r"^wrote (?P<path>.+)\n"
    r"  (?P<min>\d+):(?P<sec>\d\d\.\d{3}) \((?P<frames>\d+) frames\) at (?P<rate>\d+) Hz, "
    r"peak (?P<peak>[+-]\d+\.\d) dBFS, (?P<lufs>-?\d+\.\d) LUFS integrated\n$"
)


@pytest.mark.parametrize(
    ("name", "bit_depth"),
    [("mix.wav", "16"), ("mix.wav", "24"), ("mix.flac", "24"), ("mix.aiff", "32f")],
)
def test_render_summary_matches_the_file(band: Path, name: str, bit_depth: str) -> None:
    output = band / "out" / name

    proc = ok("render", band / "session.json", "-o", output, "--bit-depth", bit_depth, "--tail", "0.5")

    match = SUMMARY.match(proc.stdout)
    assert match, proc.stdout
    assert match["path"] == str(output)
    audio, rate = read_audio(output)
    assert audio.shape == (2, 72000)  # one second of stems and half a second of tail
    assert int(match["frames"]) == 72000
    assert int(match["rate"]) == rate == 48000
    assert (match["min"], match["sec"]) == ("0", "01.500")
    measured_peak = 20 * math.log10(np.max(np.abs(audio)))
    assert abs(float(match["peak"]) - measured_peak) <= 0.1
    measured_lufs = pyloudnorm.Meter(rate).integrated_loudness(audio.T.astype(np.float64))
    assert abs(float(match["lufs"]) - measured_lufs) <= 0.1
    assert proc.stderr == ""
    assert sorted(p.name for p in (band / "out").iterdir()) == [name]


def test_render_at_another_sample_rate(band: Path) -> None:
    output = band / "out" / "mix.wav"
    proc = ok("render", band / "session.json", "-o", output, "--sample-rate", "44100", "--tail", "0")
    audio, rate = read_audio(output)
    assert rate == 44100
    assert abs(audio.shape[1] - 44100) <= 1
    match = SUMMARY.match(proc.stdout)
    assert match and int(match["rate"]) == 44100 and int(match["frames"]) == audio.shape[1]


@pytest.mark.parametrize("ext", [".wav", ".flac", ".aiff", ".aif", ".ogg", ".mp3"])
def test_render_writes_every_supported_format(band: Path, capsys, ext: str) -> None:
    output = band / "out" / f"mix{ext}"
    assert main(["render", str(band / "session.json"), "-o", str(output), "--tail", "0"]) == 0
    audio, rate = read_audio(output)
    assert rate == 48000
    assert audio.shape[0] == 2
    assert abs(audio.shape[1] - 48000) < 4800  # lossy codecs pad a little
    assert np.max(np.abs(audio)) > 0.1
    assert capsys.readouterr().err == ""


def test_render_writes_output_with_the_usual_permissions(band: Path) -> None:
    output = band / "out" / "mix.wav"
    ok("render", band / "session.json", "-o", output, "--tail", "0")
    assert output.stat().st_mode & 0o777 == 0o666 & ~umask()


def test_clean_render_is_quiet_on_stderr_that_is_not_a_terminal(band: Path) -> None:
    proc = ok("render", band / "session.json", "-o", band / "out" / "mix.wav")
    assert proc.stderr == ""
    assert "\x1b" not in proc.stdout
    assert "\r" not in proc.stdout


def test_clipping_render_warns_with_the_loudest_stem_and_the_time(tmp_path: Path) -> None:
    step = np.zeros((2, 48000), np.float32)
    step[:, 24000:] = 0.8  # enters at 0.5 s
    write_audio(tmp_path / "loud.wav", step)
    write_audio(tmp_path / "quiet.wav", np.full((2, 48000), 0.3, np.float32))
    write_audio(tmp_path / "silent.wav", np.zeros((2, 48000), np.float32))
    session = write_session(
        tmp_path,
        {
            "stems": [
                {"name": "quiet", "file": "quiet.wav"},
                {"name": "loud", "file": "loud.wav"},
                {"name": "silent", "file": "silent.wav"},
            ]
        },
    )
    output = tmp_path / "mix.wav"

    proc = ok("render", session, "-o", output, "--bit-depth", "32f")

    assert SUMMARY.match(proc.stdout), proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    warning = lines[0]
    assert warning.startswith("warning: ")
    assert "0:00.500" in warning
    assert re.search(r"loudest stems there: loud, quiet\b", warning), warning
    assert "silent" not in warning
    assert "peak +0.8 dBFS" in warning  # 0.8 + 0.3 = 1.1
    audio, _ = read_audio(output)
    np.testing.assert_allclose(audio[:, 24000:], 1.1, rtol=1e-6)


def test_clipped_render_reports_the_peak_before_and_after_the_outputs_clip(tmp_path: Path) -> None:
    write_audio(tmp_path / "loud.wav", np.full((2, 48000), 0.8, np.float32))
    write_audio(tmp_path / "quiet.wav", np.full((2, 48000), 0.3, np.float32))
    session = write_session(
        tmp_path, {"stems": [{"name": "loud", "file": "loud.wav"}, {"name": "quiet", "file": "quiet.wav"}]}
    )
    output = tmp_path / "mix.wav"

    proc = ok("render", session, "-o", output, "--bit-depth", "24", "--tail", "0")

    mix_peak = 20 * math.log10(1.1)  # 0.8 + 0.3: +0.83 dBFS
    assert f"peak {mix_peak:+.1f} dBFS before the output's clip, +0.0 dBFS in the file," in proc.stdout, proc.stdout
    assert f"peak {mix_peak:+.1f} dBFS)" in proc.stderr  # the clipping warning gives the same figure
    audio, _ = read_audio(output)
    assert np.max(np.abs(audio)) == pytest.approx(1.0, abs=1e-6)  # the 24-bit file holds full scale


# ---------------------------------------------------------------------------------------------------------------
# presets and schema


def test_presets_lists_the_bundled_presets_one_line_each() -> None:
    proc = ok("presets")
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(PRESETS)
    for line in lines:
        name, description = line.split(maxsplit=1)
        assert len(description.split()) >= 3, line
    assert proc.stderr == ""


def test_schema_is_the_committed_schema() -> None:
    proc = ok("schema")
    committed = json.loads((REPO / "presets" / "session.schema.json").read_text())
    assert json.loads(proc.stdout) == committed


# ---------------------------------------------------------------------------------------------------------------
# Presets and overrides, checked on the samples


def test_karaoke_preset_silences_the_lead_vocal(band: Path) -> None:
    session, out = band / "session.json", band / "out"
    full = render(session, out / "full.wav", "--tail", "0.5")
    karaoke = render(session, out / "karaoke.wav", "--tail", "0.5", "--preset", "karaoke")
    muted = render(session, out / "muted.wav", "--tail", "0.5", "--mute", "lead_vocal")
    vocal = render(session, out / "vocal.wav", "--tail", "0.5", "--solo", "lead_vocal")

    np.testing.assert_allclose(karaoke, muted, rtol=0, atol=1e-7)
    assert np.max(np.abs(full - karaoke)) > 0.05
    # The mix is linear: the full render is the karaoke render plus the lead vocal (and its reverb) alone.
    np.testing.assert_allclose(full, karaoke + vocal, rtol=0, atol=1e-6)
    assert np.max(np.abs(vocal[:, 48000:])) > 1e-3, "the reverb send's tail belongs to the lead vocal"


def test_solo_by_role_keeps_only_that_role(band: Path) -> None:
    harmonies = render(band / "session.json", band / "out" / "bv.wav", "--solo", "backing_vocals", "--tail", "0.25")

    expected = (tone(660, 1.0, level=LEVEL) + tone(550, 1.0, level=LEVEL))[0] * CENTRE
    assert harmonies.shape == (2, 60000)
    np.testing.assert_allclose(harmonies[0, :48000], expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(harmonies[0], harmonies[1])
    np.testing.assert_array_equal(harmonies[:, 48000:], 0.0)


def test_solo_by_name_of_a_stereo_stem_passes_it_unchanged(band: Path) -> None:
    bass = render(band / "session.json", band / "out" / "bass.wav", "--solo", "bass", "--tail", "0")
    np.testing.assert_array_equal(bass, tone(110, 1.0, channels=2, level=LEVEL))


@pytest.fixture
def single(tmp_path: Path) -> Path:
    write_audio(tmp_path / "one.wav", noise(1.0, level=0.1))
    return write_session(tmp_path, {"stems": [{"name": "one", "file": "one.wav", "role": "keys"}]})


def test_gain_plus_6_doubles_the_stem(single: Path) -> None:
    plain = render(single, single.parent / "plain.wav", "--tail", "0")
    louder = render(single, single.parent / "louder.wav", "--tail", "0", "--gain", "one=+6")

    assert plain.shape == louder.shape == (2, 48000)
    np.testing.assert_allclose(louder, plain * 10 ** (6 / 20), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(louder, 2 * plain, rtol=3e-3, atol=1e-9)


@pytest.mark.parametrize(("pan", "side", "silent"), [("-1", 0, 1), ("+1", 1, 0)], ids=["left", "right"])
def test_hard_pan_puts_a_mono_stem_on_one_side_only(single: Path, pan: str, side: int, silent: int) -> None:
    panned = render(single, single.parent / "panned.wav", "--tail", "0", "--pan", f"one={pan}")

    source, _ = read_audio(single.parent / "one.wav")
    np.testing.assert_array_equal(panned[side], source[0])
    assert np.count_nonzero(panned[silent]) == 0, f"the other side holds up to {np.max(np.abs(panned[silent]))}"


def test_mono_stem_at_centre_is_3_db_down_each_side(single: Path) -> None:
    centred = render(single, single.parent / "centre.wav", "--tail", "0")
    source, _ = read_audio(single.parent / "one.wav")
    np.testing.assert_allclose(centred, np.vstack([source, source]) * CENTRE, rtol=1e-6, atol=1e-9)


def test_preset_matching_no_stem_warns_and_renders(single: Path) -> None:
    output = single.parent / "mix.wav"
    proc = ok("render", single, "-o", output, "--preset", "karaoke", "--tail", "0")

    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("warning: karaoke.json: stems[0]")
    assert "'lead_vocal'" in lines[0]
    assert output.exists()
