"""The key/tempo stem cache: a root stemhost made and tagged, entries keyed by content, written in one step."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from subprocess import PIPE

import numpy as np
import pytest

import stemhost
import stemhost.engine.cache
from stemhost.cli.main import main
from stemhost.engine.cache import TAG_NAME, TAG_SIGNATURE, StemCache, source_hash

from conftest import noise, read_audio, tone, without_steps, write_audio, write_session

KEY = "0123456789abcdef0123456789abcdef"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under a folder by relative path, with the sha256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """A song folder: two stems and a session."""
    folder = tmp_path / "song"
    folder.mkdir()
    write_audio(folder / "bass.wav", tone(110.0, 1.0))
    write_audio(folder / "keys.wav", tone(330.0, 1.0))
    stems = [{"name": "bass", "file": "bass.wav", "role": "bass"}, {"name": "keys", "file": "keys.wav", "role": "keys"}]
    return write_session(folder, {"stems": stems})


def render_in_key(session: Path, out: Path, key: int = 2) -> int:
    return main(["render", str(session), "--key", str(key), "-o", str(out), "--bit-depth", "32f", "--tail", "0"])


def fill(cache: StemCache, key: str = KEY, audio: np.ndarray | None = None) -> Path:
    audio = tone(440.0, 0.5) if audio is None else audio
    return cache.get_or_build(key, lambda: (audio, 48000))


@pytest.mark.parametrize(
    "command", [["cache", "clear"], ["cache"], ["render", "--key", "2"]], ids=["clear", "show", "render"]
)
def test_a_song_folder_as_the_cache_is_refused_and_nothing_in_it_changes(song, monkeypatch, capsys, command):
    folder = song.parent
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(folder))
    before = snapshot(folder)
    if command[0] == "render":
        command = ["render", str(song), "--key", "2", "-o", str(folder.parent / "out.wav")]
    assert main(command) == 1
    err = capsys.readouterr().err
    assert err == (
        f"error: STEMHOST_CACHE_DIR={folder}: the folder exists and is not a stemhost cache (no CACHEDIR.TAG); "
        "point it at a new or empty folder\n"
    )
    assert snapshot(folder) == before


def test_a_relative_cache_folder_is_refused(song, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STEMHOST_CACHE_DIR", "cache")
    assert render_in_key(song, tmp_path / "out.wav") == 1
    assert main(["cache", "clear"]) == 1
    message = (
        "error: STEMHOST_CACHE_DIR=cache: a relative path (it would depend on the current folder); give an absolute one"
    )
    assert capsys.readouterr().err.splitlines() == [message] * 2
    assert not (tmp_path / "cache").exists()


def test_a_cache_root_that_is_a_file_is_an_error_not_a_crash(song, tmp_path, monkeypatch, capsys):
    root = tmp_path / "cache"
    root.write_text("not a folder")
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(root))
    assert render_in_key(song, tmp_path / "out.wav") == 1
    message = f"error: STEMHOST_CACHE_DIR={root}: that is a file or a broken link, not a folder; point it at a new or empty folder\n"
    assert capsys.readouterr().err == message
    assert root.read_text() == "not a folder"


def test_a_cache_root_that_cannot_be_made_is_an_error(song, tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "file" / "cache"))
    assert render_in_key(song, tmp_path / "out.wav") == 1
    assert "cannot make the folder (Not a directory)" in capsys.readouterr().err


def make_read_only(folder: Path) -> None:
    """chmod 555; as root (who may write anyway) also the immutable flag, or skip."""
    folder.chmod(0o555)
    if os.geteuid() == 0 and (
        shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)]).returncode
    ):
        folder.chmod(0o755)
        pytest.skip("running as root and chattr +i is not available to make a folder read-only")


def make_writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    folder.chmod(0o755)


def test_a_read_only_cache_serves_its_entries_and_a_missing_one_is_an_error(song, tmp_path, monkeypatch, capsys):
    root = tmp_path / "cache"
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(root))
    assert render_in_key(song, tmp_path / "1.wav", key=2) == 0
    before = snapshot(root)
    make_read_only(root)
    try:
        (root / "probe").write_text("x")  # what actually happens when writing, not what os.access says
        pytest.fail("the cache folder is still writable")
    except OSError:
        pass
    try:
        capsys.readouterr()
        assert render_in_key(song, tmp_path / "2.wav", key=2) == 0  # every entry it needs is there
        np.testing.assert_array_equal(read_audio(tmp_path / "2.wav")[0], read_audio(tmp_path / "1.wav")[0])
        assert render_in_key(song, tmp_path / "3.wav", key=3) == 1
        err = without_steps(capsys.readouterr().err)
        assert err.startswith(f"error: STEMHOST_CACHE_DIR={root}: cannot write a cache entry (")
        assert err.endswith("); make the folder writable, or point STEMHOST_CACHE_DIR at another folder\n")
        assert not (tmp_path / "3.wav").exists()
    finally:
        make_writable(root)
    assert snapshot(root) == before


def test_a_stem_swapped_for_same_size_audio_with_its_old_mtime_renders_the_new_audio(song, tmp_path, monkeypatch):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))
    bass = song.parent / "bass.wav"
    assert render_in_key(song, tmp_path / "old.wav") == 0
    stat = bass.stat()
    write_audio(bass, tone(98.0, 1.0))  # the same format and length: the same size
    os.utime(bass, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (bass.stat().st_size, bass.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert render_in_key(song, tmp_path / "swapped.wav") == 0
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "fresh-cache"))
    assert render_in_key(song, tmp_path / "fresh.wav") == 0
    swapped, fresh = read_audio(tmp_path / "swapped.wav")[0], read_audio(tmp_path / "fresh.wav")[0]
    np.testing.assert_allclose(swapped, fresh, atol=1e-6)
    assert np.max(np.abs(swapped - read_audio(tmp_path / "old.wav")[0])) > 0.1


def test_a_new_process_hashes_a_source_again_and_one_process_hashes_it_once(tmp_path, monkeypatch):
    stem = write_audio(tmp_path / "a.wav", noise(1.0))
    reads = []
    real = hashlib.sha256
    monkeypatch.setattr(stemhost.engine.cache.hashlib, "sha256", lambda *a: reads.append(1) or real(*a))
    first = source_hash(stem)
    assert source_hash(stem) == first and len(reads) == 1  # the memo, while the file is unchanged
    stemhost.engine.cache._source_hashes.clear()  # what a new process starts with
    assert source_hash(stem) == first and len(reads) == 2
    stat = stem.stat()
    write_audio(stem, noise(1.0, seed=2))
    os.utime(stem, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert source_hash(stem) == hashlib.sha256(stem.read_bytes()).hexdigest() != first
    assert not (tmp_path / "hashes.json").exists() and not list(tmp_path.glob("*.json"))


FILL = """
import random, sys, time
import numpy as np
import soundfile
from pathlib import Path
from stemhost.engine.cache import StemCache

folder, me, keys = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cache, jitter = StemCache(folder), random.Random(me)
for k in range(keys):
    (folder.parent / f"{k}-{me}").touch()
    deadline = time.monotonic() + 20
    while len(list(folder.parent.glob(f"{k}-*"))) < 2:  # each entry starts at once in both processes
        time.sleep(0.0005)
        if time.monotonic() > deadline:
            sys.exit(f"the other process stopped before entry {k}")
    audio = (np.random.default_rng(k).standard_normal((2, 480000)) * 0.1).astype(np.float32)
    time.sleep(jitter.uniform(0, 0.02))  # so that one checks while the other puts its entry in place
    path = cache.get_or_build(f"{k:032x}", lambda: (audio, 48000))
    got = soundfile.read(str(path), dtype="float32", always_2d=True)[0].T
    assert np.array_equal(got, audio), k
print("ok")
"""


def test_two_processes_filling_the_same_entries_at_once_both_succeed_with_identical_audio(tmp_path):
    root, keys = tmp_path / "cache", 30
    env = {**os.environ, "PYTHONPATH": str(Path(stemhost.__file__).parents[1])}
    argv = [sys.executable, "-c", FILL, str(root)]
    runs = [subprocess.Popen([*argv, me, str(keys)], env=env, stdout=PIPE, stderr=PIPE, text=True) for me in "ab"]
    results = [run.communicate(timeout=60) for run in runs]
    assert [(run.returncode, out) for run, (out, _) in zip(runs, results, strict=True)] == [(0, "ok\n")] * 2, results
    assert sorted(p.name for p in root.iterdir()) == sorted([TAG_NAME] + [f"{k:032x}" for k in range(keys)])
    verified = StemCache(root).verify()  # every entry hashed in full: none is corrupt
    assert (verified.entries, verified.damaged, verified.removed) == (keys, [], 0)


@pytest.mark.parametrize("damage", ["flip", "truncate", "no-checksum", "empty-folder"])
def test_a_damaged_entry_is_rebuilt(tmp_path, damage):
    cache = StemCache(tmp_path / "cache")
    audio = tone(440.0, 0.5)
    wav = fill(cache, audio=audio)
    raw = bytearray(wav.read_bytes())
    if damage == "flip":
        raw[len(raw) // 2] ^= 0xFF
        wav.write_bytes(bytes(raw))
    elif damage == "truncate":
        wav.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "no-checksum":
        wav.with_suffix(".json").unlink()
    else:
        wav.with_suffix(".json").unlink()
        wav.unlink()
    assert cache.lookup(KEY) is None
    builds = []
    again = cache.get_or_build(KEY, lambda: builds.append(1) or (audio, 48000))
    assert builds == [1] and again == wav
    np.testing.assert_array_equal(read_audio(again)[0], audio)
    assert sorted(p.name for p in cache.folder.iterdir()) == [KEY, TAG_NAME]  # nothing aside is left


def test_a_new_cache_root_is_made_and_tagged(tmp_path):
    cache = StemCache(tmp_path / "a" / "cache")
    fill(cache)
    tag = (cache.folder / TAG_NAME).read_text().splitlines()
    assert tag[0] == TAG_SIGNATURE and tag[1].startswith("#") and "stemhost" in tag[1]
    assert (cache.folder / TAG_NAME).read_bytes()[:43] == b"Signature: 8a477f597d28d172789f06886806bc55"


def test_an_old_untagged_stemhost_cache_is_adopted_and_cleared(tmp_path, capsys, monkeypatch):
    root = tmp_path / "cache"
    root.mkdir()
    for name in (f"{KEY}.wav", f"{KEY}.json", "hashes.json", f".{KEY}.wav.ab12cd_x.part"):
        (root / name).write_bytes(b"x" * 1000)
    (root / "numba").mkdir()  # the analysis's compiled code, in the default root
    (root / "numba" / "index.nbi").write_text("kept")
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(root))
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out == f"cleared {root}: 1 stem removed, 0.0 MiB freed\n"
    assert sorted(p.name for p in root.iterdir()) == [TAG_NAME, "numba"]
    assert (root / "numba" / "index.nbi").read_text() == "kept"


def test_clear_deletes_only_the_entries_in_a_tagged_root(tmp_path, capsys, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(root))
    cache = StemCache.default()
    fill(cache, KEY, noise(2.0))
    fill(cache, "f" * 32, noise(2.0, seed=3))
    (root / "notes.txt").write_text("mine")  # put there by hand after stemhost made the folder
    (root / "f").mkdir()
    (root / "abc.wav").write_text("not an entry name")
    kept = snapshot(root)
    for name in (KEY, "f" * 32):
        kept = {k: v for k, v in kept.items() if not k.startswith(name)}
    assert main(["cache"]) == 0
    assert capsys.readouterr().out == f"{root}: 2 stems, 0.7 MiB of 4096 MiB (STEMHOST_CACHE_MAX)\n"
    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out == f"cleared {root}: 2 stems removed, 0.7 MiB freed\n"
    assert snapshot(root) == kept and (root / "f").is_dir()
    assert StemCache.default().entries() == []


def test_a_folder_tagged_by_another_program_is_refused(tmp_path, monkeypatch, capsys):
    root = tmp_path / "target"
    root.mkdir()
    (root / TAG_NAME).write_text(f"{TAG_SIGNATURE}\n# This file is a cache directory tag created by cargo.\n")
    (root / KEY).mkdir()
    (root / KEY / "audio.wav").write_text("cargo's")
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(root))
    assert main(["cache", "clear"]) == 1
    assert "is another program's cache (its CACHEDIR.TAG does not name stemhost)" in capsys.readouterr().err
    assert (root / KEY / "audio.wav").read_text() == "cargo's"


def test_show_and_clear_of_a_cache_not_made_yet_create_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["cache"]) == 0
    assert main(["cache", "clear"]) == 0
    root = tmp_path / "cache"
    assert (
        capsys.readouterr().out
        == f"{root}: 0 stems, 0.0 MiB of 4096 MiB (STEMHOST_CACHE_MAX)\ncleared {root}: 0 stems removed, 0.0 MiB freed\n"
    )
    assert not (tmp_path / "cache").exists()


def test_stems_prepared_on_many_threads_open_a_new_cache_root_together(tmp_path):
    """Every thread that prepares a stem opens the root; one may find it half made by another."""
    from concurrent.futures import ThreadPoolExecutor

    for k in range(20):
        folder = tmp_path / f"cache-{k}"
        caches = [StemCache(folder) for _ in range(8)]
        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(lambda cache: cache.entries(), caches)) == [[]] * 8  # looking makes nothing
            list(pool.map(lambda cache: fill(cache), caches))
        assert (folder / "CACHEDIR.TAG").is_file()
