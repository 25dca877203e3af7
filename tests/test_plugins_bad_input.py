"""Bad third-party plugin entries: one `error:` line naming the entry and the fix, exit 1, nothing written,
and nothing from outside the plugin folders ever loaded."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pedalboard
import pytest

from stemhost.cli.main import main
from stemhost.engine.plugin_stage import probe_channels
from stemhost.errors import SessionError

from conftest import tone, write_audio, write_session

SYSTEM_VST3 = Path("/usr/lib/vst3")
pytestmark = pytest.mark.skipif(
    not (SYSTEM_VST3 / "ZamEQ2.vst3").is_dir(),
    reason="Debian's zam-plugins are not installed (/usr/lib/vst3/ZamEQ2.vst3; scripts/install adds them)",
)
ENTRY = "session.json: stems[0].chain[0]"


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """A one-stem song, an empty output folder, a plugin folder of our own (``mine``) and one not allowed
    (``outside``), each with fake bundles."""
    write_audio(tmp_path / "a.wav", tone(440, 0.2))
    (tmp_path / "out").mkdir()
    mine, outside = tmp_path / "mine", tmp_path / "outside"
    (mine / "Empty.vst3").mkdir(parents=True)  # a folder named like a bundle, nothing inside
    (mine / "Flat.vst3").write_text("not a bundle")
    (mine / "Arm.vst3/Contents/aarch64-linux").mkdir(parents=True)
    (mine / "Arm.vst3/Contents/aarch64-linux/Arm.so").write_bytes(b"\x7fELF")
    (mine / "Broken.vst3/Contents/x86_64-linux").mkdir(parents=True)
    (mine / "Broken.vst3/Contents/x86_64-linux/Broken.so").write_bytes(b"garbage, not a library")
    (outside / "Evil.vst3/Contents/x86_64-linux").mkdir(parents=True)
    (outside / "Evil.vst3/Contents/x86_64-linux/Evil.so").write_bytes(b"garbage")
    os.symlink(outside / "Evil.vst3", mine / "Link.vst3")  # a link leading out of the plugin folder
    return tmp_path


def run(capsys, song: Path, entry: dict, *extra: str, where: str = "stems[0].chain") -> tuple[int, str]:
    data = {"stems": [{"name": "a", "file": "a.wav"}]}
    if where == "stems[0].chain":
        data["stems"][0]["chain"] = [entry]
    session = write_session(song, data)
    argv = ["render", str(session), "-o", str(song / "out" / "mix.wav"), "--plugin-path", str(song / "mine"), *extra]
    status = main(argv)
    _, err = capsys.readouterr()
    return status, err


def assert_one_error(status: int, err: str, song: Path, *fragments: str) -> None:
    lines = [line for line in err.strip().splitlines() if not line.startswith("DPF")]
    assert status == 1, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert list((song / "out").iterdir()) == []


def vst3(path: str, **fields) -> dict:
    return {"type": "VST3Plugin", "path_to_plugin_file": path, **fields}


@pytest.fixture
def no_plugin_code(monkeypatch):
    """Fail the test if any plugin library is opened."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("a plugin was loaded")

    monkeypatch.setattr(pedalboard.VST3Plugin, "get_plugin_names_for_file", staticmethod(refuse))
    monkeypatch.setattr(pedalboard, "VST3Plugin", refuse)


CASES = {
    "name-found-nowhere": (vst3("ZamEQ3.vst3"), ("path_to_plugin_file", "no plugin folder holds 'ZamEQ3.vst3'",
                                                 "did you mean", "'ZamEQ2.vst3'", "--plugin-path DIR")),
    "not-a-bundle-folder": (vst3("Empty.vst3"), ("is not a VST3 bundle", "Contents/<arch>-linux")),
    "not-a-bundle-file": (vst3("Flat.vst3"), ("is not a VST3 bundle",)),
    "other-architecture": (vst3("Arm"), ("is built for aarch64-linux, not x86_64-linux",)),
    "dot-dot": (vst3("../outside/Evil.vst3"), ("neither a bundle name nor an absolute path",)),
    "relative-path": (vst3("outside/Evil.vst3"), ("neither a bundle name nor an absolute path",)),
    "bad-base64": (vst3("ZamEQ2.vst3", raw_state="not base64!"), ("raw_state: not base64",)),
    "not-a-vst3-state": (
        vst3("ZamEQ2.vst3", raw_state=base64.b64encode(b"hello").decode()),
        ("raw_state: not a VST3 plugin state", "b'hell'"),
    ),
    "audio-unit-on-linux": ({"type": "AudioUnitPlugin", "path_to_plugin_file": "X.component"}, ("macOS only",)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_refused_before_any_plugin_code_runs(song, capsys, no_plugin_code, name):
    entry, fragments = CASES[name]
    status, err = run(capsys, song, entry)
    assert_one_error(status, err, song, ENTRY, *fragments)


def test_a_path_outside_the_plugin_folders_is_refused(song, capsys, no_plugin_code):
    status, err = run(capsys, song, vst3(str(song / "outside" / "Evil.vst3")))
    assert_one_error(status, err, song, "lies outside the plugin folders", "--plugin-path DIR", "STEMHOST_PLUGIN_PATH")


def test_a_link_leading_out_of_a_plugin_folder_is_refused(song, capsys, no_plugin_code):
    status, err = run(capsys, song, vst3(str(song / "mine" / "Link.vst3")))
    assert_one_error(status, err, song, "lies outside the plugin folders")
    status, err = run(capsys, song, vst3("Link.vst3"))  # by name: the link is not among the installed bundles
    assert_one_error(status, err, song, "no plugin folder holds 'Link.vst3'")


def test_a_preset_may_not_load_from_outside_either(song, capsys, no_plugin_code):
    preset = song / "evil.json"
    preset.write_text(json.dumps({"master": {"chain": [vst3(str(song / "outside" / "Evil.vst3"))]}}))
    status, err = run(capsys, song, {}, "--preset", str(preset), where="none")
    assert_one_error(status, err, song, "master.chain[0].path_to_plugin_file", "lies outside the plugin folders")


def test_the_environment_allows_a_folder(song, capsys, monkeypatch):
    monkeypatch.setenv("STEMHOST_PLUGIN_PATH", str(song / "outside"))
    status, err = run(capsys, song, vst3("Evil.vst3"))
    assert_one_error(status, err, song, "failed when scanned", "Unable to scan plugin")  # allowed, then found broken


LOADED_CASES = {
    "fails-to-load": (vst3("Broken.vst3"), ("path_to_plugin_file", "failed when scanned", "Unable to scan plugin")),
    "plugin-name-not-held": (vst3("ZamEQ2.vst3", plugin_name="ZamEQ"), ("plugin_name", "did you mean 'ZamEQ2'",
                                                                       "it holds 'ZamEQ2'")),
    "unknown-parameter": (vst3("ZamEQ2.vst3", parameter_values={"master_gain": -6}), (
        "parameter_values.master_gain: the plugin has no parameter 'master_gain'", "did you mean 'master_gain_db'")),
    "out-of-range": (vst3("ZamEQ2.vst3", parameter_values={"master_gain_db": 20}), (
        "parameter_values.master_gain_db: 20 lies outside its range, -12 to 12 dB",)),
    "word-for-a-number": (vst3("ZamEQ2.vst3", parameter_values={"master_gain_db": "loud"}), ("'loud' is not a number",)),
    "number-for-a-switch": (vst3("ZamEQ2.vst3", parameter_values={"peaks_on": 1}), ("1 is not a switch value",
                                                                                    "true or false")),
    "word-not-a-choice": (vst3("ZamTube.vst3", parameter_values={"tone_stack_model": "Marshall"}), (
        "'Marshall' is not one of its choices", "'JTM 45'")),
    "hidden-parameter": (vst3("ZamEQ2.vst3", parameter_values={"buffer_size_frames": 64}), ("set by the host",)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(LOADED_CASES))
def test_refused_after_loading_before_any_audio_is_read(song, capsys, name):
    entry, fragments = LOADED_CASES[name]
    status, err = run(capsys, song, entry)
    assert_one_error(status, err, song, ENTRY, *fragments)


def test_validate_lists_each_strips_plugins_with_their_latency(song, capsys):
    data = {
        "stems": [{"name": "a", "file": "a.wav", "chain": [vst3("ZamEQ2.vst3"), vst3("ZaMaximX2", bypass=True)]}],
        "master": {"chain": [vst3("ZamCompX2")]},
    }
    status = main(["validate", str(write_session(song, data))])
    out, _ = capsys.readouterr()
    assert status == 0
    assert "plugins on stem a: ZamEQ2 (mono, latency 0 frames), ZaMaximX2 (mono to stereo, latency 480 frames, " \
           "bypassed)" in out  # fmt: skip
    assert "plugins on master: ZamCompX2 (stereo, latency 0 frames)" in out
    assert "latency 480 frames)" in out.splitlines()[-1]


def test_a_plugin_taking_neither_mono_nor_stereo_is_refused():
    class Surround:  # pedalboard's answer for a plugin whose buses want six channels
        name = "Surround"

        def process(self, block, *_args, **_kwargs):
            raise ValueError(f"Plugin 'Surround' does not support {block.shape[0]}-channel output. (wants 6)")

    with pytest.raises(SessionError, match=r"x: 'Surround' takes neither mono nor stereo audio .*one or two channels"):
        probe_channels(Surround(), 2, 48000, 512, "x")
