"""A property: no command ever touches a file outside its output set, whatever the session and options."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stemhost.cli.main import main

from conftest import noise, snapshot, tone, write_audio

NAMES = ["drums", "bass", "vox", "mix", "stems", "full"]
TARGETS = ["new.wav", "out/new.wav", "take.wav", "mix.wav", "drums.wav", "audio/bass.flac", "session.json", "link.wav",
           "ro.wav", "ir.wav", "stems.json", "audio"]  # fmt: skip
FOLDERS = [".", "audio", "stems", "out", "pack"]


@st.composite
def songs(draw) -> dict:
    """A session's stems (names, folders, formats, mutes), an optional bus and impulse response, and what else lies around."""
    names = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True))
    stems = []
    for name in names:
        folder = draw(st.sampled_from(["", "audio/"]))
        ext = draw(st.sampled_from([".wav", ".flac"]))
        stems.append({"name": name, "file": f"{folder}{name}{ext}", "mute": draw(st.booleans())})
    if draw(st.booleans()):
        stems[0]["chain"] = [{"type": "Convolution", "impulse_response_filename": "ir.wav"}]
    buses = [{"name": "band"}] if draw(st.booleans()) else []
    if buses:
        stems[-1]["output"] = "band"
    return {
        "session": {"stems": stems, "buses": buses},
        "user_stems_json": draw(st.booleans()),
        "crafted_manifest": draw(st.sampled_from([None, "../session.json", "/etc/hostname", "audio"])),
    }


@st.composite
def commands(draw) -> list[str]:
    """A render, an export or a cache clear, with outputs drawn from names that collide with the song's files."""
    kind = draw(st.sampled_from(["render", "export", "cache"]))
    if kind == "cache":
        return ["cache", "clear"]
    if kind == "export":
        variants = draw(st.sampled_from(["full", "full,karaoke", "minus-one"]))
        return ["export", "session.json", "--variants", variants, "-o", draw(st.sampled_from(FOLDERS)), "--tail", "0"]
    command = ["render", "session.json", "--tail", "0"]
    target = draw(st.sampled_from([None, *TARGETS]))
    stems_out = draw(st.sampled_from([None, *FOLDERS]))
    if target is None and stems_out is None:
        target = "new.wav"
    if target is not None:
        command += ["-o", target]
        if draw(st.booleans()):
            command += ["--report", "report.html"]
    if stems_out is not None:
        command += ["--stems-out", stems_out]
    return command


def make_song(root: Path, song: dict) -> None:
    for i, stem in enumerate(song["session"]["stems"]):
        (root / stem["file"]).parent.mkdir(exist_ok=True)
        write_audio(root / stem["file"], noise(0.2, channels=1 + i % 2, seed=i), subtype="PCM_16")
    write_audio(root / "ir.wav", tone(1000, 0.01))
    (root / "session.json").write_text(json.dumps(song["session"]))
    (root / "out").mkdir()
    (root / "take.wav").write_bytes(b"a take of the user's own")
    (root / "link.wav").symlink_to(root / song["session"]["stems"][0]["file"])
    (root / "ro.wav").write_bytes(b"read-only")
    (root / "ro.wav").chmod(0o444)
    if song["user_stems_json"]:
        (root / "stems").mkdir()
        (root / "stems" / "stems.json").write_text('{"files": ["not stemhost\'s"]}')
    if song["crafted_manifest"] is not None:
        (root / "pack").mkdir()
        entry = {"file": song["crafted_manifest"], "variant": "x", "key": 0.0, "tempo": 1.0, "loudness_lufs": None,
                 "peak_dbfs": None, "duration_s": 0.1, "sha256": "0" * 64, "inputs": "0"}  # fmt: skip
        manifest = {"song": "s", "session": str(root / "session.json"), "variants": ["x"], "files": [entry]}
        (root / "pack" / "manifest.json").write_text(json.dumps(manifest))


def output_set(root: Path, command: list[str]) -> set[str]:
    """The paths a command may create or change, relative to root: its files and the folders that hold them."""
    options = dict(zip(command, command[1:], strict=False))
    allowed: set[str] = set()
    for option in ("-o", "--report"):
        if option in options and command[0] == "render":
            allowed.add(os.path.normpath(options[option]))
    folders = [options["--stems-out"]] if "--stems-out" in options else []
    if command[0] == "export":
        folders.append(options["-o"])
    for folder in folders:
        allowed |= {os.path.normpath(f"{folder}/{p.name}") for p in (root / folder).glob("*") if p.is_file()}
        allowed.add(os.path.normpath(folder))
    return allowed


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(song=songs(), command=commands())
def test_no_command_touches_a_file_outside_its_outputs(tmp_path_factory, capsys, song, command):
    root = tmp_path_factory.mktemp("song")
    make_song(root, song)
    before = snapshot(root)
    cwd, cache = os.getcwd(), os.environ["STEMHOST_CACHE_DIR"]
    os.chdir(root)
    os.environ["STEMHOST_CACHE_DIR"] = str(root)  # a careless setting: the song folder as the cache
    try:
        status = main(command)
    finally:
        os.chdir(cwd)
        os.environ["STEMHOST_CACHE_DIR"] = cache
    err = capsys.readouterr().err
    assert status in (0, 1), err
    assert "internal error" not in err and "Traceback" not in err, err
    if status == 1:
        assert err.startswith("error: ") and err.count("\n") == 1, err
    after = snapshot(root)
    allowed = output_set(root, command)
    changed = {p for p in before if after.get(p) != before[p]} | (set(after) - set(before))
    assert changed <= allowed, f"{command} touched {sorted(changed - allowed)}"
    assert not any(".stemhost-" in p or p.endswith(".part") for p in after), "no temporary file is left"
