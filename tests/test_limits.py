"""Limits with clear errors: block sizes, sample rates, stem counts against memory and open files, JSON depth,
names, symbolic-link loops and scheduler addresses. Each is one `error:` line (exit 1), or a usage error (exit 2)."""

from __future__ import annotations

import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import pytest

import stemhost.limits
from stemhost.cli.main import main
from stemhost.errors import SessionError
from stemhost.limits import (
    MAX_BLOCK_SIZE,
    MAX_DEVICE_BLOCK,
    MAX_JSON_DEPTH,
    MAX_RENDER_AHEAD_S,
    MAX_STEMS,
    MIN_BLOCK_SIZE,
    render_memory,
)
from stemhost.live.play import PlayOptions, playing
from stemhost.live.player import RENDER_BLOCK, most_ahead, ring_capacity
from stemhost.session.files import load_session
from stemhost.session.validation import read_json

from conftest import read_audio, tone, write_audio, write_session

SR = 48000
CONTROLS = ("\x00", "\x1b", "\x7f", "\x9b")  # NUL, ESC, DEL, CSI (C1)


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """A session of two stems (one through a reverb and a compressor) in tmp_path; returns the session file."""
    write_audio(tmp_path / "a.wav", tone(220, 1.0, channels=2))
    write_audio(tmp_path / "b.wav", tone(330, 0.6))
    data = {
        "stems": [
            {"name": "a", "file": "a.wav", "chain": [{"type": "Reverb"}, {"type": "Compressor", "threshold_db": -20}]},
            {"name": "b", "file": "b.wav", "output": "band"},
        ],
        "buses": [{"name": "band", "chain": [{"type": "Delay", "delay_seconds": 0.1, "mix": 0.3}]}],
    }
    return write_session(tmp_path, data)


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    """Run the CLI in-process; a usage error's SystemExit becomes its status."""
    try:
        status = main([str(a) for a in argv])
    except SystemExit as exit_info:
        status = exit_info.code
    out, err = capsys.readouterr()
    return status, out, err


def one_error(status: int, err: str, code: int = 1) -> str:
    """The one `error:` line on stderr (no traceback, no internal error), checked for the exit status."""
    assert "Traceback" not in err and "internal error" not in err, err
    lines = [line for line in err.splitlines() if "error: " in line]  # a usage error follows argparse's usage text
    assert len(lines) == 1 and (code == 2 or len(err.strip().splitlines()) == 1), err
    assert status == code, err
    assert "error: " in lines[0], err
    assert not any(c in lines[0] for c in CONTROLS), f"a control character reached the terminal: {lines[0]!r}"
    return lines[0]


# ---------------------------------------------------------------------------------------------------------------
# Block sizes


@pytest.mark.parametrize("size", [1, 2, MIN_BLOCK_SIZE - 1, MAX_BLOCK_SIZE + 1, 100_000_000])
def test_block_sizes_outside_the_documented_range_are_usage_errors(song, tmp_path, capsys, size):
    status, _, err = cli(capsys, "render", song, "-o", tmp_path / "out.wav", "--block-size", size)
    line = one_error(status, err, code=2)
    assert f"must lie between {MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE} frames" in line
    assert not (tmp_path / "out.wav").exists()


def test_the_smallest_and_largest_block_sizes_give_the_default_output(song, tmp_path, capsys):
    renders = []
    for size in (MIN_BLOCK_SIZE, 65536, MAX_BLOCK_SIZE):
        out = tmp_path / f"bs{size}.wav"
        assert cli(capsys, "render", song, "-o", out, "--block-size", size, "--bit-depth", "32f")[0] == 0
        renders.append(read_audio(out)[0])
    for other in renders[1:]:
        assert other.shape == renders[0].shape
        np.testing.assert_array_equal(other, renders[0])


@pytest.mark.parametrize("size", [0, MAX_DEVICE_BLOCK + 1, 100000])
def test_play_blocksizes_outside_the_documented_range_are_usage_errors(song, capsys, size):
    status, _, err = cli(capsys, "play", song, "--no-ui", "--blocksize", size)
    assert one_error(status, err, code=2)


@pytest.mark.parametrize("blocksize", [256, RENDER_BLOCK, 4096, MAX_DEVICE_BLOCK])
def test_the_ring_holds_a_whole_device_block_and_render_ahead(blocksize):
    capacity = ring_capacity(RENDER_BLOCK, blocksize)
    assert capacity >= blocksize + 4 * RENDER_BLOCK
    assert capacity % RENDER_BLOCK == 0
    assert ring_capacity(RENDER_BLOCK, 256) == 5 * RENDER_BLOCK  # the default keeps its 53 ms


@pytest.mark.parametrize("blocksize", [256, 4096, MAX_DEVICE_BLOCK])
@pytest.mark.parametrize("rate", [8000, 48000, 192000])
def test_the_ring_grows_after_stalls_up_to_half_a_second_and_never_below_its_start(blocksize, rate):
    most = most_ahead(RENDER_BLOCK, blocksize, rate)
    start = ring_capacity(RENDER_BLOCK, blocksize)
    assert most >= start and most % RENDER_BLOCK == 0
    assert most == start or most - RENDER_BLOCK < MAX_RENDER_AHEAD_S * rate <= most


def test_a_device_block_larger_than_the_render_ahead_plays_the_song_and_ends(tmp_path, jack_device):
    """JACK's period is 256 frames; PortAudio hands stemhost 4096-frame callbacks, more than 5 render blocks."""
    blocksize = 4096
    assert blocksize > 5 * RENDER_BLOCK
    write_audio(tmp_path / "a.wav", tone(220, 3.0, channels=2))
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]})
    options = PlayOptions(device="system", blocksize=blocksize, duration_s=1.0, capture_s=4.0)
    began = time.monotonic()
    with playing(load_session(path), path, options) as (player, _):
        while not player.ended and time.monotonic() - began < 10:
            time.sleep(0.05)
        ended_after = time.monotonic() - began
        while player.captured < SR + blocksize and time.monotonic() - began < 10:  # the ring plays out
            time.sleep(0.05)
        played = player.capture()[:SR].copy()
    assert player.ended and player.error is None
    assert ended_after < 5.0, f"--duration 1 played for {ended_after:.1f} s"
    assert player.program_underruns == 0, f"{player.render_underruns} render underruns"
    callbacks = [played[i : i + blocksize] for i in range(0, len(played) - blocksize + 1, blocksize)]
    assert len(callbacks) >= 10
    empty = sum(not np.any(block) for block in callbacks)
    assert empty == 0, f"{empty} of {len(callbacks)} callbacks were silent"
    np.testing.assert_allclose(played[:, 0], tone(220, 1.0, channels=2)[0], atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Sample rates


@pytest.mark.parametrize("rate", [1, 7999, 384001, 2147483648])
def test_output_rates_outside_the_documented_range_are_usage_errors(song, tmp_path, capsys, rate):
    status, _, err = cli(capsys, "render", song, "-o", tmp_path / "out.wav", "--sample-rate", rate)
    assert "must lie between 8000 and 384000 Hz" in one_error(status, err, code=2)


def test_a_stem_whose_header_says_one_hertz_is_one_clear_error(tmp_path, capsys):
    write_audio(tmp_path / "slow.wav", tone(220, 0.1), sample_rate=1)
    path = write_session(tmp_path, {"stems": [{"name": "slow", "file": "slow.wav"}]})
    status, _, err = cli(capsys, "render", path, "-o", tmp_path / "out.wav")
    line = one_error(status, err)
    assert "session.json: stems[0].file:" in line and "1 Hz" in line and "8000 to 384000 Hz" in line
    assert not (tmp_path / "out.wav").exists()


# ---------------------------------------------------------------------------------------------------------------
# Stem counts: memory and open files


def many_stems(folder: Path, count: int) -> Path:
    write_audio(folder / "a.wav", tone(220, 0.2))
    stems = [{"name": f"s{i}", "file": "a.wav", "gain_db": -60} for i in range(count)]
    return write_session(folder, {"stems": stems})


def test_a_render_that_would_not_fit_in_memory_is_refused_before_it_starts(tmp_path, capsys, monkeypatch):
    path = many_stems(tmp_path, 300)
    needed = render_memory(300, 0, 65536)
    monkeypatch.setattr(stemhost.limits, "available_memory", lambda: needed // 2)
    status, _, err = cli(capsys, "render", path, "-o", tmp_path / "out.wav")
    line = one_error(status, err)
    assert "session.json: 300 stems and 0 buses at a block size of 65536 frames need about" in line
    assert "per stem" in line and "is available: use --block-size 16384" in line
    assert not (tmp_path / "out.wav").exists()
    assert cli(capsys, "render", path, "-o", tmp_path / "out.wav", "--block-size", 16384)[0] == 0


def test_the_memory_estimate_follows_the_block_size_and_the_stems():
    per_stem = (render_memory(1000, 0, 65536) - render_memory(0, 0, 65536)) / 1000
    assert 1.0e6 < per_stem < 1.2e6  # measured: 1.1 MB per stem at 65536 frames (peak RSS, 100 to 1,000 stems)
    per_stem = (render_memory(1000, 0, 8192) - render_memory(0, 0, 8192)) / 1000
    assert 0.15e6 < per_stem < 0.2e6  # measured: 0.18 MB at 8192


def test_more_stems_than_the_documented_maximum_is_one_short_error(tmp_path, capsys):
    path = many_stems(tmp_path, MAX_STEMS + 1)
    status, _, err = cli(capsys, "validate", path)
    line = one_error(status, err)
    assert f"session.json: stems: tuple should have at most {MAX_STEMS} items" in line
    assert len(line) < 300


def test_stems_beyond_the_open_file_limit_raise_it_or_say_so(tmp_path, capsys, monkeypatch):
    path = many_stems(tmp_path, 200)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (128, hard))
    try:
        assert cli(capsys, "render", path, "-o", tmp_path / "out.wav")[0] == 0
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    real = resource.getrlimit
    monkeypatch.setattr(
        stemhost.limits.resource,
        "getrlimit",
        lambda which: (128, 128) if which == resource.RLIMIT_NOFILE else real(which),
    )
    status, _, err = cli(capsys, "render", path, "-o", tmp_path / "again.wav")
    assert "session.json: 200 stems need 264 open files and the system allows 128" in one_error(status, err)


# ---------------------------------------------------------------------------------------------------------------
# JSON


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5000, 100_000])
def test_deeply_nested_json_is_one_clear_error(tmp_path, capsys, depth):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    path = tmp_path / "session.json"
    path.write_text('{"stems": [{"name": "a", "file": "a.wav"}], "title": ' + "[" * depth + "]" * depth + "}")
    status, _, err = cli(capsys, "validate", path)
    assert f"session.json: arrays and objects are nested more than {MAX_JSON_DEPTH} deep" in one_error(status, err)
    plain = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}]}, name="plain.json")
    preset = tmp_path / "deep.json"
    preset.write_text("[" * depth + "]" * depth)
    status, _, err = cli(capsys, "validate", plain, "--preset", preset)
    assert f"deep.json: arrays and objects are nested more than {MAX_JSON_DEPTH} deep" in one_error(status, err)
    with pytest.raises(SessionError, match="nested more than"):
        read_json(preset)


def test_json_nested_as_deep_as_allowed_still_reads():
    data = read_json_text("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert isinstance(data, list)


def read_json_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.json"
        path.write_text(text)
        return read_json(path)


def test_a_number_of_thousands_of_digits_is_one_clear_error(tmp_path, capsys):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    path = tmp_path / "session.json"
    path.write_text('{"stems": [{"name": "a", "file": "a.wav", "gain_db": ' + "9" * 5000 + "}]}")
    status, _, err = cli(capsys, "validate", path)
    assert "session.json: malformed JSON (Exceeds the limit (4300 digits)" in one_error(status, err)


# ---------------------------------------------------------------------------------------------------------------
# Names and text


NAMED = {
    "stems[0].name": lambda d, v: d["stems"][0].update(name=v),
    "buses[0].name": lambda d, v: d["buses"][0].update(name=v),
    "stems[1].output": lambda d, v: d["stems"][1].update(output=v),
    "stems[0].sends[0].bus": lambda d, v: d["stems"][0].update(sends=[{"bus": v}]),
    "title": lambda d, v: d.update(title=f"My {v}song"),
    "artist": lambda d, v: d.update(artist=f"{v}band"),
    "stems[0].file": lambda d, v: d["stems"][0].update(file=f"a{v}.wav"),
}


@pytest.mark.parametrize("control", CONTROLS, ids=["NUL", "ESC", "DEL", "CSI"])
@pytest.mark.parametrize("where", NAMED)
def test_control_characters_in_names_and_text_are_refused(tmp_path, capsys, where, control):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    data = {
        "stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "a.wav"}],
        "buses": [{"name": "band"}],
    }
    value = f"x{control}[31m" if control == "\x1b" else f"x{control}y"
    NAMED[where](data, value)
    path = write_session(tmp_path, data)
    status, out, err = cli(capsys, "render", path, "--stems-out", tmp_path / "parts")
    line = one_error(status, err)
    assert f"session.json: {where}: " in line and "control character" in line
    assert repr(control)[1:-1] in line  # shown escaped
    assert out == "" and not (tmp_path / "parts").exists()


@pytest.mark.parametrize("name", [".", "..", "...", "a/b", "a\\b", "a b", "a\tb"])
def test_names_that_are_not_plain_file_names_are_refused(tmp_path, capsys, name):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    path = write_session(tmp_path, {"stems": [{"name": name, "file": "a.wav"}]})
    status, _, err = cli(capsys, "render", path, "--stems-out", tmp_path / "parts")
    assert "session.json: stems[0].name: a name " in one_error(status, err)
    assert not (tmp_path / "parts").exists()


def test_names_with_dots_dashes_and_letters_of_any_script_still_load(tmp_path):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    names = ["lead.vox", "..hidden", "Gitarre-ü", "ボーカル", "a_b"]
    path = write_session(tmp_path, {"stems": [{"name": n, "file": "a.wav"} for n in names], "title": "Ça va — été"})
    assert [s.name for s in load_session(path).stems] == names


# ---------------------------------------------------------------------------------------------------------------
# Symbolic-link loops


def test_a_stem_that_is_a_symlink_loop_is_one_clear_error(tmp_path, capsys):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    os.symlink("loop2.wav", tmp_path / "loop1.wav")
    os.symlink("loop1.wav", tmp_path / "loop2.wav")
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "loop1.wav"}]})
    for command in (["render", path, "-o", tmp_path / "out.wav"], ["validate", path], ["analyze", path]):
        status, _, err = cli(capsys, *command)
        line = one_error(status, err)
        assert "session.json: stems[1].file: " in line and "leads back to itself" in line
    assert not (tmp_path / "out.wav").exists()


def test_an_impulse_response_that_is_a_symlink_loop_is_one_clear_error(tmp_path, capsys):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    os.symlink("ir.wav", tmp_path / "ir.wav")
    chain = [{"type": "Convolution", "impulse_response_filename": "ir.wav"}]
    path = write_session(tmp_path, {"stems": [{"name": "a", "file": "a.wav", "chain": chain}]})
    status, _, err = cli(capsys, "render", path, "-o", tmp_path / "out.wav")
    line = one_error(status, err)
    assert "session.json: stems[0].chain[0].impulse_response_filename: " in line and "leads back to itself" in line


def test_a_session_path_that_is_a_symlink_loop_is_one_clear_error(tmp_path, capsys):
    os.symlink("session.json", tmp_path / "session.json")
    status, _, err = cli(capsys, "render", tmp_path / "session.json", "-o", tmp_path / "out.wav")
    assert "session.json: cannot be read" in one_error(status, err)


def test_init_does_not_replace_a_looping_session_link(tmp_path, capsys):
    write_audio(tmp_path / "a.wav", tone(220, 0.2))
    os.symlink("session.json", tmp_path / "session.json")
    os.symlink("x.wav", tmp_path / "x.wav")  # an audio name that loops: not a stem
    status, _, err = cli(capsys, "init", tmp_path)
    assert "session.json: already exists; pass --force to replace it" in one_error(status, err)
    assert (tmp_path / "session.json").is_symlink()


def test_a_batch_song_with_a_looping_stem_fails_alone_with_a_clear_error(tmp_path, capsys):
    catalog = tmp_path / "catalog"
    for song in ("good", "bad"):
        (catalog / song).mkdir(parents=True)
        write_audio(catalog / song / "a.wav", tone(220, 0.2))
    os.symlink("loop.wav", catalog / "bad" / "loop.wav")
    write_session(catalog / "good", {"stems": [{"name": "a", "file": "a.wav"}]})
    write_session(catalog / "bad", {"stems": [{"name": "a", "file": "a.wav"}, {"name": "b", "file": "loop.wav"}]})
    os.symlink(".", catalog / "self")  # a folder loop in the catalog
    status, _, err = cli(capsys, "batch", catalog, "-o", tmp_path / "renders", "--workers", "1")
    assert status == 1
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1 and "session.json: stems[1].file: " in failed[0] and "leads back to itself" in failed[0]
    assert "internal error" not in err and "Traceback" not in err
    listing = json.loads((tmp_path / "renders" / "catalog.json").read_text())
    assert sorted(o["status"] for o in listing["outputs"]) == ["done", "failed"]


# ---------------------------------------------------------------------------------------------------------------
# Scheduler addresses


@pytest.mark.parametrize("address", ["tcp://:::", "nonsense", "tcp://[::1"])
def test_a_malformed_scheduler_address_is_one_clear_error(tmp_path, capsys, address):
    catalog = tmp_path / "catalog"
    catalog.mkdir()
    write_audio(catalog / "a.wav", tone(220, 0.2))
    write_session(catalog, {"stems": [{"name": "a", "file": "a.wav"}]})
    status, _, err = cli(capsys, "batch", catalog, "-o", tmp_path / "renders", "--scheduler", address)
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "internal error" not in err and "Traceback" not in err, err
    assert lines[0].startswith(f"error: --scheduler {address!r}: not a scheduler address")
    assert "tcp://host:8786" in lines[0]
    assert status == 1
