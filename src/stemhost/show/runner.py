"""The live show: a setlist's songs played one after another on one output stream, the next one ready before it is due.

One stream stays open for the whole show; its callback (:meth:`ShowRunner.callback`) hands each block to the
:class:`~stemhost.live.player.Player` of the song playing and switches to the next song's Player on the exact frame
it is due, inside the callback: ``gap_s`` after the last frame of the song (``advance: "auto"``), or at the next
block after ``next_song`` (a song cut mid-song fades out over 5 ms first). Both Players were built and started
on other threads; the callback only copies from their rings (no allocation, no file system, no locks).

The next song is prepared while the current one plays: its session (:func:`~stemhost.show.entries.prepared_entry`),
then its Player, built in a background thread at a lower priority with the song's key and tempo: its stems are
shifted and stretched whole (Rubber Band, cached) before it exists, so it plays in its key from its first frame (a
held Player asking for a key would play the recording's key for its first second: versions switch from a second past
the position). The Player is then started from the show's thread (its ring filled) and armed. A song not ready when
it is due starts as soon as it is, in its key, after a log line saying so. A song that fails to prepare or to play is
skipped with a log line.

Threads: the show's thread (:meth:`run`) owns the songs and arms the next Player; controls (MIDI, keys, API) only set
requests; the callback owns the switch and its counters (``started``, ``ended_at``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stemhost.engine.stretch import BACKGROUND_NICE
from stemhost.errors import DeviceError, StemhostError
from stemhost.live.devices import Device, open_stream
from stemhost.live.play import output_channels
from stemhost.live.player import GIL_SWITCH_S, Player
from stemhost.session.setlists import SetlistFile
from stemhost.show.entries import prepared_entry
from stemhost.show.midi import PlayerControl

log = logging.getLogger("stemhost")

POLL_S = 0.002  # the show's thread looks at the songs this often
CUT_FADE_S = 0.005  # a song cut mid-song by next_song fades out over this long (over blocks) before the next


@dataclass
class Slot:
    """One song being prepared or played: its Player once built (on a background thread), or why it could not be."""

    index: int
    go: bool = False  # start it as soon as it is ready (next_song, previous_song, the first song)
    player: Player | None = None
    error: BaseException | None = None
    built: threading.Event = field(default_factory=threading.Event)
    armed: bool = False
    late_told: bool = False


@dataclass(frozen=True)
class SongState:
    """One song as the show views list it. ``state``: "playing", "ended" (the gap, or waiting for next_song),
    "ready" (prepared next: starts at once), "preparing", "played", "skipped", or "" (later)."""

    index: int
    title: str
    state: str
    key_shift: float
    tempo: float
    count_in_bars: int
    advance: str
    gap_s: float


@dataclass(frozen=True)
class ShowStatus:
    """The show at a glance: its songs, the one playing (-1 before the first), whether it waits for next_song, and
    the seconds until the next song starts on its own (-1: not on its own)."""

    title: str
    songs: tuple[SongState, ...]
    index: int
    waiting: bool
    starts_in_s: float


class ShowRunner:
    """Plays a setlist live on a device: song by song, count-ins, gaps, next_song and previous_song.

    Args:
        setlist: the loaded setlist.
        device: the output device; the stream has the most channels any song needs (:func:`output_channels`).
        blocksize: frames per callback.
        capture_s: keep this many seconds of the stream's output (tests).
        plugin_folders: where third-party plugins may come from (None: the defaults).
    """

    def __init__(self, setlist: SetlistFile, device: Device, blocksize: int = 256, capture_s: float = 0.0,
                 plugin_folders: tuple[Path, ...] | None = None) -> None:  # fmt: skip
        self.setlist, self.device, self.blocksize = setlist, device, blocksize
        self.songs = setlist.setlist.songs
        self.sample_rate = device.sample_rate
        self.plugin_folders = plugin_folders
        # a song's title: its session's, else its folder's name (or its file's, for a session beside the setlist)
        self.titles = [Path(song.session).parent.name or Path(song.session).stem for song in self.songs]
        self.sessions: dict[int, tuple] = {}
        for index in range(len(self.songs)):  # each song's session now: the stream's channels, problems early
            try:
                self.sessions[index] = prepared_entry(setlist, index)
            except StemhostError as exc:
                log.warning(f"skipping {self.name(index)}: {exc}")
            else:
                self.titles[index] = self.sessions[index][0].title or self.titles[index]
        if not self.sessions:
            raise DeviceError(f"{setlist.label}: no song of the setlist can be played")
        self.channels = max(output_channels(s, device) for s, _ in self.sessions.values())
        # shared with the callback: written by the show's thread (next, go, gap) or by the callback (the rest)
        self.now: Player | None = None
        self.next: Player | None = None
        self.next_index = -1
        self.go = False
        self.gap = -1  # frames of silence after the song playing before the next starts; -1: wait for next_song
        self.frame = 0  # stream frames handed out
        self.ended_at = -1  # the stream frame where the song playing ended
        self.end_read = -1  # its ring's read count at its last frame (the last render block is padded)
        self.index = -1  # the song playing
        self.current: tuple[int, Player | None] = (-1, None)  # (index, Player) of the song playing, in one read
        self.started = np.full(len(self.songs), -1, np.int64)  # the stream frame where each song last started
        self._capture = np.zeros((round(capture_s * self.sample_rate), self.channels), np.float32)
        self.faded = 0  # frames of the song playing faded out so far by a cut
        self._fade = np.linspace(1.0, 0.0, round(CUT_FADE_S * self.sample_rate), endpoint=False, dtype=np.float32)
        self.captured = 0
        # the show's thread
        self.slot: Slot | None = None  # the song prepared next
        self.request: int | None = None  # a song asked for by next_song / previous_song
        self.played: list[tuple[int, Player]] = []
        self.failed: set[int] = set()
        self._seen: Player | None = None  # the song playing, as this thread last saw it
        self.records: list[str] = []  # one line per song played, for the summary
        self.stream = None
        self.done = False

    def name(self, index: int) -> str:
        return f"{index + 1}. {self.titles[index]}"

    # ------------------------------------------------------------------ the audio thread

    def callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        """The stream's callback: the song playing, then the next from the frame it is due."""
        now, following, at = self.now, self.next, -1
        if now is not None:
            before = now.ring.read
            now.callback(outdata, frames, time_info, status)
            end = self.end_read
            if self.ended_at < 0 and (0 <= end <= now.ring.read or (end < 0 and now.error and not now.ring.fill)):
                self.ended_at = self.frame + (end if end >= 0 else now.ring.read) - before
        else:
            outdata.fill(0.0)
        if self.go and following is not None:
            at = self.frame
            if now is not None and self.ended_at < 0:  # cut mid-song: fade it out first (blocks on), then the next
                done = self.faded
                n = min(frames, len(self._fade) - done)
                outdata[:n] *= self._fade[done : done + n, None]
                self.faded = done + n
                at = at + n if self.faded == len(self._fade) else -1
        if at < 0 and following is not None and self.ended_at >= 0 and self.gap >= 0:
            at = max(self.ended_at + self.gap, self.frame)
        if 0 <= at < self.frame + frames:
            offset = at - self.frame
            outdata[offset:] = 0.0
            following.callback(outdata[offset:], frames - offset, time_info, status)
            self.started[self.next_index] = at
            self.index, self.now, self.next, self.go = self.next_index, following, None, False
            self.current = (self.index, following)
            self.ended_at = self.end_read = -1
            self.faded = 0
        if self.captured < len(self._capture):
            n = min(frames, len(self._capture) - self.captured)
            np.copyto(self._capture[self.captured : self.captured + n], outdata[:n])
            self.captured += n
        self.frame += frames

    def capture(self) -> np.ndarray:
        """The stream's output so far, ``(frames, channels)``, from its first callback."""
        return self._capture[: self.captured]

    # ------------------------------------------------------------------ controls (any thread)

    def next_song(self) -> None:
        """Start the next song now (at once when it is prepared; else as soon as it is)."""
        self.start_song(self.index + 1)

    def previous_song(self) -> None:
        """Start the song before the one playing (prepared first: not instant)."""
        self.start_song(max(0, self.index - 1))

    def start_song(self, index: int) -> None:
        """Start song ``index`` (from 0), or the first playable one after it: at once if it is the one prepared."""
        index = next((i for i in range(index, len(self.songs)) if i in self.sessions), len(self.songs))
        if index >= len(self.songs):
            log.info("next_song: this is the last song")
            return
        if self.next is not None and self.next_index == index:
            self.go = True  # armed: the callback starts it on its next block
        else:
            self.request = index

    # ------------------------------------------------------------------ the show's thread

    def stop(self) -> None:
        """End the show (any thread): :meth:`run` closes the stream and every Player and returns."""
        self.done = True

    def status(self) -> ShowStatus:
        """What the show views draw (any thread; the fields are read without a lock, so a view may be a step late)."""
        slot, index, ended = self.slot, self.index, self.ended_at >= 0
        states = []
        for i, song in enumerate(self.songs):
            prepared = self.sessions.get(i)
            if prepared is None or i in self.failed:
                state = "skipped"
            elif i == index:
                state = "ended" if ended else "playing"
            elif slot is not None and slot.index == i:
                state = "ready" if slot.armed and self.next is not None else "preparing"
            else:
                state = "played" if self.started[i] >= 0 else ""
            session = prepared[0] if prepared is not None else None
            states.append(SongState(
                i, self.titles[i], state, session.key_shift if session else 0.0, session.tempo if session else 1.0,
                session.click.count_in_bars if session and session.click else 0, song.advance, song.gap_s,
            ))  # fmt: skip
        starts_in = -1.0
        if ended and self.next is not None and self.gap >= 0:
            starts_in = max(0.0, (self.ended_at + self.gap - self.frame) / self.sample_rate)
        waiting = index < 0 or (ended and self.songs[index].advance == "stop")
        return ShowStatus(self.setlist.setlist.title or self.setlist.label, tuple(states), index, waiting, starts_in)

    def run(self, start: bool = True) -> None:
        """Play the show until its last song ends or :meth:`stop` (Ctrl-C: KeyboardInterrupt goes through after
        closing); ``start=False`` prepares the first song and waits for :meth:`next_song` to start it."""
        interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_S)
        self.stream = open_stream(self.device, self.sample_rate, self.blocksize, self.channels, self.callback)
        try:
            self._prepare(min(self.sessions), go=start)
            with self.stream:
                while not self.done:
                    self._step()
                    time.sleep(POLL_S)
        finally:
            self._drop_slot()
            for index, player in self.played:
                self._close(index, player)
            sys.setswitchinterval(interval)

    def _step(self) -> None:
        if not self.stream.active:
            raise DeviceError("the audio device stopped playing (was it unplugged, or did its server stop?)")
        if self.now is not None and self.now is not self._seen:
            self._seen = self.now
            self._started()
        if self.request is not None:
            index, self.request = self.request, None
            if self.slot is not None and self.slot.index == index:
                self.slot.go = True
            else:
                log.info(f"{self.name(index)} is not prepared yet (not instant): it starts once it is")
                self._drop_slot()
                self._prepare(index, go=True)
        slot = self.slot
        if slot is not None and slot.built.is_set() and not slot.armed:
            self._arm(slot)
        now = self.now
        if now is not None and not now.ended and now.error is None and (self.end_read >= 0 or self.ended_at >= 0):
            self.end_read = self.ended_at = -1  # played again after its end (a seek): it ends anew, the gap after it
        if now is not None and now.ended and self.end_read < 0 and now.error is None:
            head = now.head  # ended: the render thread wrote its last block, then waits
            self.end_read = now.ring.written - max(0, head.song_frame - head.length_frames)
        if now is not None and now.error is not None and self.ended_at >= 0 and self.index not in self.failed:
            self.failed.add(self.index)
            log.warning(f"{self.name(self.index)} stopped: {now.error}; going on with the next song")
            self.next_song()
        if self.ended_at >= 0 and self.next is None:
            self._waiting(slot)

    def _waiting(self, slot: Slot | None) -> None:
        """The song playing has ended and nothing is armed: the show's end, or the next song is late."""
        if slot is None and self.request is None:
            self.done = True
        elif slot is not None and not slot.late_told and (slot.go or self.songs[self.index].advance == "auto"):
            slot.late_told = True
            log.warning(f"{self.name(slot.index)} is not ready yet (preparing its key and tempo); it starts when it is")

    def _started(self) -> None:
        """The callback has switched to the armed song: close what played before, prepare the one after."""
        for index, player in self.played:
            if player is not self.now:
                self._close(index, player)
        sys.setswitchinterval(GIL_SWITCH_S)  # a closed Player puts back the interval it found
        self.played = [(self.index, self.now)]
        self.slot = None
        log.info(f"playing {self.name(self.index)}, key {self.now.session.key_shift:+g}")
        following = next((i for i in range(self.index + 1, len(self.songs)) if i in self.sessions), None)
        if following is not None:
            self._prepare(following, go=False)

    def _prepare(self, index: int, go: bool) -> None:
        """Build song ``index``'s Player in a background thread, at a lower priority (its stems are stretched)."""
        slot = self.slot = Slot(index, go)
        session, path = self.sessions[index]

        def build() -> None:
            try:
                os.nice(BACKGROUND_NICE)  # this thread only (Linux), and the stretching it starts
                slot.player = Player(session, path, self.sample_rate, self.channels, held=True,
                                     device_block=self.blocksize, plugin_folders=self.plugin_folders)  # fmt: skip
            except BaseException as exc:
                slot.error = exc
            slot.built.set()

        threading.Thread(target=build, name=f"stemhost-song-{index + 1}", daemon=True).start()

    def _arm(self, slot: Slot) -> None:
        """A Player is built: start it (from this thread, so its render thread runs at full priority) and arm it."""
        slot.armed = True
        if slot.error is None:
            try:
                slot.player.start()
            except BaseException as exc:
                slot.error = exc
        if slot.error is not None:
            log.warning(f"skipping {self.name(slot.index)}: {slot.error}")
            self.failed.add(slot.index)
            if slot.player is not None:
                slot.player.close()
            following = next((i for i in range(slot.index + 1, len(self.songs)) if i in self.sessions), None)
            self.slot = None
            if following is not None:
                self._prepare(following, slot.go or self.now is None)
            return
        song = self.songs[self.index] if self.index >= 0 else None
        self.gap = -1 if song is None or song.advance == "stop" else round(song.gap_s * self.sample_rate)
        slot.player.release()  # its callback is called only once the stream's callback switches to it
        self.next_index = slot.index
        self.next = slot.player
        self.played.append((slot.index, slot.player))
        if slot.go:
            self.go = True
        elif song is not None and song.advance == "stop":
            log.info(f"{self.name(slot.index)} is ready: next_song starts it")

    def _drop_slot(self) -> None:
        """Forget the song prepared next (another was asked for, or the show ends) and close its Player."""
        slot, self.slot = self.slot, None
        if slot is None:
            return
        if slot.armed:
            self.next = None
            self.faded = 0
            if slot.player is not None and slot.player is not self.now:  # (the callback may have just started it)
                self.played = [(i, p) for i, p in self.played if p is not slot.player]
                slot.player.close()
            return

        def close() -> None:
            slot.built.wait()
            if slot.player is not None:
                slot.player.close()

        threading.Thread(target=close, name="stemhost-song-dropped", daemon=True).start()

    def _close(self, index: int, player: Player) -> None:
        if player.ring.read:
            start = self.started[index] / self.sample_rate
            self.records.append(
                f"{self.name(index)}: from {start:.3f} s of the show, played {player.ring.read / self.sample_rate:.1f} s "
                f"at key {player.session.key_shift:+g}, tempo {player.session.tempo:g}; "
                f"{player.render_underruns} render underruns, {player.device_xruns} device xruns"
            )
        player.close()

    def summary(self) -> list[str]:
        """One line per song played (when it started in the show, how long, its key, its underruns), then the show's."""
        lines = list(self.records)
        skipped = [self.name(i) for i in range(len(self.songs)) if i not in self.sessions or i in self.failed]
        if skipped:
            lines.append(f"skipped: {', '.join(skipped)}")
        lines.append(f"show: {self.frame / self.sample_rate:.1f} s on {self.device.name!r} at {self.sample_rate} Hz, "
                     f"blocksize {self.blocksize}, {self.channels} channels")  # fmt: skip
        return lines


class ShowControl(PlayerControl):
    """:class:`~stemhost.show.midi.PlayerControl`'s actions on the song playing, with next_song and previous_song."""

    def __init__(self, runner: ShowRunner) -> None:
        self.runner = runner
        self.mixer = None

    @property
    def player(self) -> Player:
        player = self.runner.now
        if player is None:
            raise DeviceError("no song is playing")
        return player

    def next_song(self) -> None:
        self.runner.next_song()

    def previous_song(self) -> None:
        self.runner.previous_song()
