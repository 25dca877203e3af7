"""Live playback: a session compiled for a device, rendered ahead in its own thread, played by an audio callback.

This module holds stemhost's only real-time code, :meth:`Player.callback`. It copies prepared
frames from a lock-free ring (:class:`~stemhost.live.ring.FrameRing`) into the device's buffer, and
counts; it allocates no audio buffer, touches no file and takes no lock. :class:`Player` is the face
the mixer, the headless player and the tests use; the work is done by its parts, each with one job:

- :class:`~stemhost.live.render_ahead.RenderAhead`: the render thread, which renders the graph into
  the ring and applies queued changes between blocks;
- :class:`~stemhost.live.transport.PlayHead`: play and pause, seeks, loops, fades, the end;
- :class:`~stemhost.live.keytempo.KeyTempo`: key and tempo versions of the stems;
- :mod:`~stemhost.live.strips`: the mixer's strips and meters; :mod:`~stemhost.live.stats`: timings;
  :mod:`~stemhost.live.stalls`: the render thread's stalls, the machine's told from the program's.

Changes from the mixer (gain, pan, mute, solo, sends, seek, loop, pause, key and tempo) are queued
and applied between blocks; fader and mute changes ramp over one render block (about 11 ms),
transport jumps fade out and in over 5 ms.

Threads: the UI thread calls the methods below and owns the strips (under the meters' lock for
peaks), the send levels, the loop and the wanted key and tempo; the render thread owns the graph,
the transport, the version playing and the ring's target; the audio callback owns its counters
(``device_xruns``, the underruns, ``min_fill``, its timings and the capture). Others only read them.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from stemhost.engine.click import for_device
from stemhost.engine.compile import compile_graph, probe_stems
from stemhost.engine.graph import MixGraph
from stemhost.engine.mix import apply_levels, mix_levels
from stemhost.errors import DeviceError, SessionError
from stemhost.limits import MAX_DEVICE_BLOCK, MAX_RENDER_AHEAD_S
from stemhost.live.keytempo import KeyTempo
from stemhost.live.render_ahead import RenderAhead
from stemhost.live.ring import FrameRing
from stemhost.live.sections import Sections
from stemhost.live.stalls import StallMonitor, Underruns
from stemhost.live.stats import CallbackStats, Timings
from stemhost.live.strips import PeakMeters, Strip, session_with, strips_of
from stemhost.live.transport import PlayHead, Seeks, Transport
from stemhost.session.model import Session

__all__ = ["RENDER_BLOCK", "CallbackStats", "Player", "Strip", "Transport", "most_ahead", "ring_capacity"]

RENDER_BLOCK = 512  # frames the graph renders at a time while playing
RING_BLOCKS = 5  # render-ahead: the ring holds this many render blocks (53 ms at 48 kHz), more for big device blocks
GIL_SWITCH_S = 0.0005  # while playing, Python threads hand the GIL over this often (the default is 5 ms)


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
        plugin_folders: the resolved folders third-party plugins may be loaded from (None: the defaults).

    The ring starts with :func:`ring_capacity` frames rendered ahead; after each stall of the render
    thread it renders further ahead, up to :func:`most_ahead` (see :mod:`~stemhost.live.stalls`).
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
        plugin_folders: Sequence[Path] | None = None,
    ) -> None:
        if not 0 <= device_block <= MAX_DEVICE_BLOCK:
            raise DeviceError(f"--blocksize {device_block}: at most {MAX_DEVICE_BLOCK} frames per audio callback")
        self.session_path = session_path
        self.sample_rate = sample_rate
        self.channels = channels
        self.render_block = render_block
        session = for_device(session.model_copy(update={"sample_rate": sample_rate}), channels, session_path.name)
        self.graph: MixGraph = compile_graph(session, session_path, render_block, plugin_folders=plugin_folders)
        length = max(round(s.source.info.frames * sample_rate / s.source.info.sample_rate) for s in self.graph.stems)
        start = round(start_s * sample_rate)
        if start >= length:
            self.graph.close()
            raise SessionError(
                f"--start {start_s:g}: the song is {length / sample_rate:.1f} s long; start before its end"
            )
        stop_at = None if duration_s is None else start + round(duration_s * sample_rate)
        self.head = PlayHead(sample_rate, length, start, stop_at, session.tempo)
        self.head.song_frame = self.head.read_frame = start or -self.graph.lead_in  # a count-in before frame 0
        self.seeks = Seeks(self.head, lambda: self.ring.read, lambda: self.position_s)
        self.strips = strips_of(session)
        self._meters = PeakMeters(self.strips)
        self._send_levels: dict[tuple[str, str], float] = {}  # sends the mixer changed, in dB
        self._stem_channels = {node.name: node.source.channels for node in self.graph.stems}  # for the pan law
        start_ahead = ring_capacity(render_block, device_block)
        self.ring = FrameRing(most_ahead(render_block, device_block, sample_rate), channels, start_ahead)
        self.versions = KeyTempo(
            session, probe_stems(session, session_path), self.graph, self._post, self.head.song_position_s
        )
        self.underruns = Underruns()  # the audio callback's own
        self.render = RenderAhead(self.graph, self.ring, self.head, self.versions, self._meters, self.underruns)
        self.monitor = StallMonitor()
        self.sections = Sections(self)  # jumps to the song's sections on the grid's downbeats, loops
        # the audio callback's own
        self.held = held  # play silence until release(); written by the UI thread
        self.device_xruns = 0
        self.min_fill = self.ring.capacity  # the emptiest the ring was when a callback came (frames)
        self._times = Timings()
        self._capture = np.zeros((round(capture_s * sample_rate), channels), np.float32) if capture_s else None
        self.captured = 0
        # set by the stream's owner
        self.device_latency_s = 0.0
        self.cpu_load = 0.0
        self.stream = None  # the sounddevice stream, once open
        self._switch_interval: float | None = None  # Python's own, while start() has replaced it

    def _post(self, change) -> None:
        self.render.post(change)

    # ------------------------------------------------------------------ the audio thread

    def callback(self, outdata: np.ndarray, frames: int, _time, status) -> None:
        """sounddevice's callback: copy prepared frames into ``outdata``, fill the rest with silence, count."""
        began = time.perf_counter_ns()
        if self.held:  # not started yet (the mixer draws first): silence, the ring stays full
            outdata.fill(0.0)
            return
        if status.output_underflow:
            self.device_xruns += 1
        heard = self.head.playing and not self.head.ended
        if heard:
            self.min_fill = min(self.min_fill, self.ring.fill)
        got = self.ring.read_into(outdata)
        if got < frames:
            outdata[got:] = 0.0
            if heard:
                self.underruns.count += 1
                self.underruns.frames += frames - got
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
        self.monitor.start()
        self.render.start()
        deadline = time.monotonic() + 10.0
        while self.ring.space >= self.render_block and not self.head.ended and time.monotonic() < deadline:
            time.sleep(0.002)

    # ------------------------------------------------------------------ state, read from any thread

    @property
    def session(self) -> Session:
        """The session as playing: its key and tempo those of the version heard."""
        return self.versions.session

    @property
    def wanted(self) -> Session:
        """The session with the key and tempo the mixer asked for."""
        return self.versions.wanted

    @property
    def playing(self) -> bool:
        return self.head.playing

    @property
    def ended(self) -> bool:
        return self.head.ended

    @property
    def length_frames(self) -> int:
        return self.head.length_frames

    @property
    def loop(self) -> tuple[float, float] | None:
        """The loop, in seconds of the song as playing."""
        return self.head.loop

    @property
    def loop_on(self) -> bool:
        return self.head.loop_on

    @property
    def preparing(self) -> str:
        """The key or tempo being prepared, for the transport line ('' when none)."""
        return self.versions.preparing

    @property
    def error(self) -> BaseException | None:
        """What stopped the render thread, or a key or tempo change that failed."""
        return self.render.error or self.versions.error

    @error.setter
    def error(self, error: BaseException | None) -> None:  # the UI may report one of its own (a device gone)
        self.render.error = error

    # ------------------------------------------------------------------ what the mixer calls (the UI thread)

    def change(self, kind: str, name: str, **values) -> None:
        """Set a strip's gain_db, pan, mute or solo; heard within a block or two (queued, ramped)."""
        strip = self.strips[(kind, name)]
        for key, value in values.items():
            setattr(strip, key, value)
        self._post_mix()

    def set_bypass(self, kind: str, name: str, index: int, bypass: bool) -> None:
        """Bypass (or bring back) the third-party plugin at ``index`` of a strip's chain; crossfaded over a block."""
        slot = next(p for p in self.strips[(kind, name)].plugins if p.index == index)
        slot.bypass = bypass
        node = {"stem": {n.name: n for n in self.graph.stems}, "bus": {n.name: n for n in self.graph.buses}}
        chain = (self.graph.master if kind == "master" else node[kind][name]).chain
        stage = next(st for st in chain.stages if getattr(st, "index", -1) == index)
        self._post(lambda: stage.set_bypass(bypass, self.graph.block_size))

    def set_send(self, stem: str, bus: str, level_db: float) -> None:
        """Change a send's level (ramped)."""
        self._send_levels[(stem, bus)] = level_db
        self._post_mix()

    def _post_mix(self) -> None:
        session = self.current_session()
        levels = mix_levels(session, self._stem_channels)
        self._post(lambda: apply_levels(self.graph, levels))

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
        self._post(self.head.toggle_play)

    def seek(self, seconds: float) -> None:
        """Jump to a time in the song (clamped to it); after the end, playing starts again from there."""
        seconds, number = self.seeks.ask(seconds)
        self._post(lambda: self.head.seek(seconds, number))

    def seek_by(self, seconds: float) -> None:
        """Move from where the transport shows (a seek not heard yet counts: quick presses add up)."""
        self.seek(self.seeks.position_s() + seconds)

    def set_loop(self, start_s: float | None = None, end_s: float | None = None) -> None:
        """Set the loop's start or end, in seconds of the song."""
        self.head.set_loop(start_s, end_s)

    def toggle_loop(self) -> None:
        self.head.toggle_loop()

    def set_key(self, semitones: float) -> None:
        """Move the key (semitones from the recording); heard once the shifted stems are ready, the old key until then."""
        self.versions.request(key_shift=float(semitones))
        self._post(self.versions.replan)

    def set_tempo(self, tempo: float) -> None:
        """Change the tempo (1.0 = the recording's); heard once the stretched stems are ready."""
        self.versions.request(tempo=float(tempo))
        self._post(self.versions.replan)

    # ------------------------------------------------------------------ figures

    @property
    def position_s(self) -> float:
        """The song time being heard now (the ring's read side)."""
        if self.ring.fill == 0:
            return self.head.song_frame / self.sample_rate
        return float(self.render.timeline[self.ring.read % self.ring.capacity]) / self.sample_rate

    @property
    def latency_ms(self) -> float:
        """Output latency: the device's buffer plus the render-ahead ring (more after stalls)."""
        return 1000.0 * (self.device_latency_s + self.ahead_s)

    @property
    def ahead_s(self) -> float:
        """Seconds rendered ahead now; a mixer change is heard this much later (plus the device's buffer)."""
        return self.ring.target / self.sample_rate

    @property
    def start_ahead_s(self) -> float:
        """Seconds rendered ahead when playback started."""
        return self.render.stalls.start_target / self.sample_rate

    @property
    def render_underruns(self) -> int:
        """Callbacks the ring left short while playing (the machine's stalls and the program's faults)."""
        return self.underruns.count

    @property
    def program_underruns(self) -> int:
        """Render underruns not shown to be the machine's: the program's own faults."""
        return self.underruns.count - self.render.stalls.machine_underruns

    @property
    def machine_stalls(self) -> int:
        """Times the render thread fell behind because it was not running (the machine did not schedule it)."""
        return self.render.stalls.machine_stalls

    @property
    def program_stalls(self) -> int:
        """Times the render thread fell behind while using more CPU than real time allows: the program's fault."""
        return self.render.stalls.program_stalls

    @property
    def longest_stall_s(self) -> float:
        """The longest the render thread, or the whole process, was kept from running (seconds)."""
        return max(self.render.stalls.longest_stall_s, self.monitor.longest_s)

    @property
    def process_stalls(self) -> int:
        """Times no thread of the process could run for 10 ms or more (the stall monitor's count)."""
        return self.monitor.stalls

    def transport(self) -> Transport:
        session = self.session
        return Transport(
            position_s=self.seeks.position_s(),
            length_s=self.length_frames / self.sample_rate,
            playing=self.playing,
            ended=self.ended,
            key_shift=session.key_shift,
            tempo=session.tempo,
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
        return self.render.timings.stats(self.render_block / self.sample_rate)

    def capture(self) -> np.ndarray:
        """What the callback handed the device so far, as ``(frames, channels)``."""
        return np.zeros((0, self.channels), np.float32) if self._capture is None else self._capture[: self.captured]

    def close(self) -> None:
        """Stop rendering and release the graph."""
        self.render.stop()
        self.monitor.stop()
        if self._switch_interval is not None:
            sys.setswitchinterval(self._switch_interval)
        self.graph.close()
        self.versions.close()


def ring_capacity(render_block: int, device_block: int) -> int:
    """Frames the render-ahead ring holds: a whole device block, rounded up to render blocks, and RING_BLOCKS − 1 more.

    A callback takes a whole device block at once; a ring smaller than that could never hand it one,
    and the song would play in fragments with silence between them. Device blocks up to a render
    block get the plain RING_BLOCKS render blocks.
    """
    return (RING_BLOCKS - 1 + max(1, math.ceil(device_block / render_block))) * render_block


def most_ahead(render_block: int, device_block: int, sample_rate: int) -> int:
    """Frames the ring may grow to after stalls: :data:`MAX_RENDER_AHEAD_S` in render blocks, or the start if more."""
    most = math.ceil(MAX_RENDER_AHEAD_S * sample_rate / render_block) * render_block
    return max(most, ring_capacity(render_block, device_block))
