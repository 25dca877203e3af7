"""Output files: format from the extension, bit depth, TPDF dither, and atomic writes."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np
import soundfile
from mutagen import MutagenError

from stemhost.errors import OutputError
from stemhost.formats import FORMATS, PCM_FORMATS
from stemhost.ownership import check_replaceable, commit_replace, temporary_beside

BIT_DEPTHS = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
CODEC_SUBTYPES = {"OGG": "VORBIS", "MP3": "MPEG_LAYER_III"}
MP3_MODES = {"cbr320": ("CONSTANT", 0.0), "v0": ("VARIABLE", 0.0), "v2": ("VARIABLE", 0.2)}  # LAME via libsndfile
DITHER_SEED = 0x5EED  # the same dither noise on every render, so renders are reproducible


@dataclass(frozen=True)
class OutputFormat:
    """How an output file is encoded: libsndfile's format and subtype names."""

    format: str
    subtype: str
    bitrate_mode: str | None = None  # MP3: CONSTANT or VARIABLE
    compression_level: float | None = None  # MP3: 0 is 320 kbps (CBR) or V0 (VBR); 0.2 is V2

    @property
    def dithered(self) -> bool:
        return self.subtype == "PCM_16"


def output_format(path: Path, bit_depth: str | None, mp3_mode: str | None = None) -> OutputFormat:
    """The format of an output path, from its extension, an optional ``--bit-depth`` and ``--mp3`` mode."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(
            f"-o {str(path)!r}: unknown format {path.suffix or '(no extension)'!r}; "
            f"use one of {', '.join(sorted(set(FORMATS)))}"
        )
    if mp3_mode is not None and fmt != "MP3":
        raise OutputError(f"--mp3 {mp3_mode}: the output is {fmt}, not MP3; drop --mp3 or write .mp3")
    if fmt == "MP3":
        if bit_depth is not None:
            raise OutputError(
                f"--bit-depth {bit_depth}: MP3 has no bit depth; it applies to WAV, FLAC and AIFF (for MP3: --mp3 cbr320, v0 or v2)"
            )
        if (mp3_mode or "cbr320") not in MP3_MODES:
            raise OutputError(f"--mp3 {mp3_mode!r}: use cbr320, v0 or v2")
        bitrate_mode, level = MP3_MODES[mp3_mode or "cbr320"]
        return OutputFormat(fmt, CODEC_SUBTYPES[fmt], bitrate_mode, level)
    if fmt not in PCM_FORMATS:
        if bit_depth is not None:
            raise OutputError(f"--bit-depth {bit_depth}: {fmt} has no bit depth; it applies to WAV, FLAC and AIFF")
        return OutputFormat(fmt, CODEC_SUBTYPES[fmt])
    depth = bit_depth or "24"
    if depth not in BIT_DEPTHS:
        raise OutputError(f"--bit-depth {depth!r}: use 16, 24 or 32f")
    if fmt == "FLAC" and depth == "32f":
        raise OutputError("--bit-depth 32f: FLAC stores integers; use 16 or 24, or write WAV or AIFF for 32f")
    return OutputFormat(fmt, BIT_DEPTHS[depth])


def check_output_folder(path: Path) -> None:
    """Refuse an output file that is a folder, or lands in a missing or read-only folder.

    What the file may replace is checked by :func:`stemhost.ownership.check_outputs`.
    """
    folder = path.parent
    if path.is_dir():
        raise OutputError(f"-o {str(path)!r}: that is a folder; give a file name such as {str(path / 'mix.wav')!r}")
    if not folder.is_dir():
        raise OutputError(f"-o {str(path)!r}: the folder {str(folder)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"-o {str(path)!r}: the folder {str(folder)!r} is not writable")


def check_folder(folder: Path, option: str) -> None:
    """Refuse a file where an output folder is to be (a missing folder is fine: it will be made)."""
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{option} {str(folder)!r}: that is a file; give a folder")


def make_output_folder(folder: Path, option: str) -> None:
    """Make a folder that outputs go into (parents too); refuse a file in its place.

    Args:
        folder: the folder.
        option: the option that named it, for messages (``-o``, ``--stems-out``).
    """
    check_folder(folder, option)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{option} {str(folder)!r}: cannot make the folder ({exc.strerror})") from exc


def write_tags(path: Path, fmt: str, tags: dict[str, str]) -> None:
    """Title, artist, key and tempo as the format knows them.

    MP3 gets ID3 frames (TIT2, TPE1, TKEY, TBPM); FLAC and OGG Vorbis comments (TITLE, ARTIST, KEY,
    BPM); WAV and AIFF have title and artist fields only, so key and tempo go in the comment. ID3's TKEY
    holds at most three characters (``Ebm``, ``F#``); Vorbis has no rule of its own and taggers (Picard)
    map KEY to TKEY one to one, so it gets the same; the WAV/AIFF comment keeps the name (``Eb minor``).
    """
    if not tags:
        return
    if fmt in ("MP3", "FLAC", "OGG"):
        from stemhost.session.notes import short_key_name

        tags = {**tags, "key": short_key_name(tags["key"])} if "key" in tags else tags
        import mutagen
        from mutagen.id3 import TBPM, TIT2, TKEY, TPE1

        audio = mutagen.File(str(path))
        if fmt == "MP3":
            if audio.tags is None:
                audio.add_tags()
            frames = {"title": TIT2, "artist": TPE1, "key": TKEY, "bpm": TBPM}
            for name, value in tags.items():
                audio.tags.add(frames[name](encoding=3, text=[value]))
        else:
            for name, value in tags.items():
                audio[name.upper()] = value
        audio.save()
        return
    with soundfile.SoundFile(str(path), "r+") as f:
        for name in ("title", "artist"):
            if name in tags:
                setattr(f, name, tags[name])
        extra = [f"{name} {tags[name]}" for name in ("key", "bpm") if name in tags]
        if extra:
            f.comment = ", ".join(extra)


class AtomicAudioWriter:
    """Writes ``(2, n)`` float32 blocks to a temporary file beside the target, renamed at the end.

    Whatever goes wrong (an error, Ctrl-C, a full disk), no half-written file carries the
    target's name: the temporary file is removed and the target is left as it was.
    """

    def __init__(
        self,
        path: Path,
        fmt: OutputFormat,
        sample_rate: int,
        channels: int = 2,
        tags: dict[str, str] | None = None,
        what: str | None = None,
    ) -> None:
        self.path = path
        self.what = what or f"-o {str(path)!r}"  # the output as the user named it, for messages
        self.format = fmt
        self.tags = tags or {}
        self._rng = np.random.default_rng(DITHER_SEED)
        check_replaceable(path, self.what)
        try:
            self._tmp = temporary_beside(path)
        except OSError as exc:
            raise OutputError(f"{self.what}: cannot write in {str(path.parent)!r} ({exc.strerror})") from exc
        try:
            codec = {"bitrate_mode": fmt.bitrate_mode, "compression_level": fmt.compression_level}
            self._file = soundfile.SoundFile(
                str(self._tmp),
                "w",
                samplerate=sample_rate,
                channels=channels,
                format=fmt.format,
                subtype=fmt.subtype,
                **{k: v for k, v in codec.items() if v is not None},
            )
        except (RuntimeError, ValueError, TypeError, OSError) as exc:  # libsndfile's errors are RuntimeErrors
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.what}: cannot encode {fmt.format}/{fmt.subtype} ({exc})") from exc

    def write(self, block: np.ndarray) -> np.ndarray:
        """Append ``(channels, n)`` float32 audio at full scale ±1; returns it as stored (clipped, quantised).

        What it returns is the transpose of a C-contiguous ``(n, channels)`` array, so a meter that wants
        interleaved frames (:class:`~stemhost.render.meter.LoudnessMeter`) gets them without another copy.
        """
        frames = np.ascontiguousarray(block.T)  # interleaved, as libsndfile takes them (it would copy otherwise)
        if self.format.dithered:
            frames = self._dither16(frames)
            stored = (frames / np.float32(32768.0)).T
        elif self.format.subtype != "FLOAT" and np.max(np.abs(frames), initial=0.0) > 1.0:
            frames = np.clip(frames, -1.0, 1.0)
            stored = frames.T
        else:
            stored = frames.T
        try:
            self._file.write(frames)
        except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
            raise OutputError(f"{self.what}: writing failed ({exc})") from exc
        return stored

    def _dither16(self, frames: np.ndarray) -> np.ndarray:
        """Quantise to 16 bits with triangular (TPDF) dither of ±1 LSB."""
        # Two uniform draws per sample, taken frame by frame so the noise is the same whatever the block size.
        uniform = self._rng.random((*frames.shape, 2))
        noise = uniform[..., 0] - uniform[..., 1]
        return np.clip(np.round(frames * 32768.0 + noise), -32768, 32767).astype(np.int16)  # libsndfile's scale

    def commit(self) -> None:
        """Finish the file, tag it, and give it its final name."""
        try:
            self._file.close()
            write_tags(self._tmp, self.format.format, self.tags)
            commit_replace(self._tmp, self.path)
        except (OSError, RuntimeError, MutagenError) as exc:
            raise OutputError(f"{self.what}: cannot finish the file ({exc})") from exc
        finally:
            self._tmp.unlink(missing_ok=True)

    def abort(self) -> None:
        """Drop the temporary file."""
        with contextlib.suppress(Exception):
            self._file.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicAudioWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.commit()
        else:
            self.abort()
