"""Key and tempo changes while playing: new versions of the stems, rendered from the play position on.

Rubber Band works on whole stretches of audio, never on a live stream (see :mod:`stemhost.engine.stretch`),
so a change renders each affected stem ahead of playback in chunks: a short first chunk from the
play position (2 s: Rubber Band R3 with its short window renders 12 to 30 times faster than
real time here, so six stems on two cores are ready in about a second), then longer ones (3, 6,
then 8 s) while it plays, kept 6 s ahead. Chunks overlap and are crossfaded; each starts half a second early, so Rubber Band's
start-up never reaches the audio. The renders run at a lower priority than playback.
The old version plays on until the first chunks of every affected stem are ready; then the player
crosses over (:class:`CrossfadeSource`), so there is never silence. When the whole stem at the new
settings is in the cache already (an earlier change, or a render), that is used straight away.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import soxr

from stemhost.engine.graph import ramp
from stemhost.engine.sources import AudioInfo, StemSource, probe
from stemhost.engine.stretch import BACKGROUND_NICE, StretchSettings, stretch

PRE_S = 0.5  # each chunk starts this early; that much is dropped from its start
CHUNKS_S = (2.0, 3.0, 6.0, 8.0)  # chunk lengths: short at first, so the change is heard soon; the last repeats
AHEAD_S = 6.0  # a stem's next chunk is started when less than this (seconds of the song) is rendered ahead
URGENT_S = 2.0  # ... or less than this, while another change is being prepared
XFADE_S = 0.03  # crossfades between versions and between chunks


class SegmentSource:
    """Shifted audio arriving in chunks from a producer thread, read like a :class:`StemSource`.

    The producer calls :meth:`add` with chunks that overlap by the crossfade; the last crossfade's
    worth of each chunk is held back until the next arrives (or :meth:`finish`). Reading past what
    has arrived gives silence and counts as ``starved``.
    """

    seekable = False

    def __init__(self, info: AudioInfo, channels: int, sample_rate: int, xfade: int) -> None:
        self.info = info
        self.channels = channels
        self.sample_rate = sample_rate
        self.xfade = xfade
        self._chunks: collections.deque[np.ndarray] = collections.deque()
        self._current = np.zeros((channels, 0), np.float32)
        self._held: np.ndarray | None = None
        self.finished = False
        self.frames_out = 0
        self.starved = 0
        self.ahead = 0  # frames arrived and not read yet

    def add(self, chunk: np.ndarray) -> None:
        """Append a chunk whose first ``xfade`` frames overlap the previous chunk's last ones."""
        if self._held is not None:
            fade = ramp(0.0, 1.0, self.xfade)
            head = self._held * (1.0 - fade) + chunk[:, : self.xfade] * fade
            chunk = np.concatenate([head, chunk[:, self.xfade :]], axis=1)
        self._held = chunk[:, -self.xfade :]
        body = chunk[:, : -self.xfade]
        self.ahead += body.shape[1]
        self._chunks.append(body)

    def finish(self) -> None:
        """The stem's end has arrived: release what was held back."""
        if self._held is not None:
            self.ahead += self._held.shape[1]
            self._chunks.append(self._held)
            self._held = None
        self.finished = True

    def skip(self, frames: int) -> None:
        """Drop frames from the front (the play position moved on while the first chunk rendered)."""
        while frames > 0 and (self._current.shape[1] or self._chunks):
            if not self._current.shape[1]:
                self._current = self._chunks.popleft()
            take = min(frames, self._current.shape[1])
            self._current, frames, self.ahead = self._current[:, take:], frames - take, self.ahead - take

    @property
    def done(self) -> bool:
        return self.finished and not self._chunks and not self._current.shape[1]

    def read(self, n: int) -> np.ndarray:
        out = np.zeros((self.channels, n), np.float32)
        filled = 0
        while filled < n:
            if not self._current.shape[1]:
                if not self._chunks:
                    break
                self._current = self._chunks.popleft()
            take = min(n - filled, self._current.shape[1])
            out[:, filled : filled + take] = self._current[:, :take]
            self._current, filled = self._current[:, take:], filled + take
        self.ahead -= filled
        self.frames_out += filled
        if filled < n and not self.finished:
            self.starved += 1
        return out

    def seek(self, frame: int) -> None:
        raise RuntimeError("a shifted stem being rendered cannot seek; the player goes back to the file")

    def close(self) -> None:
        self._chunks.clear()


class CrossfadeSource:
    """Plays an old source into a new one over a short crossfade, then the new one alone."""

    def __init__(self, old, new, frames: int) -> None:
        self.old, self.new, self.left, self.total = old, new, frames, frames
        self.info, self.channels = new.info, new.channels

    @property
    def done(self) -> bool:
        return self.new.done

    @property
    def seekable(self) -> bool:
        return self.new.seekable

    @property
    def frames_out(self) -> int:
        return self.new.frames_out

    def read(self, n: int) -> np.ndarray:
        new = self.new.read(n)
        if self.left <= 0:
            return new
        old = self.old.read(n)
        k = min(n, self.left)
        done = self.total - self.left
        fade = np.ones(n, np.float32)
        fade[:k] = np.linspace(done / self.total, (done + k) / self.total, k, dtype=np.float32)
        self.left -= k
        if self.left <= 0:
            self.old = None  # done with it: a chain of changes does not keep every earlier version
        return (new * fade + old * (1.0 - fade)).astype(np.float32)

    def seek(self, frame: int) -> None:
        self.left = 0
        self.new.seek(frame)

    def close(self) -> None:
        if self.old is not None:
            self.old.close()
        self.new.close()


class ChunkProducer:
    """Renders one stem at new settings from an original-song time onward, chunk by chunk, in the background.

    Args:
        info: the stem's original file.
        settings: the new key and tempo for it.
        sample_rate: the session's rate (the chunks are resampled to it).
        start_s: where in the original song the new version starts.
    """

    def __init__(self, info: AudioInfo, settings: StretchSettings, sample_rate: int, start_s: float) -> None:
        self.info, self.settings, self.sample_rate = info, settings, sample_rate
        self.next_s = start_s
        self.chunks = 0
        self.xfade = max(1, round(XFADE_S * sample_rate))
        self.source = SegmentSource(info, info.channels, sample_rate, self.xfade)

    def render_next(self) -> None:
        """Render the next chunk of the original and hand it to the source."""
        seconds = CHUNKS_S[min(self.chunks, len(CHUNKS_S) - 1)]
        self.chunks += 1
        rate = self.info.sample_rate
        start = max(0.0, self.next_s - PRE_S)
        end_s = self.next_s + seconds + XFADE_S
        first, last = round(start * rate), min(self.info.frames, round((end_s + PRE_S) * rate))
        with soundfile.SoundFile(str(self.info.path)) as f:
            f.seek(first)
            audio = np.ascontiguousarray(f.read(last - first, dtype="float32", always_2d=True).T)
        out = stretch(audio, rate, self.settings, live=True)
        if rate != self.sample_rate:
            out = np.ascontiguousarray(soxr.resample(out.T, rate, self.sample_rate, quality="VHQ").T)
        drop = round((self.next_s - start) / self.settings.tempo * self.sample_rate)
        keep = round((end_s - self.next_s) / self.settings.tempo * self.sample_rate)
        self.source.add(out[:, drop : drop + keep])
        self.next_s += seconds
        if last >= self.info.frames and self.next_s * rate >= self.info.frames:
            self.source.finish()

    @property
    def ended(self) -> bool:
        return self.source.finished


class VersionChange:
    """A key or tempo change being prepared: producers for every affected stem, fed in the background.

    ``ready`` is set once every stem's first chunk is in; the producers then keep rendering ahead
    until the stems end or :meth:`cancel` is called. While ``hold`` is set (another change is being
    prepared, and needs the CPU), only stems with less than 2 s ahead are rendered.
    """

    def __init__(self, producers: dict[str, ChunkProducer], position_s: Callable[[], float], workers: int = 2) -> None:
        self.producers = producers
        self.position_s = position_s  # where playback is, in seconds of the original song
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self._cancel = threading.Event()
        self.hold = threading.Event()
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="stemhost-shift", initializer=_lower_priority)
        self._thread = threading.Thread(target=self._run, name="stemhost-shift-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            list(self._pool.map(ChunkProducer.render_next, self.producers.values()))
            self.ready.set()
            while not self._cancel.is_set():
                ahead_s, now_s = (URGENT_S if self.hold.is_set() else AHEAD_S), self.position_s()
                behind = [p for p in self.producers.values() if not p.ended and p.next_s - now_s < ahead_s]
                if not behind and all(p.ended for p in self.producers.values()):
                    return
                if behind:
                    list(self._pool.map(ChunkProducer.render_next, behind))
                else:
                    self._cancel.wait(0.1)
        except BaseException as exc:  # reported by the player; the old version keeps playing
            self.failed = exc
            self.ready.set()
        finally:
            self._pool.shutdown(wait=False)

    def cancel(self) -> None:
        self._cancel.set()


def _lower_priority() -> None:
    """Let the render thread win the CPU over this one (Linux: niceness is per thread)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), BACKGROUND_NICE)


def cached_source(path: Path, sample_rate: int, name: str, where: str, frame: int) -> StemSource:
    """A whole stem from the cache, positioned at a frame of the session rate."""
    source = StemSource(probe(path, where), sample_rate, name, where)
    source.seek(frame)
    return source
