"""Reading audio files: stems block by block, resampled to the session rate, padded with silence at the end;
whole stems and impulse responses after checking they fit in memory.

Files are read by what they hold, not by what their header claims: a WAV piped out of ffmpeg claims
4 GB of data (pedalboard then reports 2,147,483,647 frames, libsndfile the frames present), and a
file may be cut short or rewritten while it is read.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pedalboard.io
import soundfile
import soxr

from stemhost.engine.buffers import SampleFifo
from stemhost.engine.silence import all_zeros
from stemhost.errors import AudioFileError, did_you_mean
from stemhost.limits import available_memory
from stemhost.units import format_time

READ_FRAMES = 16384  # frames read from a file at a time when resampling
WHOLE_READ_FRAMES = 1 << 20  # frames read at a time when a whole file is read into memory
MEMORY_SHARE = 0.5  # a whole-file read may take at most this share of the memory still available
MIB = 1 << 20
MAX_IMPULSE_RESPONSE_S = 60.0  # the longest impulse response read; real rooms ring for seconds


class SoundFileReader(soundfile.SoundFile):
    """A SoundFile read front to back: ``read(n)`` returns ``(channels, n)`` float32, as pedalboard's reader does.

    python-soundfile asks where it is before every read of a seekable file and seeks back to where it thinks
    it is after it: three more calls into libsndfile a block, each letting the GIL go and waiting for it again,
    and with libsndfile's inexact MP3 seek, blockwise MP3 reads came out garbled (measured: an impulse at frame
    20000 read back at 39981 in 4096-frame reads). Declaring the file unseekable skips them; :meth:`seek`
    still seeks when asked.
    """

    def seekable(self) -> bool:
        return False

    def read(self, frames: int) -> np.ndarray:  # type: ignore[override]
        """The next frames as ``(channels, n)`` float32."""
        return np.ascontiguousarray(super().read(frames, dtype="float32", always_2d=True).T)


class SequentialSoundFile(SoundFileReader):
    """A SoundFileReader whose seek is not trusted (MP3, and formats pedalboard cannot open): it is read up to
    a frame instead (see :meth:`StemSource.seek`)."""


PEDALBOARD_BITS = {
    "PCM_S8": 8,
    "PCM_U8": 8,
    "PCM_16": 16,
    "PCM_24": 24,
}  # integer samples pedalboard scales its own way


class RescaledReader:
    """pedalboard's reader, its integer samples scaled as libsndfile scales them, exactly.

    pedalboard divides a b-bit sample by 2^(b-1) - 1 (16-bit -32768 reads as -1.0000305); libsndfile,
    ffmpeg and DAWs divide by 2^(b-1), so a unity mix read through pedalboard is 0.00027 dB hot and does
    not null against its stems. Multiplying back by 2^(b-1) - 1 lands within 0.25 of the integer (float32
    holds 8- and 16-bit samples closely enough, 24-bit ones need float64), so rounding recovers it, and
    dividing by 2^(b-1) is exact in float32. Measured equal to ``soundfile.read`` for 8, 16 and 24-bit
    WAV, AIFF and FLAC, at 0.1 to 1 ms a stereo minute on top of the read.
    """

    def __init__(self, reader: pedalboard.io.ReadableAudioFile, bits: int) -> None:
        self._reader = reader
        self._up = float(2 ** (bits - 1) - 1)
        self._down = 1.0 / 2 ** (bits - 1)
        self._dtype = np.float64 if bits > 16 else np.float32

    def read(self, frames: int) -> np.ndarray:
        """The next frames as ``(channels, n)`` float32."""
        block = self._reader.read(frames)
        if self._dtype is np.float32:
            np.multiply(block, np.float32(self._up), out=block)
            np.rint(block, out=block)
            np.multiply(block, np.float32(self._down), out=block)
            return block
        return (np.rint(block.astype(np.float64) * self._up) * self._down).astype(np.float32)

    def seek(self, frame: int) -> None:
        self._reader.seek(frame)

    def close(self) -> None:
        self._reader.close()


Reader = SoundFileReader | pedalboard.io.ReadableAudioFile | RescaledReader
FLOAT_SUBTYPES = ("FLOAT", "DOUBLE")  # read by libsndfile in large blocks: no scale to agree on, and faster
LARGE_READ = 16384  # frames a read from which libsndfile reads float files faster than pedalboard


def open_reader(path: Path, block_frames: int | None = None) -> Reader:
    """A reader whose ``read(n)`` returns the next ``(channels, n)`` float32 frames, scaled as libsndfile scales them.

    pedalboard's reader is 3.5x faster than python-soundfile's in 4096-frame blocks (measured:
    21 µs against 72 µs a call) and releases the GIL; in 65536-frame blocks it still decodes
    16- and 24-bit WAV and FLAC 1.5 to 2.3x faster, but libsndfile reads float WAV 1.9x faster
    (3.5 against 6.5 ms a stereo minute), so float files read in blocks of ``LARGE_READ`` frames or
    more (``block_frames``; None: large) go to libsndfile. In live playback's 512-frame reads pedalboard
    is 2.1x faster (measured, a stereo minute: 47 against 100 ms) and releases the GIL, which
    python-soundfile's wrapper holds: with libsndfile, 64 sparse stems underran live. pedalboard decodes MP3
    1105 frames late (it ignores the encoder delay); libsndfile decodes MP3 sample-exact. pedalboard
    also takes a header's length on trust and reads silence past the data present: where its frame
    count differs from libsndfile's, which counts what the file holds, libsndfile reads the file,
    as it does the formats pedalboard cannot open. Integer samples are rescaled to libsndfile's
    convention (:class:`RescaledReader`), so every reader gives the same numbers.
    """
    if path.suffix.lower() == ".mp3":
        return SequentialSoundFile(str(path))
    info = soundfile.info(str(path))
    if info.subtype in FLOAT_SUBTYPES and (block_frames is None or block_frames >= LARGE_READ):
        return SoundFileReader(str(path))
    try:
        reader = pedalboard.io.AudioFile(str(path))
    except (RuntimeError, ValueError):  # a format only libsndfile reads (CAF, W64, ...)
        return SequentialSoundFile(str(path))
    if reader.frames != info.frames:
        reader.close()
        return SequentialSoundFile(str(path))
    bits = PEDALBOARD_BITS.get(info.subtype)
    return reader if bits is None else RescaledReader(reader, bits)


@dataclass(frozen=True)
class AudioInfo:
    """What a stem file holds: rate in Hz, channel count, length in frames, and its (size, mtime_ns) when probed."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    stamp: tuple[int, int]


def file_stamp(path: Path) -> tuple[int, int]:
    """A file's size in bytes and modification time in ns: what changes when it is cut short or rewritten."""
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def check_unchanged(info: AudioInfo, what: str) -> None:
    """Raise AudioFileError if a file is no longer the one probed (it was cut short, grown or rewritten)."""
    try:
        now = file_stamp(info.path)
    except OSError as exc:
        raise AudioFileError(f"{what} changed while being read ({exc.strerror}); render again") from exc
    if now != info.stamp:
        (was, _), (size, _) = info.stamp, now
        change = f"it held {was:,} bytes, now {size:,}" if size != was else "it was rewritten"
        raise AudioFileError(f"{what} changed while being read ({change}); render again once nothing writes to it")


def _nearby(path: Path) -> str:
    """A "did you mean 'Bass.wav'?" for a similarly named file beside a missing one (the first 1,000 looked at)."""
    try:
        names = [p.name for p in itertools.islice(path.parent.iterdir(), 1000) if p.is_file()]
    except OSError:
        return ""
    return did_you_mean(path.name, names)


def probe(path: Path, where: str) -> AudioInfo:
    """Open an audio file's header and check it can be a stem (mono or stereo, not empty).

    Args:
        path: the file.
        where: the field that names it, for messages (``session.json: stems[0].file``).
    """
    if not path.exists():
        hint = _nearby(path)
        raise AudioFileError(
            f"{where}: {str(path)!r} does not exist; {hint + ' ' if hint else ''}"
            "paths are relative to the session file's folder"
        )
    if not path.is_file():
        raise AudioFileError(f"{where}: {str(path)!r} is not a file")
    try:
        info = soundfile.info(str(path))
    except (soundfile.LibsndfileError, RuntimeError, OSError) as exc:
        raise AudioFileError(
            f"{where}: {str(path)!r} is not a readable audio file ({exc}); use WAV, FLAC, AIFF, OGG or MP3"
        ) from exc
    if info.frames <= 0:
        raise AudioFileError(f"{where}: {str(path)!r} holds no audio (0 frames)")
    if info.channels not in (1, 2):
        raise AudioFileError(f"{where}: {str(path)!r} has {info.channels} channels; stems must be mono or stereo")
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames), file_stamp(path))


def read_stem(path: Path, where: str) -> tuple[np.ndarray, int]:
    """A whole audio file as ``(channels, frames)`` float32 and its rate in Hz.

    Args:
        path: the file.
        where: the field that names it, for messages (``session.json: stems[0].file``).

    Raises:
        AudioFileError: the file is missing, unreadable, empty, not mono or stereo, too big for memory,
            changed while being read, or holds NaN or inf.
    """
    info = probe(path, where)
    return read_whole(info, f"{where}: {str(path)!r}", open_reader), info.sample_rate


def read_impulse_response(path: Path, where: str) -> tuple[np.ndarray, int]:
    """An impulse response as ``(channels, frames)`` float32 and its rate in Hz, for ``pedalboard.Convolution``.

    pedalboard would read the file itself, trusting its header: a WAV claiming 4 GB took 24 GB.
    libsndfile reads it here, scaling integer samples by 2^(bits-1) as pedalboard's own impulse
    response reader (JUCE's) does; pedalboard.io scales by 2^(bits-1) - 1.

    Args:
        path: the file.
        where: the field that names it, for messages (``session.json: master.chain[0].impulse_response_filename``).

    Raises:
        AudioFileError: as :func:`read_stem`, or the file is longer than ``MAX_IMPULSE_RESPONSE_S``.
    """
    info = probe(path, where)
    if info.frames > MAX_IMPULSE_RESPONSE_S * info.sample_rate:
        raise AudioFileError(
            f"{where}: {str(path)!r} is {format_time(info.frames / info.sample_rate)} long "
            f"({info.frames:,} frames); an impulse response is at most {MAX_IMPULSE_RESPONSE_S:g} s: trim it"
        )
    return read_whole(info, f"{where}: {str(path)!r}", lambda p: SequentialSoundFile(str(p))), info.sample_rate


def read_whole(info: AudioInfo, what: str, opener: Callable[[Path], Reader]) -> np.ndarray:
    """A probed file's audio as ``(channels, frames)`` float32, if it fits in memory.

    A header may claim more than memory holds while the file holds far less (libsndfile believes a
    FLAC's length field): then the audio is gathered block by block, as far as memory allows. A file
    that ends before the frames its header promised is read as far as it goes, unless it changed
    since it was probed.

    Args:
        info: the probed file.
        what: the file for messages (``session.json: stems[0].file: 'a.wav'``).
        opener: opens the file for reading, e.g. :func:`open_reader`.

    Raises:
        AudioFileError: the audio does not fit in ``MEMORY_SHARE`` of the memory available, cannot be
            decoded, changed while being read, or holds NaN or inf.
    """
    known = available_memory()
    available = known if known is not None else 1 << 62  # unknown: the reads themselves are the bound
    bound = int(available * MEMORY_SHARE) // (4 * info.channels)  # frames of float32 allowed
    fits = info.frames <= bound  # else gather blocks, as many as the file holds and memory allows
    whole = np.empty((info.channels, info.frames if fits else 0), np.float32)
    blocks, done = [], 0
    reader = opener(info.path)
    try:
        while done < info.frames:
            block = reader.read(min(WHOLE_READ_FRAMES, info.frames - done))
            if block.shape[1] == 0:
                break
            if fits:
                whole[:, done : done + block.shape[1]] = block
            elif done + block.shape[1] <= bound:
                blocks.append(block)
            else:
                raise AudioFileError(
                    f"{what} does not fit in memory (its header claims {info.frames:,} frames, "
                    f"{info.frames * info.channels * 4 / MIB:,.1f} MiB as float32, and "
                    f"{available / MIB:,.1f} MiB are available); check the file is not damaged (re-export it), "
                    "or free memory"
                )
            done += block.shape[1]
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioFileError(f"{what} cannot be decoded ({exc})") from exc
    finally:
        reader.close()
    check_unchanged(info, what)
    if not fits:
        whole = np.concatenate(blocks, axis=1) if blocks else whole
    elif done < info.frames:
        whole = np.ascontiguousarray(whole[:, :done])
    check_finite(whole, 0, info.sample_rate, what)
    return whole


def check_finite(data: np.ndarray, first_frame: int, sample_rate: int, what: str) -> bool:
    """Raise AudioFileError naming the time of the first NaN or infinite sample in ``(channels, n)`` audio.

    Returns:
        True when every sample is zero (digital silence): the same two passes tell it.
    """
    high, low = float(np.max(data, initial=0.0)), float(np.min(data, initial=0.0))
    if math.isfinite(high) and math.isfinite(low):  # one pass each; NaN and inf survive max or min
        return high == 0.0 == low
    bad = int(np.argwhere(~np.isfinite(data))[0][1])
    kind = "NaN" if np.isnan(data[:, bad]).any() else "infinite"
    frame = first_frame + bad
    raise AudioFileError(
        f"{what} holds a {kind} sample at {format_time(frame / sample_rate)} (frame {frame}); "
        "repair or re-export the file"
    )


class StemSource:
    """Streams one stem file at the session rate, as ``(channels, n)`` float32 blocks.

    After the end of the file it returns silence, so stems of different lengths mix freely.
    Files at another rate go through soxr's very-high-quality streaming resampler, whose
    output is aligned with its input (no added delay).

    Args:
        info: the probed file.
        sample_rate: the session rate in Hz.
        name: the stem's name, for messages.
        where: the field that names the file, for messages (``session.json: stems[0].file``).
        block_frames: the frames each :meth:`read` asks for (None: large), for the reader's choice
            (see :func:`open_reader`).
    """

    seekable = True  # live playback may jump in it (see :meth:`seek`)

    def __init__(
        self, info: AudioInfo, sample_rate: int, name: str, where: str, block_frames: int | None = None
    ) -> None:
        self.info = info
        self._block_frames = block_frames if info.sample_rate == sample_rate else READ_FRAMES  # what a read asks for
        self.name = name
        self.where = where
        self._what = f"{where}: stem {name!r}: {str(info.path)!r}"  # the file, for messages
        self.channels = info.channels
        self.sample_rate = sample_rate
        self._file = open_reader(info.path, block_frames)
        self._frames_read = 0
        self._eof = False  # the file is read to its end
        self.frames_out = 0  # frames of real audio delivered so far, at the session rate
        # True once every real frame has been delivered (only silence follows). Set after frames_out, never
        # before: the graph reads both from another thread while this one reads ahead (see MixGraph.stream).
        self.done = False
        self.silent = True  # the last block read is all zeros (digital silence)
        self._resampler = None
        self._fifo = SampleFifo(self.channels)
        if info.sample_rate != sample_rate:
            self._resampler = soxr.ResampleStream(
                info.sample_rate, sample_rate, self.channels, dtype="float32", quality="VHQ"
            )

    def read(self, n: int) -> np.ndarray:
        """The next n frames; silence once the file is done."""
        if self._resampler is None:
            block, silent = self._read_file(n)
        else:
            while len(self._fifo) < n and not self._eof:
                raw, _ = self._read_file(READ_FRAMES)
                resampled = self._resampler.resample_chunk(raw.T, last=self._eof)
                self._fifo.push(np.ascontiguousarray(resampled.T))
            block = self._fifo.pop(min(n, len(self._fifo)))
            silent = all_zeros(block)
        real = block.shape[1]
        self.frames_out += real
        self.done = self._eof and len(self._fifo) == 0
        self.silent = silent  # the block as read, once: past the end no look at all
        if real < n:
            block = np.concatenate([block, np.zeros((self.channels, n - real), np.float32)], axis=1)
        return block

    def _read_file(self, n: int) -> tuple[np.ndarray, bool]:
        """Up to n frames from the file, and whether they are all zeros."""
        if self._eof:
            return np.zeros((self.channels, 0), np.float32), True
        wanted = min(n, self.info.frames - self._frames_read)
        try:
            data = self._file.read(wanted)
        except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
            raise AudioFileError(f"{self._what} cannot be decoded ({exc})") from exc
        silent = check_finite(data, self._frames_read, self.info.sample_rate, self._what)
        self._frames_read += data.shape[1]
        self._eof = data.shape[1] < wanted or self._frames_read >= self.info.frames
        if self._eof:  # every frame read came from the file as probed, or this raises
            check_unchanged(self.info, self._what)
        return data, silent

    @property
    def missing_frames(self) -> int:
        """Frames (at the file's rate) its header promised and the file did not hold, once read to its end."""
        return self.info.frames - self._frames_read if self._eof else 0

    def seek(self, frame: int) -> None:
        """Go on from a frame at the session rate (live playback: seeking and loops)."""
        position = min(self.info.frames, round(frame * self.info.sample_rate / self.sample_rate))
        self._file.close()
        self._file = open_reader(self.info.path, self._block_frames)
        if isinstance(self._file, SequentialSoundFile):  # no exact seek in MP3: decode up to the frame
            for _ in range(position // READ_FRAMES):
                self._file.read(READ_FRAMES)
            self._file.read(position % READ_FRAMES)
        else:
            self._file.seek(position)
        self._frames_read, self._eof = position, position >= self.info.frames
        self.frames_out = frame
        self.done = self._eof
        self._fifo = SampleFifo(self.channels)
        if self._resampler is not None:
            self._resampler = soxr.ResampleStream(
                self.info.sample_rate, self.sample_rate, self.channels, dtype="float32", quality="VHQ"
            )

    def close(self) -> None:
        """Release the file."""
        self._file.close()
