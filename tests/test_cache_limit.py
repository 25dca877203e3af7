"""The cache's hits without hashing, its full check (``stemhost cache verify``) and its size limit (LRU)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import stemhost.engine.cache_entry
from stemhost.cli.main import main
from stemhost.engine.cache import StemCache
from stemhost.engine.cache_limit import DEFAULT_MAX, IN_USE_S, parse_size
from stemhost.errors import OutputError

from conftest import tone

KEYS = [f"{k:032x}" for k in range(1, 5)]
_watching: list[list[str]] = []  # the audio files opened while a test watches (an audit hook cannot be removed)


def _audit(event: str, args: tuple) -> None:
    if _watching and event == "open" and str(args[0]).endswith("audio.wav"):
        _watching[-1].append(str(args[0]))


sys.addaudithook(_audit)


def fill(cache: StemCache, key: str, seconds: float = 0.5) -> Path:
    audio = tone(440.0, seconds, channels=2)
    return cache.get_or_build(key, lambda: (audio, 48000))


def a_new_process() -> None:
    """What a new process starts with: no entry hashed yet."""
    stemhost.engine.cache_entry._verified.clear()


def aged(entry: Path, seconds: float) -> None:
    """Make an entry's last use ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(entry, (then, then))


def test_a_hit_opens_no_audio_even_in_a_new_process(tmp_path):
    cache = StemCache(tmp_path / "cache")
    wav = fill(cache, KEYS[0])
    a_new_process()
    opened: list[str] = []
    _watching.append(opened)
    try:
        assert cache.lookup(KEYS[0]) == wav
        assert cache.get_or_build(KEYS[0], lambda: pytest.fail("rebuilt")) == wav
    finally:
        _watching.pop()
    assert opened == []


def test_an_entry_without_a_stamp_is_hashed_once_per_process(tmp_path, monkeypatch):
    cache = StemCache(tmp_path / "cache")
    wav = fill(cache, KEYS[0])
    meta = json.loads((wav.parent / "audio.json").read_text())
    del meta["stamp"]  # as earlier stemhost versions wrote it
    (wav.parent / "audio.json").write_text(json.dumps(meta))
    a_new_process()
    hashed = []
    real = stemhost.engine.cache_entry.file_sha256
    monkeypatch.setattr(stemhost.engine.cache_entry, "file_sha256", lambda p: hashed.append(p) or real(p))
    assert [cache.lookup(KEYS[0]) for _ in range(3)] == [wav] * 3
    assert hashed == [wav]


def tamper(wav: Path) -> None:
    """Change the audio's bytes, keep its size and put its mtime back."""
    stat = wav.stat()
    raw = bytearray(wav.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    wav.write_bytes(bytes(raw))
    os.utime(wav, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert wav.stat().st_size == stat.st_size and wav.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_tampered_entry_with_its_size_and_mtime_put_back_is_caught_by_a_hit_and_by_verify(
    tmp_path, monkeypatch, capsys
):
    root = tmp_path / "cache"
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(root))
    cache = StemCache.default()
    wavs = [fill(cache, key) for key in KEYS[:3]]
    cache.put_record(KEYS[3], {"tempo": 120.0})
    tamper(wavs[1])
    assert cache.lookup(KEYS[1]) is None  # its ctime changed: hashed, and refused
    assert wavs[1].exists()  # a lookup builds and removes nothing
    assert main(["cache", "verify"]) == 0
    assert capsys.readouterr().out == (
        f"damaged: {root / KEYS[1]}\nverified {root}: 4 entries, 1 damaged (1 removed)\n"
    )
    assert sorted(p.name for p in root.iterdir()) == sorted(["CACHEDIR.TAG", KEYS[0], KEYS[2], KEYS[3]])
    assert main(["cache", "verify"]) == 0
    assert capsys.readouterr().out == f"verified {root}: 3 entries, 0 damaged (0 removed)\n"


def test_verify_hashes_every_entry_even_those_this_process_trusts(tmp_path, monkeypatch):
    cache = StemCache(tmp_path / "cache")
    wav = fill(cache, KEYS[0])
    hashed = []
    real = stemhost.engine.cache_entry.file_sha256
    monkeypatch.setattr(stemhost.engine.cache_entry, "file_sha256", lambda p: hashed.append(p) or real(p))
    assert cache.lookup(KEYS[0]) == wav and hashed == []
    assert cache.verify().damaged == [] and hashed == [wav]


def test_the_least_recently_used_entry_is_evicted_past_the_limit(tmp_path, monkeypatch):
    cache = StemCache(tmp_path / "cache")
    wavs = [fill(cache, key) for key in KEYS[:3]]
    size = sum(p.stat().st_size for p in wavs[0].parent.iterdir())
    for k, wav in enumerate(wavs):
        aged(wav.parent, 3000 - 1000 * k)  # used 3000, 2000 and 1000 s ago
    assert cache.lookup(KEYS[0]) == wavs[0]  # the first is used now
    monkeypatch.setenv("STEMHOST_CACHE_MAX", str(int(3.5 * size)))
    fill(cache, KEYS[3])
    assert [p.parent.name for p in cache.entries()] == [KEYS[0], KEYS[2], KEYS[3]]
    assert sorted(p.name for p in cache.folder.iterdir()) == sorted(["CACHEDIR.TAG", KEYS[0], KEYS[2], KEYS[3]])


def test_entries_used_recently_are_kept_over_the_limit_and_the_new_one_always(tmp_path, monkeypatch):
    cache = StemCache(tmp_path / "cache")
    fill(cache, KEYS[0])
    aged(cache.folder / KEYS[0], IN_USE_S - 60)  # found by another process a few minutes ago
    monkeypatch.setenv("STEMHOST_CACHE_MAX", "1K")
    fill(cache, KEYS[1])
    assert [p.parent.name for p in cache.entries()] == KEYS[:2]
    aged(cache.folder / KEYS[0], IN_USE_S + 60)
    fill(cache, KEYS[2])  # the new entry alone is over the limit: it stays
    assert [p.parent.name for p in cache.entries()] == KEYS[1:3]


def test_an_entry_found_while_it_is_being_evicted_is_put_back(tmp_path):
    cache = StemCache(tmp_path / "cache")
    wav = fill(cache, KEYS[0])
    aged(wav.parent, 3000)
    chosen = wav.parent.stat().st_mtime_ns  # eviction chose it by this last use ...
    assert cache.lookup(KEYS[0]) == wav  # ... and a hit stamps it before it is renamed aside
    assert not cache._discard_unused(wav.parent, chosen)
    assert cache.lookup(KEYS[0]) == wav
    assert cache._discard_unused(wav.parent, wav.parent.stat().st_mtime_ns)
    assert cache.entries() == [] and sorted(p.name for p in cache.folder.iterdir()) == ["CACHEDIR.TAG"]


@pytest.mark.parametrize(
    ("text", "size"),
    [("4G", 4 * 2**30), ("500M", 500 * 2**20), ("1.5GiB", 3 * 2**29), ("64k", 65536), ("1000000", 1000000)],
)
def test_sizes_read(text, size):
    assert parse_size(text, "STEMHOST_CACHE_MAX") == size


def test_the_limit_is_shown_and_a_bad_one_is_refused(tmp_path, monkeypatch, capsys):
    root = tmp_path / "cache"
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(root))
    monkeypatch.setenv("STEMHOST_CACHE_MAX", "2G")
    assert main(["cache"]) == 0
    assert capsys.readouterr().out == f"{root}: 0 stems, 0.0 MiB of 2048 MiB (STEMHOST_CACHE_MAX)\n"
    monkeypatch.setenv("STEMHOST_CACHE_MAX", "lots")
    assert main(["cache"]) == 1
    assert "STEMHOST_CACHE_MAX='lots': not a size" in capsys.readouterr().err
    with pytest.raises(OutputError, match="STEMHOST_CACHE_MAX='lots'"):
        fill(StemCache(root), KEYS[0])
    assert DEFAULT_MAX == 4 * 2**30


def test_a_read_only_cache_serves_hits_without_stamping_them(tmp_path):
    cache = StemCache(tmp_path / "cache")
    wav = fill(cache, KEYS[0])
    aged(wav.parent, 3000)
    before = wav.parent.stat().st_mtime_ns
    os.chmod(wav.parent, 0o555)
    os.chmod(cache.folder, 0o555)
    try:
        if os.access(wav.parent, os.W_OK):
            pytest.skip("running as root: permissions are not enforced")
        assert StemCache(cache.folder).lookup(KEYS[0]) == wav
        np.testing.assert_equal(wav.parent.stat().st_mtime_ns, before)
    finally:
        os.chmod(cache.folder, 0o755)
        os.chmod(wav.parent, 0o755)


def test_a_copied_cache_is_hashed_once_per_process_until_verify_stamps_it_again(tmp_path, monkeypatch, capsys):
    import shutil

    first = StemCache(tmp_path / "cache")
    fill(first, KEYS[0])
    first.put_record(KEYS[1], {"tempo": 120.0})
    copy = tmp_path / "copy"
    shutil.copytree(first.folder, copy)  # mtimes kept, new inodes and ctimes: as a backup restored
    monkeypatch.setenv("STEMHOST_CACHE_DIR", str(copy))
    hashed = []
    real = stemhost.engine.cache_entry.file_sha256
    monkeypatch.setattr(stemhost.engine.cache_entry, "file_sha256", lambda p: hashed.append(p) or real(p))
    cache = StemCache.default()
    wav = copy / KEYS[0] / "audio.wav"
    assert [cache.lookup(KEYS[0]) for _ in range(2)] == [wav] * 2 and len(hashed) == 1
    assert main(["cache", "verify"]) == 0
    out = capsys.readouterr().out
    assert out == f"verified {copy}: 2 entries, 0 damaged (0 removed), 1 stamped again (copied or restored)\n"
    assert sorted(p.name for p in copy.iterdir()) == sorted(["CACHEDIR.TAG", *KEYS[:2]])  # no temporary left
    a_new_process()
    hashed.clear()
    assert cache.lookup(KEYS[0]) == wav and hashed == []
    assert cache.record(KEYS[1]) == {"tempo": 120.0}
