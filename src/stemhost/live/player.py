"""Live playback: the mix graph rendered ahead in its own thread, played by an audio callback.

This module holds stemhost's only real-time code, :meth:`Player.callback`. It copies prepared
frames from a lock-free ring (:class:`~stemhost.live.ring.FrameRing`) into the device's buffer, and
counts; it allocates no audio buffer, touches no file and takes no lock. Everything else runs in the
render thread, which drives the same :meth:`MixGraph.stream` as offline rendering, so what is
heard is what is exported. Changes from the mixer (gain, pan, mute, solo, sends, seek, loop,
pause, key and tempo) are queued and applied between blocks; fader and mute changes ramp over one
render block (about 11 ms), transport jumps fade out and in over 5 ms.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stemhost.engine.buffers import LatencyTrim
from stemhost.engine.cache import StemCache
from stemhost.engine.compile import compile_graph, probe_stems
from stemhost.engine.graph import MixGraph, ramp
from stemhost.engine.mix import apply_levels, mix_levels
from stemhost.engine.stretch import cache_key, stem_settings
from stemhost.errors import DeviceError, SessionError
from stemhost.limits import MAX_DEVICE_BLOCK
from stemhost.live.ring import FrameRing
from stemhost.live.stats import CallbackStats, Timings
from stemhost.live.strips import PeakMeters, Strip, session_with, strips_of
from stemhost.live.versions import XFADE_S, ChunkProducer, CrossfadeSource, VersionChange, cached_source
from stemhost.session.model import Session
from stemhost.session.validation import load_model

__all__ = ["RENDER_BLOCK", "CallbackStats", "Player", "Strip", "Transport", "ring_capacity"]

RENDER_BLOCK = 512  # frames the graph renders at a time while playing
RING_BLOCKS = 5  # render-ahead: the ring holds this many render blocks (53 ms at 48 kHz), more for big device blocks
FADE_S = 0.005  # fade out before and in after a seek, a loop's jump, a pause
GIL_SWITCH_S = 0.0005  # while playing, Python threads hand the GIL over this often (the default is 5 ms)
PLAN_LEAD_S = 1.0  # a key or tempo change is rendered from this far past the play position: about when it is ready
SWITCH_AHEAD_S = 1.0  # ... and taken over once this much of it is rendered ahead of the play position


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


@dataclass
class _Version:
    """A key or tempo change, planned: per stem moved, a whole file to read or a chunk producer."""

    session: Session
    plan: dict[str, Path | ChunkProducer]
    change: VersionChange | None
    start_s: float  # where in the original song the chunks start


@dataclass
class _Jump:
    """A pending transport jump: fade out, then move every source."""

    frame: int


class Player:
    """A session compiled for a device and played through a callback.

    Args:
        session: the session with presets and overrides applied.
        session_path: its file (stems are found from its folder; ``w`` saves into it).
        sample_rate: the device's rate; stems at other rates are resampled.
        channels: the device's output channels (2, or more for buses with ``device_channels``).
        start_s: where playback starts, in seconds of the song.
        duration_s: stop after this many seconds (None: at the end).
        capture_s: keep this many seconds of what the callback hands the device (for tests).
        render_block: frames the graph renders at a time.
        held: play silence until :meth:`release` (the mixer starts it once drawn).
        device_block: frames the device asks for in one callback (``--blocksize``, at most
            :data:`MAX_DEVICE_BLOCK`); the ring holds that many more, so every callback finds a full block.
    """

    def __init__(
        self,
        session: Session,
        session_path: Path,
        sample_rate: int,
        channels: int = 2,
        start_s: float = 0.0,
        duration_s: float | None = None,
        capture_s: float = 0.0,
        render_block: int = RENDER_BLOCK,
        held: bool = False,
        device_block: int = 0,
    ) -> None:
        if not 0 <= device_block <= MAX_DEVICE_BLOCK:
            raise DeviceError(f"--blocksize {device_block}: at most {MAX_DEVICE_BLOCK} frames per audio callback")
        self.session_path = session_path
        self.sample_rate = sample_rate
        self.channels = channels
        self.session = session.model_copy(update={"sample_rate": sample_rate})
        self.graph: MixGraph = compile_graph(self.session, session_path, render_block)
        self.length_frames = max(
            round(s.source.info.frames * sample_rate / s.source.info.sample_rate) for s in self.graph.stems
        )
        start = round(start_s * sample_rate)
        if start >= self.length_frames:
            self.graph.close()
            raise SessionError(
                f"--start {start_s:g}: the song is {self.length_frames / sample_rate:.1f} s long; start before its end"
            )
        self.strips = strips_of(self.session)
        self._meters = PeakMeters(self.strips)
        self._send_levels: dict[tuple[str, str], float] = {}  # sends the mixer changed, in dB
        self._base = self.wanted = self.session  # base: what the compiled sources play; wanted: the mixer's key/tempo
        self._base_sources = {stem.name: stem.source for stem in self.graph.stems}
        self._originals = probe_stems(self.session, session_path)
        self._feed: VersionChange | None = None  # renders ahead for the version playing
        self._planned: VersionChange | None = None  # renders the first chunks of the version wanted
        self._pending_version: _Version | None = None
        self.ring = FrameRing(ring_capacity(render_block, device_block), channels)
        self.render_block = render_block
        self._changes: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._timeline = np.zeros(self.ring.capacity, dtype=np.int64)  # song frame of every ring slot
        self._song_frame = start  # the next frame the render thread writes, in song frames
        self._read_frame = 0  # the frame the next stems rendered start at (a block ahead of the writing)
        self._stop_at = None if duration_s is None else start + round(duration_s * sample_rate)
        self._fade_out_next = False
        self._fade_in = start > 0  # from the song's start there is nothing to fade in from
        self._discard = False
        self._pausing = False
        self._pending_jump: _Jump | None = _Jump(start) if start else None
        self.playing = True
        self.held = held
        self.ended = False
        self.loop: tuple[float, float] | None = None
        self.loop_on = False
        self.device_xruns = 0
        self.render_underruns = 0
        self.device_latency_s = 0.0
        self.cpu_load = 0.0
        self.error: BaseException | None = None
        self.min_fill = self.ring.capacity  # the emptiest the ring was when a callback came (frames)
        self._times = Timings()
        self._render_times = Timings()  # the render thread's work per block
        self._capture = np.zeros((round(capture_s * sample_rate), channels), np.float32) if capture_s else None
        self.captured = 0
        self._to_skip = self.graph.latency
        self._device_buses = self._bus_routes()
        self.stream = None  # the sounddevice stream, once open
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._render_loop, name="stemhost-render", daemon=True)

    # ------------------------------------------------------------------ the audio thread

    def callback(self, outdata: np.ndarray, frames: int, _time, status) -> None:
        """sounddevice's callback: copy prepared frames into ``outdata``, fill the rest with silence, count."""
        began = time.perf_counter_ns()
        if self.held:  # not started yet (the mixer draws first): silence, the ring stays full
            outdata.fill(0.0)
            return
        if status.output_underflow:
            self.device_xruns += 1
        if self.playing and not self.ended:
            self.min_fill = min(self.min_fill, self.ring.fill)
        got = self.ring.read_into(outdata)
        if got < frames:
            outdata[got:] = 0.0
            if self.playing and not self.ended:
                self.render_underruns += 1
        if self._capture is not None and self.captured < len(self._capture):
            n = min(frames, len(self._capture) - self.captured)
            np.copyto(self._capture[self.captured : self.captured + n], outdata[:n])
            self.captured += n
        self._times.add(time.perf_counter_ns() - began)

    # ------------------------------------------------------------------ the render thread

    def start(self) -> None:
        """Start rendering ahead; call before the stream starts, so the ring is full when it does.

        Python's threads hand the GIL over every 5 ms by default, longer than a 256-frame block
        (5.3 ms at 48 kHz): the callback could wait that long for it. While playing, it is 0.5 ms.
        """
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_S)
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while self.ring.space >= self.render_block and not self.ended and time.monotonic() < deadline:
            time.sleep(0.002)

    def _render_loop(self) -> None:
        try:
            began = time.perf_counter_ns()
            for mix in self.graph.stream(control=self._control):
                self._render_times.add(time.perf_counter_ns() - began)
                if self._stop.is_set():
                    return
                self._write(mix)
                began = time.perf_counter_ns()  # what follows is rendering, not waiting for ring space
        except BaseException as exc:  # reported by the UI and on exit; the callback plays silence
            self.error = exc
            self.ended = True

    def _control(self) -> None:
        """Between blocks: apply queued changes and transport jumps (see MixGraph.stream)."""
        while True:
            try:
                change = self._changes.get_nowait()
            except queue.Empty:
                break
            change()
        jump = self._pending_jump
        if jump is not None and not self._fade_out_next:
            self._pending_jump = None
            frame = jump.frame
            if not all(stem.source.seekable for stem in self.graph.stems):
                frame = self._back_to_base(frame)  # stems still being rendered ahead cannot jump
            for stem in self.graph.stems:
                stem.source.seek(frame)
            self._song_frame = self._read_frame = frame
            if self.preparing:  # a change planned from the old position: plan it again from here
                self._replan()
            self._to_skip = self.graph.latency  # the chains' latency again: their state is from before
            self._device_buses = self._bus_routes()
            self._discard = True  # the block already rendered is from before the jump
            self._fade_in = True
        version = self._pending_version
        if version is not None and self._can_switch(version):
            self._pending_version = None
            self._switch(version)
        self._read_frame += self.render_block

    def _write(self, mix) -> None:
        if self._discard:
            self._discard = False
            return
        if not self.playing or self.ended:
            return  # rendered only to apply changes while paused or after the end: not heard
        block = mix.master
        skip = min(self._to_skip, block.shape[1])
        self._to_skip -= skip
        block = block[:, skip:]
        n = block.shape[1]
        if n == 0:
            return
        out = np.zeros((n, self.channels), dtype=np.float32)
        out[:, :2] = block.T
        for (left, right), trim, name in self._device_buses:
            routed = trim.take(mix.buses[name], mix.master.shape[1], n)
            out[:, left - 1] += routed[0]
            out[:, right - 1] += routed[1]
        self._meters.add(mix)
        if self._fade_out_next:  # the last block before a jump or a pause
            out *= _fade(n, self.sample_rate, out_=True)[:, None]
            self._fade_out_next = False
            if self._pausing:
                self._pausing, self.playing = False, False
        elif self._fade_in:
            out *= _fade(n, self.sample_rate, out_=False)[:, None]
            self._fade_in = False
        while self.ring.space < n and not self._stop.is_set():
            time.sleep(self.render_block / self.sample_rate / 4)
        slots = (self.ring.written + np.arange(n)) % self.ring.capacity
        self._timeline[slots] = self._song_frame + np.arange(n)
        self.ring.write(out)
        self._song_frame += n
        self._after_block()

    def _after_block(self) -> None:
        """Loops, the end of the song or of --duration, and pauses, decided after each block."""
        frame = self._song_frame
        if (
            self.loop_on
            and self.loop is not None
            and self._pending_jump is None  # asked already: wait for it
            and frame >= round(self.loop[1] * self.sample_rate)
        ):
            self._jump_to(round(self.loop[0] * self.sample_rate))
        elif self._pending_jump is None and (
            (self._stop_at is not None and frame >= self._stop_at)
            or (self.graph.sources_done and frame >= self.length_frames)
        ):
            self.ended = True
        while (
            (not self.playing or self.ended)
            and not self._stop.is_set()
            and self._changes.empty()
            and self._pending_jump is None
        ):
            time.sleep(0.01)  # paused or at the end: the ring drains, the callback plays silence

    # ------------------------------------------------------------------ key and tempo while playing

    def set_key(self, semitones: float) -> None:
        """Move the key (semitones from the recording); heard once the shifted stems are ready, the old key until then."""
        self._request_version(key_shift=float(semitones))

    def set_tempo(self, tempo: float) -> None:
        """Change the tempo (1.0 = the recording's); heard once the stretched stems are ready."""
        self._request_version(tempo=float(tempo))

    def _request_version(self, **update) -> None:
        self.wanted = load_model(Session, {**self.wanted.model_dump(), **update}, "the mixer")
        self._replan()

    def _prepare_version(self, target: Session) -> None:
        """Plan a change (in its own thread): for every stem it moves, the cached whole stem, the file, or chunks."""
        try:
            start_s = self._song_position_s() + PLAN_LEAD_S
            cache, plan, producers = StemCache.default(), {}, {}
            fed = set(self._feed.producers) if self._feed is not None else set()  # stems on chunks now
            for stem, original in zip(target.stems, self._originals, strict=True):
                settings, now = stem_settings(target, stem), stem_settings(self.session, stem)
                if settings == now and stem.name not in fed:  # (the feed of chunks stops at the switch)
                    continue
                path = original.path if settings.is_identity else cache.lookup(cache_key(original, settings))
                if path is not None:
                    plan[stem.name] = path
                else:
                    producers[stem.name] = plan[stem.name] = ChunkProducer(
                        original, settings, self.sample_rate, start_s
                    )
            change = VersionChange(producers, self._song_position_s) if producers else None
            self._planned = change
            if not self.preparing and self._feed is not None:
                self._feed.hold.clear()
            if self.wanted is target:
                self._pending_version = _Version(target, plan, change, start_s)
            elif change is not None:
                change.cancel()
        except BaseException as exc:
            self.error = exc

    def _can_switch(self, version: _Version) -> bool:
        """Whether the new version can take over now: at or after its start, with a second rendered ahead."""
        change = version.change
        if change is None or change.failed is not None:
            return True
        now_s = self._song_position_s()
        if not change.ready.is_set() or now_s < version.start_s:
            return False
        return all(p.ended or p.next_s - now_s >= SWITCH_AHEAD_S for p in change.producers.values())

    def _song_position_s(self) -> float:
        """Where the stems are being read, in seconds of the original song (whatever the tempo)."""
        return self._read_frame * self.session.tempo / self.sample_rate

    def _switch(self, version: _Version) -> None:
        """Cross over to the new version of the stems it moves, at the current position (render thread)."""
        if version.change is not None and version.change.failed is not None:
            self.error = version.change.failed
            return
        now_s = self._song_position_s()
        frame = round(now_s * self.sample_rate / version.session.tempo)
        xfade = round(XFADE_S * self.sample_rate)
        for node, index in zip(self.graph.stems, range(len(self.graph.stems)), strict=True):
            what = version.plan.get(node.name)
            if what is None:
                continue
            if isinstance(what, ChunkProducer):
                source = what.source
                source.skip(max(0, round((now_s - version.start_s) * self.sample_rate / version.session.tempo)))
            else:
                source = cached_source(what, self.sample_rate, node.name, f"stems[{index}].file", frame)
            node.source = CrossfadeSource(node.source, source, xfade)
        self._retime(self.session.tempo / version.session.tempo)
        self.session = version.session.model_copy(update={"sample_rate": self.sample_rate})
        if self._feed is not None:
            self._feed.cancel()  # its stems are crossed over; those it does not move keep their sources
        self._feed, self._planned = version.change, None

    def _retime(self, ratio: float) -> None:
        """Positions after a tempo change: the same place in the song, more or fewer frames from the start."""
        if ratio == 1.0:
            return
        self._read_frame = round(self._read_frame * ratio)
        self._song_frame = round(self._song_frame * ratio)
        self.length_frames = round(self.length_frames * ratio)
        if self.loop is not None:
            self.loop = (self.loop[0] * ratio, self.loop[1] * ratio)

    def _back_to_base(self, frame: int) -> int:
        """Put every stem back on the sources the player started with; returns the frame in their timeline.

        A jump while stems are rendered ahead in chunks lands on these; the wanted key and tempo are
        then prepared again from there.
        """
        ratio = self.session.tempo / self._base.tempo
        for node in self.graph.stems:
            node.source = self._base_sources[node.name]
        self.session = self._base
        if self._feed is not None:
            self._feed.cancel()
            self._feed = None
        self._retime(ratio)
        return round(frame * ratio)

    def _replan(self) -> None:
        if self._planned is not None:
            self._planned.cancel()
        if self._feed is not None:
            self._feed.hold.set()  # the version playing renders only what it needs until the new one is in
        self._pending_version = None
        threading.Thread(target=self._prepare_version, args=(self.wanted,), name="stemhost-plan", daemon=True).start()

    @property
    def preparing(self) -> str:
        """The key or tempo being prepared, for the transport line ('' when none)."""
        wanted, now = self.wanted, self.session
        if (wanted.key_shift, wanted.tempo) == (now.key_shift, now.tempo):
            return ""
        return f"preparing key {wanted.key_shift:+g}, tempo {wanted.tempo:g}"

    def _bus_routes(self) -> list[tuple[tuple[int, int], LatencyTrim, str]]:
        """Buses played on their own device channels, each lined up with the master."""
        latency = {b.name: b.latency for b in self.graph.buses}
        return [
            (b.device_channels, LatencyTrim(latency[b.name]), b.name) for b in self.session.buses if b.device_channels
        ]

    def _jump_to(self, frame: int) -> None:
        self._pending_jump = _Jump(frame)
        self._fade_out_next = True  # the block already rendered fades out; the jump waits for it

    # ------------------------------------------------------------------ what the mixer calls

    def change(self, kind: str, name: str, **values) -> None:
        """Set a strip's gain_db, pan, mute or solo; heard within a block or two (queued, ramped)."""
        strip = self.strips[(kind, name)]
        for key, value in values.items():
            setattr(strip, key, value)
        session = self.current_session()
        self._changes.put(lambda: self._apply_mix(session))

    def set_send(self, stem: str, bus: str, level_db: float) -> None:
        """Change a send's level (ramped)."""
        self._send_levels[(stem, bus)] = level_db
        session = self.current_session()
        self._changes.put(lambda: self._apply_mix(session))

    def _apply_mix(self, session: Session) -> None:
        apply_levels(self.graph, mix_levels(session, {n.name: n.source.channels for n in self.graph.stems}))

    def current_session(self) -> Session:
        """The session with the mixer's faders, pans, mutes, solos and sends."""
        return session_with(self.session, self.strips, self._send_levels)

    def release(self) -> None:
        """Start playing a player made with held=True."""
        self.held = False

    def save(self, path: Path) -> None:
        """Write the mixer's mix, key and tempo into a session file (the session's own, or a new one)."""
        from stemhost.engine.compile import input_paths
        from stemhost.ownership import check_outputs
        from stemhost.session.files import save_mix

        inputs = input_paths(self.session, self.session_path)
        inputs.pop(self.session_path.resolve())  # the mix may be saved into its own session
        check_outputs([(path, repr(str(path)))], inputs)
        keys = {"key_shift": self.wanted.key_shift, "tempo": self.wanted.tempo}
        save_mix(path, self.current_session().model_copy(update=keys), self.session_path)

    def toggle_play(self) -> None:
        """Pause (after a short fade) or go on."""
        if self.playing and not self._pausing:
            self._changes.put(self._pause)
        else:  # go on from where it stopped: the sources moved on while changes were applied
            self._pausing, self.playing = False, True
            self._changes.put(lambda: self._jump_to(self._song_frame))

    def _pause(self) -> None:
        self._fade_out_next = self._pausing = True

    def seek(self, seconds: float) -> None:
        """Jump to a time in the song (clamped to it); after the end, playing starts again from there."""
        frame = min(max(0, round(seconds * self.sample_rate)), self.length_frames - 1)

        def jump() -> None:
            self._jump_to(frame)
            self.ended = False

        self._changes.put(jump)

    def set_loop(self, start_s: float | None = None, end_s: float | None = None) -> None:
        """Set the loop's start or end, in seconds of the song."""
        start, end = self.loop or (0.0, self.length_frames / self.sample_rate)
        self.loop = (start if start_s is None else start_s, end if end_s is None else end_s)
        if self.loop[1] <= self.loop[0]:
            self.loop = (self.loop[0], self.length_frames / self.sample_rate)

    def toggle_loop(self) -> None:
        self.loop_on = not self.loop_on and self.loop is not None

    # ------------------------------------------------------------------ figures

    @property
    def position_s(self) -> float:
        """The song time being heard now (the ring's read side)."""
        if self.ring.fill == 0:
            return self._song_frame / self.sample_rate
        return float(self._timeline[self.ring.read % self.ring.capacity]) / self.sample_rate

    @property
    def latency_ms(self) -> float:
        """Output latency: the device's buffer plus the render-ahead ring."""
        return 1000.0 * (self.device_latency_s + self.ring.capacity / self.sample_rate)

    def transport(self) -> Transport:
        return Transport(
            position_s=self.position_s,
            length_s=self.length_frames / self.sample_rate,
            playing=self.playing,
            ended=self.ended,
            key_shift=self.session.key_shift,
            tempo=self.session.tempo,
            loop=self.loop,
            loop_on=self.loop_on,
            cpu_load=self.cpu_load,
            device_xruns=self.device_xruns,
            render_underruns=self.render_underruns,
            latency_ms=self.latency_ms,
            preparing=self.preparing,
        )

    def take_peaks(self) -> dict[tuple[str, str], float]:
        """Every strip's peak since the last call (linear), reset to 0."""
        return self._meters.take()

    def callback_stats(self, blocksize: int) -> CallbackStats:
        """The callback's time per block as a fraction of the block's duration."""
        return self._times.stats(blocksize / self.sample_rate)

    def render_stats(self) -> CallbackStats:
        """The render thread's work per render block (the graph, not its waits) as a fraction of its duration."""
        return self._render_times.stats(self.render_block / self.sample_rate)

    def capture(self) -> np.ndarray:
        """What the callback handed the device so far, as ``(frames, channels)``."""
        return np.zeros((0, self.channels), np.float32) if self._capture is None else self._capture[: self.captured]

    def close(self) -> None:
        """Stop rendering and release the graph."""
        self._stop.set()
        for change in (self._feed, self._planned):
            if change is not None:
                change.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
            sys.setswitchinterval(self._switch_interval)
        self.graph.close()
        for source in self._base_sources.values():
            source.close()


def ring_capacity(render_block: int, device_block: int) -> int:
    """Frames the render-ahead ring holds: a whole device block, rounded up to render blocks, and RING_BLOCKS − 1 more.

    A callback takes a whole device block at once; a ring smaller than that could never hand it one,
    and the song would play in fragments with silence between them. Device blocks up to a render
    block get the plain RING_BLOCKS render blocks.
    """
    return (RING_BLOCKS - 1 + max(1, math.ceil(device_block / render_block))) * render_block


def _fade(n: int, rate: int, out_: bool) -> np.ndarray:
    """A 5 ms linear fade within an n-frame block: out to silence, or in from it."""
    length = min(n, max(1, round(FADE_S * rate)))
    curve = np.ones(n, np.float32)
    if out_:
        curve[:length] = ramp(1.0, 0.0, length)
        curve[length:] = 0.0
    else:
        curve[:length] = ramp(0.0, 1.0, length)
    return curve
