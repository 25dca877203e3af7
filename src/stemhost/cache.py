"""The on-disk cache of key-shifted and time-stretched stems.

An entry is a float WAV and a JSON sidecar holding the WAV's sha256. An entry whose audio does
not match its sidecar (truncated, corrupted, half-written) is damaged: it is deleted and rebuilt,
never played. Entries are keyed by the content of the source file and the processing settings.
Source files are hashed once per (path, size, mtime) and remembered in ``hashes.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from stemhost.outputs import replaced_atomically, write_json_atomic

HASH_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The cache folder: $STEMHOST_CACHE_DIR, else the user's cache folder (~/.cache/stemhost on Linux)."""
    override = os.environ.get("STEMHOST_CACHE_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("stemhost"))


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class StemCache:
    """Processed stems on disk, keyed by source content and settings."""

    folder: Path

    @classmethod
    def default(cls) -> StemCache:
        return cls(cache_dir())

    def source_hash(self, path: Path) -> str:
        """The content hash of a source file, remembered while its size and mtime stay the same."""
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        index_path = self.folder / "hashes.json"
        index = _read_json(index_path) or {}
        if key not in index:
            index[key] = file_sha256(path)
            self.folder.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):  # a lost index costs a rehash, nothing more
                write_json_atomic(index_path, index)
        return index[key]

    def get_or_build(self, key: str, build: Callable[[], tuple[np.ndarray, int]]) -> Path:
        """The WAV of an entry, built (and written atomically) when missing or damaged.

        Args:
            key: the entry's name (a hash of the source content and the settings).
            build: returns the processed audio as ``(channels, frames)`` float32 and its rate in Hz.
        """
        audio_path, meta_path = self.folder / f"{key}.wav", self.folder / f"{key}.json"
        if self._intact(audio_path, meta_path):
            return audio_path
        self.remove(key)
        audio, rate = build()
        self.folder.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(audio_path) as tmp:
            soundfile.write(str(tmp), audio.T, rate, subtype="FLOAT", format="WAV")
        write_json_atomic(meta_path, {"sha256": file_sha256(audio_path), "frames": audio.shape[1], "sample_rate": rate})
        return audio_path

    def lookup(self, key: str) -> Path | None:
        """The WAV of an intact entry, or None (nothing is built)."""
        audio_path = self.folder / f"{key}.wav"
        return audio_path if self._intact(audio_path, self.folder / f"{key}.json") else None

    def _intact(self, audio_path: Path, meta_path: Path) -> bool:
        meta = _read_json(meta_path)
        return bool(meta) and audio_path.is_file() and file_sha256(audio_path) == meta.get("sha256")

    def remove(self, key: str) -> None:
        """Delete an entry's files, if any."""
        for suffix in (".wav", ".json"):
            (self.folder / f"{key}{suffix}").unlink(missing_ok=True)

    def entries(self) -> list[Path]:
        """The audio files of every entry."""
        return sorted(self.folder.glob("*.wav")) if self.folder.is_dir() else []

    def size_bytes(self) -> int:
        """Bytes used by the cache folder."""
        if not self.folder.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.folder.iterdir() if p.is_file())

    def clear(self) -> int:
        """Empty the cache; returns the bytes freed."""
        freed = self.size_bytes()
        if self.folder.is_dir():
            for path in self.folder.iterdir():
                if path.is_file():
                    path.unlink()
        return freed


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
