"""stemhost writes, replaces and deletes only what it can prove it made (see stemhost.ownership)."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stemhost.cli.main import main
from stemhost.errors import OutputError
from stemhost.ownership import remove_leftovers, replaced_atomically, temporary_beside
from stemhost.session.files import set_key_shift

from conftest import noise, snapshot, tone, write_audio, write_session

STEMHOST = str(Path(sys.executable).parent / "stemhost")


def song(folder: Path, seconds: float = 0.5) -> Path:
    """A song folder: three stems and a session."""
    folder.mkdir(parents=True, exist_ok=True)
    write_audio(folder / "drums.wav", noise(seconds, channels=2, level=0.1), subtype="PCM_16")
    write_audio(folder / "bass.wav", tone(55, seconds), subtype="PCM_24")
    write_audio(folder / "lead_vocal.wav", tone(440, seconds))
    stems = [
        {"name": "drums", "file": "drums.wav", "role": "drums"},
        {"name": "bass", "file": "bass.wav", "role": "bass"},
        {"name": "lead_vocal", "file": "lead_vocal.wav", "role": "lead_vocal"},
    ]
    return write_session(folder, {"stems": stems})


def one_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_a_crafted_pack_manifest_deletes_nothing(tmp_path, capsys):
    session = song(tmp_path / "song")
    pack = tmp_path / "song" / "pack"
    assert main(["export", str(session), "--variants", "full", "-o", str(pack)]) == 0
    victim = tmp_path / "precious.wav"
    victim.write_bytes(b"mine")
    manifest = json.loads((pack / "manifest.json").read_text())
    entry = manifest["files"][0]
    manifest["files"] += [
        {**entry, "file": "../../precious.wav"},
        {**entry, "file": str(victim)},
        {**entry, "file": "../session.json"},
    ]
    (pack / "manifest.json").write_text(json.dumps(manifest))
    before = snapshot(tmp_path)
    capsys.readouterr()
    for force in ([], ["--force"]):
        assert main(["export", str(session), "--variants", "karaoke", "-o", str(pack), *force]) == 1
        assert "is not a plain file name inside the pack folder" in one_error(capsys)
    assert snapshot(tmp_path) == before


def test_a_pack_keeps_a_listed_file_that_changed_since_it_was_written(tmp_path, capsys):
    session = song(tmp_path / "song")
    pack = tmp_path / "pack"
    assert main(["export", str(session), "--variants", "full,karaoke", "-o", str(pack)]) == 0
    karaoke = next(pack.glob("*-karaoke.wav"))
    karaoke.write_bytes(b"the user's own take now")
    assert main(["export", str(session), "--variants", "full", "-o", str(pack)]) == 0
    assert karaoke.read_bytes() == b"the user's own take now"
    assert "changed since stemhost wrote it" in capsys.readouterr().err


def test_stems_out_into_the_song_folder_is_refused(tmp_path, capsys, monkeypatch):
    session = song(tmp_path)
    (tmp_path / "stems.json").write_text('{"my": "own file"}')
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    for folder in (".", str(tmp_path)):
        assert main(["render", str(session), "--stems-out", folder]) == 1
        assert "the folder holds the session file; write the stems into a folder of their own" in one_error(capsys)
    assert snapshot(tmp_path) == before


def test_stems_out_never_replaces_a_file_no_render_listed(tmp_path, capsys):
    session = song(tmp_path / "song")
    stems = tmp_path / "stems"
    stems.mkdir()
    (stems / "stems.json").write_text('{"files": "a session of mine"}')
    assert main(["render", str(session), "--stems-out", str(stems)]) == 1
    assert "'stems.json' there is not a listing stemhost wrote" in one_error(capsys)
    (stems / "stems.json").unlink()
    (stems / "bass.wav").write_bytes(b"a bass I recorded")
    assert main(["render", str(session), "--stems-out", str(stems)]) == 1
    assert "'bass.wav' is already there and no stemhost render made it" in one_error(capsys)
    (stems / "bass.wav").unlink()
    assert main(["render", str(session), "--stems-out", str(stems)]) == 0
    assert main(["render", str(session), "--stems-out", str(stems)]) == 0, "its own files are replaced"


def test_master_and_stems_on_one_path_are_refused(tmp_path, capsys):
    session = song(tmp_path / "song")
    out = tmp_path / "out"
    out.mkdir()
    assert main(["render", str(session), "-o", str(out / "drums.wav"), "--stems-out", str(out)]) == 1
    err = one_error(capsys)
    assert "writes the same file" in err and "drums.wav" in err
    assert not any(out.iterdir())


@pytest.mark.parametrize("target", ["session.json", "drums.wav", "link-to-bass.wav", "hardlink-to-bass.wav"])
def test_analyze_never_writes_its_json_over_an_input(tmp_path, capsys, target):
    session = song(tmp_path)
    (tmp_path / "link-to-bass.wav").symlink_to(tmp_path / "bass.wav")
    os.link(tmp_path / "bass.wav", tmp_path / "hardlink-to-bass.wav")
    before = snapshot(tmp_path)
    assert main(["analyze", str(session), "--json", str(tmp_path / target)]) == 1
    err = one_error(capsys)
    assert "stemhost never writes over its inputs" in err or "is a symbolic link" in err
    assert snapshot(tmp_path) == before


def test_a_preset_is_an_input_too(tmp_path, capsys):
    session = song(tmp_path)
    preset = tmp_path / "quiet.json"
    preset.write_text(json.dumps({"stems": [{"role": "drums", "gain_db": -6}]}))
    assert main(["analyze", str(session), "--preset", str(preset), "--json", str(preset)]) == 1
    assert "a preset this command reads" in one_error(capsys)


def test_batch_leaves_foreign_part_files_and_folders_alone(tmp_path, capsys):
    song(tmp_path / "songs" / "one", seconds=0.3)
    out = tmp_path / "renders"
    (out / "one").mkdir(parents=True)
    foreign = [out / ".download.zip.part", out / "one" / ".take.wav.abc.part", out / ".stemhost-settings" / "x.ini"]
    for path in foreign:
        path.parent.mkdir(exist_ok=True)
        path.write_text("not stemhost's")
    (out / "one" / "one-full.wav").write_bytes(b"a file of the output's name that no batch made")
    assert main(["batch", str(tmp_path / "songs"), "-o", str(out), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "'one/one-full.wav' is already there and no stemhost batch made it" in err
    assert all(path.read_text() == "not stemhost's" for path in foreign)
    assert (out / "one" / "one-full.wav").read_bytes() == b"a file of the output's name that no batch made"


def test_a_crafted_catalog_manifest_is_refused(tmp_path, capsys):
    song(tmp_path / "songs" / "one", seconds=0.3)
    out = tmp_path / "renders"
    out.mkdir()
    entry = {"song": "one", "variant": "full", "file": "../../etc/passwd", "status": "done"}
    (out / "catalog.json").write_text(json.dumps({"outputs": [entry]}))
    assert main(["batch", str(tmp_path / "songs"), "-o", str(out), "--workers", "1"]) == 1
    assert "not a stemhost catalog manifest" in one_error(capsys)


def test_a_read_only_target_is_refused_and_keeps_its_mode(tmp_path, capsys):
    session = song(tmp_path / "song")
    target = tmp_path / "mix.wav"
    target.write_bytes(b"kept")
    target.chmod(0o444)
    assert main(["render", str(session), "-o", str(target)]) == 1
    assert "is read-only" in one_error(capsys)
    assert target.read_bytes() == b"kept" and (target.stat().st_mode & 0o777) == 0o444


def test_replacing_a_file_keeps_its_mode(tmp_path):
    session = song(tmp_path / "song")
    target = tmp_path / "mix.wav"
    target.write_bytes(b"old")
    target.chmod(0o640)
    assert main(["render", str(session), "-o", str(target)]) == 0
    assert target.stat().st_size > 1000 and (target.stat().st_mode & 0o777) == 0o640


def test_a_symlinked_target_is_refused_and_left_as_it_is(tmp_path, capsys):
    session = song(tmp_path / "song")
    elsewhere = tmp_path / "elsewhere.wav"
    elsewhere.write_bytes(b"not a render")
    link = tmp_path / "mix.wav"
    link.symlink_to(elsewhere)
    assert main(["render", str(session), "-o", str(link)]) == 1
    assert "is a symbolic link" in one_error(capsys)
    assert link.is_symlink() and elsewhere.read_bytes() == b"not a render"


def test_a_symlinked_session_is_edited_where_it_lives(tmp_path):
    real = song(tmp_path / "song")
    real.chmod(0o600)
    link = tmp_path / "session.json"
    link.symlink_to(real)
    set_key_shift(link, -2)  # what fit --apply does
    assert link.is_symlink() and json.loads(real.read_text())["key_shift"] == -2
    assert (real.stat().st_mode & 0o777) == 0o600


def test_interrupted_after_the_output_is_written_says_so(tmp_path, capsys, monkeypatch):
    session = song(tmp_path / "song")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("stemhost.render.driver.write_report", interrupted)
    out = tmp_path / "mix.wav"
    code = main(["render", str(session), "-o", str(out), "--report", str(tmp_path / "r.html"), "--master", "streaming"])
    assert code == 130
    assert capsys.readouterr().err == f"error: interrupted; only {out} was written; nothing else\n"
    assert out.is_file() and not (tmp_path / "r.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mix.wav", "song"], "no temporary file is left"


def long_session(folder: Path, seconds: float = 60.0) -> Path:
    folder.mkdir(exist_ok=True)
    write_audio(folder / "a.wav", noise(seconds, channels=2, level=0.1), subtype="PCM_16")
    chain = [{"type": "Reverb"}, {"type": "Chorus"}, {"type": "Phaser"}, {"type": "Compressor", "ratio": 4}]
    return write_session(folder, {"stems": [{"name": "a", "file": "a.wav", "chain": chain}]})


def start_render(session: Path, out: Path, *extra: str) -> subprocess.Popen:
    """A mastered render in a process of its own, once its temporary files exist."""
    command = [STEMHOST, "render", str(session), "-o", str(out), "--block-size", "256", "--master", "streaming"]
    proc = subprocess.Popen([*command, *extra], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.parent.glob(".stemhost-*/mix.wav")):
        assert proc.poll() is None, "the render ended before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(0.2)
    return proc


@pytest.mark.parametrize(("signum", "name"), [(signal.SIGTERM, "SIGTERM"), (signal.SIGHUP, "SIGHUP")])
def test_sigterm_and_sighup_clean_up_like_ctrl_c(tmp_path, signum, name):
    session = long_session(tmp_path / "song")
    out = tmp_path / "out" / "mix.flac"
    out.parent.mkdir()
    proc = start_render(session, out)
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signum
    assert stderr.strip().splitlines() == [f"error: stopped by {name}; nothing was written"]
    assert list(out.parent.iterdir()) == []


def test_the_next_run_removes_what_a_killed_run_left_and_nothing_else(tmp_path):
    session = long_session(tmp_path / "song")
    out = tmp_path / "out" / "mix.wav"
    out.parent.mkdir()
    foreign = [out.parent / ".mix.wav.abcdefgh.part", out.parent / ".stemhost-settings"]
    foreign[0].write_text("someone else's")
    foreign[1].mkdir()
    proc = start_render(session, out, "--stems-out", str(out.parent / "stems"))
    proc.kill()
    proc.communicate(timeout=30)
    left = {p for p in out.parent.rglob(".*") if p not in foreign}
    assert any(p.name.endswith(".part") for p in left) and any(p.is_dir() for p in left), "SIGKILL leaves temporaries"
    assert main(["presets"]) == 0  # any command
    assert {p for p in out.parent.rglob(".*")} == set(foreign)
    assert foreign[0].read_text() == "someone else's"
    assert remove_leftovers() == 0


def test_a_temporary_of_a_live_run_is_not_removed(tmp_path):
    """Another process's journal is locked while it runs; its files are not leftovers."""
    code = (
        "import sys, time; from pathlib import Path; from stemhost.ownership import temporary_beside; "
        "print(temporary_beside(Path(sys.argv[1])), flush=True); time.sleep(30)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "mix.wav")], stdout=subprocess.PIPE, text=True)
    try:
        tmp = Path(proc.stdout.readline().strip())
        assert tmp.is_file()
        remove_leftovers()
        assert tmp.is_file()
    finally:
        proc.kill()
        proc.wait()
    remove_leftovers()
    assert not tmp.exists()


def test_a_temporary_file_carries_the_run_token_and_is_removed_on_error(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(RuntimeError), replaced_atomically(target) as tmp:
        assert ".stemhost-" in tmp.name and tmp.name.endswith(".part")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []
    name = "n" * 250
    tmp = temporary_beside(tmp_path / name)  # a long name still makes a valid temporary name
    assert len(tmp.name.encode()) <= 255
    tmp.unlink()


def _limit_file_size(size: int):
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_full_disk_while_tags_are_written_is_one_clear_error(tmp_path):
    """The audio fits, the tags do not: the file system refuses the write mid-way through tagging."""
    session = song(tmp_path / "song", seconds=2.0)
    plain = tmp_path / "plain.flac"
    assert main(["render", str(session), "-o", str(plain)]) == 0
    data = json.loads(session.read_text())
    data.update(title="A title long enough to need room" * 6, artist="Someone")
    session.write_text(json.dumps(data))
    out = tmp_path / "out" / "mix.flac"
    out.parent.mkdir()
    done = subprocess.run(
        [STEMHOST, "render", str(session), "-o", str(out)],
        capture_output=True,
        text=True,
        preexec_fn=_limit_file_size(plain.stat().st_size + 64),
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: -o {str(out)!r}: cannot finish the file"), lines
    assert list(out.parent.iterdir()) == []


def test_refusals_raise_output_errors(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(OutputError, match="symbolic link"), replaced_atomically(link):
        pass
    assert link.is_symlink() and not (tmp_path / "nowhere.json").exists()


def test_a_pack_never_deletes_an_earlier_variant_unless_forced(tmp_path, capsys):
    session = song(tmp_path / "song")
    pack = tmp_path / "pack"
    assert main(["export", str(session), "--variants", "full,karaoke", "-o", str(pack)]) == 0
    karaoke = next(pack.glob("*-karaoke.wav"))
    before = karaoke.read_bytes()
    capsys.readouterr()
    assert main(["export", str(session), "--variants", "full", "-o", str(pack)]) == 0
    assert karaoke.read_bytes() == before, "kept"
    assert karaoke.name in {e["file"] for e in json.loads((pack / "manifest.json").read_text())["files"]}
    assert "kept 1 file of earlier variants" in capsys.readouterr().err
    assert main(["export", str(session), "--variants", "full", "-o", str(pack), "--force"]) == 0
    assert not karaoke.exists(), "--force removes it"
    assert karaoke.name not in {e["file"] for e in json.loads((pack / "manifest.json").read_text())["files"]}


def test_stems_out_refuses_to_leave_an_earlier_renders_files_unlisted(tmp_path, capsys):
    session = song(tmp_path / "song")
    stems = tmp_path / "stems"
    assert main(["render", str(session), "--stems-out", str(stems)]) == 0
    before = snapshot(stems)
    capsys.readouterr()
    assert main(["render", str(session), "--mute", "bass", "--stems-out", str(stems)]) == 1
    assert "'bass.wav' is from an earlier render and this one does not write it" in one_error(capsys)
    assert snapshot(stems) == before, "nothing deleted, nothing written"
