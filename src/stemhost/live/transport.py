"""The transport: where the song is rendered and heard, play and pause, seeks, loops, fades, the end.

:class:`PlayHead` holds the transport's state. The render thread owns it and changes it between
blocks (the UI queues its requests, see :class:`~stemhost.live.render_ahead.RenderAhead`), except
the loop, which the UI sets and the render thread only reads. :class:`Transport` is what the
transport line shows.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from stemhost.engine.graph import ramp

FADE_S = 0.005  # fade out before and in after a seek, a loop's jump, a pause


@dataclass
class Transport:
    """What the transport line shows."""

    position_s: float
    length_s: float
    playing: bool
    ended: bool
    key_shift: float
    tempo: float
    loop: tuple[float, float] | None
    loop_on: bool
    cpu_load: float  # the audio thread's load as PortAudio measures it, 0..1
    device_xruns: int  # underflows the device reported
    render_underruns: int  # callbacks the render thread left short: the program's fault
    latency_ms: float  # device buffer plus render-ahead
    preparing: str = ""  # a key or tempo change being prepared


class PlayHead:
    """Positions and the transport's state; times in frames of the version playing (its tempo).

    Owned by the render thread: every attribute but the loop. The UI thread owns the loop
    (:meth:`set_loop`, :meth:`toggle_loop`, kept in seconds of the recording so a tempo change
    leaves it in place); the render thread reads it after each block.

    Args:
        sample_rate: Hz.
        length_frames: the song's length.
        start: the frame playback starts at.
        stop_at: the frame it stops at (None: the end).
        tempo: the tempo of the version playing.
    """

    def __init__(self, sample_rate: int, length_frames: int, start: int, stop_at: int | None, tempo: float) -> None:
        self.sample_rate = sample_rate
        self.length_frames = length_frames
        self.tempo = tempo
        self.song_frame = start  # the next frame written into the ring
        self.read_frame = 0  # the frame the next stems rendered start at (a block ahead of the writing)
        self.stop_at = stop_at
        self.playing = True
        self.ended = False
        self.pending_jump: int | None = start if start else None  # fades out first, then moves every source
        self.fade_out_next = False  # the next block written fades out (before a jump or a pause)
        self.fade_in = start > 0  # the next block written fades in; from the song's start nothing to fade in from
        self.discard = False  # the next block rendered is from before a jump: not written
        self.pausing = False
        self.seek_number = 0  # the last seek asked (see Seeks) that this head carried out
        self.seeks_landed = 0  # the last seek whose jump was made
        self.landed_at = 0  # the ring's frame count where the last jump's first frames were written
        self.cut: tuple[int, int] | None = None  # (frames of the next block written, then the frame jumped to)
        self._loop: tuple[float, float] | None = None  # UI thread: seconds of the recording (tempo 1.0)
        self.loop_on = False  # UI thread

    # ------------------------------------------------------------------ the UI thread

    @property
    def loop(self) -> tuple[float, float] | None:
        """The loop, in seconds of the version playing."""
        loop = self._loop
        return None if loop is None else (loop[0] / self.tempo, loop[1] / self.tempo)

    def set_loop(self, start_s: float | None = None, end_s: float | None = None) -> None:
        """Set the loop's start or end, in seconds of the version playing."""
        start, end = self.loop or (0.0, self.length_frames / self.sample_rate)
        loop = (start if start_s is None else start_s, end if end_s is None else end_s)
        if loop[1] <= loop[0]:
            loop = (loop[0], self.length_frames / self.sample_rate)
        self._loop = (loop[0] * self.tempo, loop[1] * self.tempo)

    def toggle_loop(self) -> None:
        self.loop_on = not self.loop_on and self._loop is not None

    # ------------------------------------------------------------------ the render thread

    def toggle_play(self) -> None:
        """Pause (after a short fade) or go on."""
        if self.playing and not self.pausing:
            self.fade_out_next = self.pausing = True
        else:  # go on from where it stopped: the sources moved on while changes were applied
            self.pausing, self.playing = False, True
            self.jump_to(self.song_frame)

    def seek(self, seconds: float, number: int = 0) -> None:
        """Jump to a time (clamped to the song); after the end, playing starts again from there.

        ``number`` counts the UI's seeks (:class:`Seeks`), so it knows when this one is heard.
        """
        self.jump_to(min(max(0, round(seconds * self.sample_rate)), self.length_frames - 1))
        self.ended = False
        self.seek_number = number or self.seek_number

    def jump_to(self, frame: int) -> None:
        self.pending_jump = frame
        self.fade_out_next = True  # the block already rendered fades out; the jump waits for it

    def take_jump(self) -> int | None:
        """The frame to move the sources to now, once the block before the jump has faded out."""
        if self.pending_jump is None or self.fade_out_next:
            return None
        frame, self.pending_jump = self.pending_jump, None
        return frame

    def landed(self, frame: int, cut: int | None = None) -> None:
        """The sources moved to frame: drop the block rendered before, fade the next one in; or, with ``cut``
        (a jump on a frame, see :mod:`~stemhost.live.sections`), write that many frames of it first."""
        if cut is not None:
            self.read_frame, self.cut = frame, (cut, frame)
            return
        self.song_frame = self.read_frame = frame
        self.discard = True
        self.fade_in = True
        self.landed_at = sys.maxsize  # until the first block from here is written (see written)
        self.seeks_landed = self.seek_number

    def written(self, ring_frames: int, n: int) -> None:
        """A block of n frames was written; the ring has had ring_frames written in all."""
        if self.landed_at > ring_frames:  # the first block since a jump
            self.landed_at = ring_frames - n

    def song_position_s(self) -> float:
        """Where the stems are being read, in seconds of the recording (whatever the tempo); any thread reads it."""
        return max(0, self.read_frame) * self.tempo / self.sample_rate  # during a count-in: its start

    def retime(self, tempo: float) -> float:
        """Positions after a tempo change: the same place in the song, more or fewer frames from the start.

        Returns:
            the ratio of new frames to old.
        """
        ratio, self.tempo = self.tempo / tempo, tempo
        if ratio != 1.0:
            self.read_frame = round(self.read_frame * ratio)
            self.song_frame = round(self.song_frame * ratio)
            self.length_frames = round(self.length_frames * ratio)
        return ratio

    def shape(self, out: np.ndarray) -> None:
        """Fade a ``(n, channels)`` block about to be written out or in, as a jump or a pause wants."""
        if self.cut is not None:  # cut short for a jump on a frame: its last 5 ms fade out
            out *= fade(len(out), self.sample_rate, out_=False)[::-1, None]
        if self.fade_out_next:  # the last block before a jump or a pause
            out *= fade(len(out), self.sample_rate, out_=True)[:, None]
            self.fade_out_next = False
            if self.pausing:
                self.pausing, self.playing = False, False
        elif self.fade_in:
            out *= fade(len(out), self.sample_rate, out_=False)[:, None]
            self.fade_in = False

    def after_cut(self) -> None:
        """The block cut short was written: the next frame written is the one jumped to, faded in."""
        self.song_frame, self.cut, self.fade_in = self.cut[1], None, True

    def after_block(self, sources_done: bool) -> None:
        """Loops, the end of the song or of --duration, decided after each block written."""
        frame, loop = self.song_frame, self.loop if self.loop_on else None
        if loop is not None and self.pending_jump is None and frame >= round(loop[1] * self.sample_rate):
            self.jump_to(round(loop[0] * self.sample_rate))
        elif self.pending_jump is None and (
            (self.stop_at is not None and frame >= self.stop_at) or (sources_done and frame >= self.length_frames)
        ):
            self.ended = True

    @property
    def idle(self) -> bool:
        """Paused or at the end, with no jump waiting: nothing to render until a change comes."""
        return (not self.playing or self.ended) and self.pending_jump is None


class Seeks:
    """The seeks the UI asked for, and whether the last is heard yet (UI thread; the head is read).

    Until a seek is heard, the transport shows where it goes, and the next seek goes on from there:
    six quick presses of ← move 30 s, not 5 s from wherever the song was last heard.

    Args:
        head: the play head (the render thread writes its ``seeks_landed`` and ``landed_at``).
        heard_frames: the ring's frames read so far (the callback's counter).
        heard_s: the song time heard now.
    """

    def __init__(self, head: PlayHead, heard_frames: Callable[[], int], heard_s: Callable[[], float]) -> None:
        self.head = head
        self.heard_frames = heard_frames
        self.heard_s = heard_s
        self.asked = 0
        self.target_s = 0.0

    def ask(self, seconds: float) -> tuple[float, int]:
        """A new seek: its time clamped to the song, and its number for :meth:`PlayHead.seek`."""
        head = self.head
        self.target_s = min(max(0.0, seconds), (head.length_frames - 1) / head.sample_rate)
        self.asked += 1
        return self.target_s, self.asked

    @property
    def pending(self) -> bool:
        """Whether the last seek asked is not heard yet."""
        head = self.head
        return head.seeks_landed != self.asked or self.heard_frames() < head.landed_at

    def position_s(self) -> float:
        """Where the song is, as the transport shows it: the last seek's time until it is heard."""
        return self.target_s if self.pending else self.heard_s()


def fade(n: int, rate: int, out_: bool) -> np.ndarray:
    """A 5 ms linear fade within an n-frame block: out to silence, or in from it."""
    length = min(n, max(1, round(FADE_S * rate)))
    curve = np.ones(n, np.float32)
    if out_:
        curve[:length] = ramp(1.0, 0.0, length)
        curve[length:] = 0.0
    else:
        curve[:length] = ramp(0.0, 1.0, length)
    return curve
