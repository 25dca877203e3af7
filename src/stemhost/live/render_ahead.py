"""The render thread: the mix graph rendered ahead into the ring, with changes applied between blocks.

It drives the same :meth:`MixGraph.stream` as offline rendering, so what is heard is what is
exported. Changes from other threads (the mixer, a planned key or tempo change) are queued with
:meth:`RenderAhead.post` and run in this thread between blocks; so the transport
(:class:`~stemhost.live.transport.PlayHead`), the graph's nodes and the version playing
(:class:`~stemhost.live.keytempo.KeyTempo`) are changed by this thread only. Before each block
it writes, :class:`~stemhost.live.stalls.StallWatch` judges whether it fell behind, and why, and
lets it render further ahead.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from stemhost.engine.buffers import LatencyTrim
from stemhost.engine.graph import MixBlock, MixGraph
from stemhost.live.keytempo import KeyTempo
from stemhost.live.ring import FrameRing
from stemhost.live.stalls import RenderClocks, StallWatch, Underruns
from stemhost.live.stats import Timings
from stemhost.live.strips import PeakMeters
from stemhost.live.transport import PlayHead


class RenderAhead:
    """Renders the graph a few blocks ahead of the device into a :class:`FrameRing`, in its own thread.

    Owns (written by the render thread only): the ring's write side and target, :attr:`timeline`,
    the frames still to skip for the chains' latency, the buses routed to device channels,
    :attr:`timings`, :attr:`stalls`, :attr:`error`. :attr:`stopped` and the queue of changes are safe from any thread.

    Args:
        graph: the compiled graph, with its ``block_size`` frames per render block.
        ring: where the frames go, ``channels`` per frame.
        head: the transport.
        versions: the key and tempo versions.
        meters: the strips' peak meters.
        underruns: the callback's counts of callbacks left short.
    """

    def __init__(
        self,
        graph: MixGraph,
        ring: FrameRing,
        head: PlayHead,
        versions: KeyTempo,
        meters: PeakMeters,
        underruns: Underruns,
    ) -> None:
        self.graph = graph
        self.ring = ring
        self.head = head
        self.versions = versions
        self.meters = meters
        self.block = graph.block_size
        self.timeline = np.zeros(ring.capacity, dtype=np.int64)  # the song frame of every ring slot
        self.timings = Timings()  # the graph's work per block, not its waits
        clocks = RenderClocks(graph.worker_ids)
        self.stalls = StallWatch(ring, underruns, clocks, self.block, head.sample_rate)
        self.error: BaseException | None = None
        self.stopped = threading.Event()
        self._changes: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._to_skip = graph.latency
        self.cue = None  # a jump on a frame (live.sections.Cue), set through post
        self.downbeats: tuple[float, ...] = ()  # the grid's, for the cue (seconds of the recording)
        self._device_buses = self._bus_routes()
        self._thread = threading.Thread(target=self._run, name="stemhost-render", daemon=True)

    def post(self, change: Callable[[], None]) -> None:
        """Queue a change for the render thread (any thread); it runs between blocks."""
        self._changes.put(change)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (from any other thread); waits up to 5 s for it."""
        self.stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    # ------------------------------------------------------------------ the render thread

    def _run(self) -> None:
        try:
            began = time.perf_counter_ns()
            for mix in self.graph.stream(control=self._control):
                self.timings.add(time.perf_counter_ns() - began)
                self.stalls.rendered()
                if self.stopped.is_set():
                    return
                self._write(mix)
                began = time.perf_counter_ns()  # what follows is rendering, not waiting for ring space
        except BaseException as exc:  # reported by the UI and on exit; the callback plays silence
            self.error = exc
            self.head.ended = True

    def _control(self) -> None:
        """Between blocks: apply queued changes, transport jumps and key or tempo switches (see MixGraph.stream)."""
        while True:
            try:
                change = self._changes.get_nowait()
            except queue.Empty:
                break
            change()
        head, versions = self.head, self.versions
        frame, cut = head.take_jump(), None
        if frame is None and self.cue is not None:  # a section's jump on a downbeat, within the next block?
            frame, cut = self.cue.due(head, self.downbeats, self.block - min(self._to_skip, self.block)) or (None, None)
        if frame is not None:
            if not all(stem.source.seekable for stem in self.graph.stems):
                frame = round(frame * head.retime(versions.back_to_base()))  # stems rendered ahead cannot jump
            for stem in self.graph.stems:
                stem.source.seek(frame)
            self.graph.moved(frame, head.tempo)  # the count-in is over; the click follows
            head.landed(frame, cut)
            if versions.preparing:  # a change planned from the old position: plan it again from here
                versions.replan()
            if cut is None:  # the chains' latency again: their state is from before (after a cut block, later)
                self._to_skip = self.graph.latency
            self._device_buses = self._bus_routes()
        version = versions.due()
        if version is not None:
            now_s = head.song_position_s()
            tempo = versions.switch(version, now_s)
            if tempo is not None:
                head.retime(tempo)
                self.graph.retimed(tempo, now_s)  # the click follows
        head.read_frame += self.block

    def _write(self, mix: MixBlock) -> None:
        head = self.head
        if head.discard:  # the block already rendered is from before the jump
            head.discard = False
            return
        if not head.playing or head.ended:
            self.stalls.unsteady()
            self._wait_while_idle()
            return  # rendered only to apply changes while paused or after the end: not heard
        block = mix.master
        skip = min(self._to_skip, block.shape[1])
        self._to_skip -= skip
        block = block[:, skip:]
        n = block.shape[1] if head.cut is None else head.cut[0]
        if n == 0:
            return self._after_cut()
        out = np.zeros((n, self.ring.channels), dtype=np.float32)
        out[:, :2] = block[:, :n].T
        for (left, right), trim, name in self._device_buses:
            routed = trim.take(mix.buses[name], mix.master.shape[1], block.shape[1])
            out[:, left - 1] += routed[0, :n]
            out[:, right - 1] += routed[1, :n]
        self.meters.add(mix)
        head.shape(out)
        self.stalls.check()
        while self.ring.space < n and not self.stopped.is_set():
            time.sleep(self.block / head.sample_rate / 4)
        slots = (self.ring.written + np.arange(n)) % self.ring.capacity
        self.timeline[slots] = head.song_frame + np.arange(n)
        self.ring.write(out)
        head.written(self.ring.written, n)
        head.song_frame += n
        self._after_cut()
        head.after_block(self.graph.sources_done)
        self._wait_while_idle()
        self.stalls.restart()

    def _after_cut(self) -> None:
        """After a block cut short for a jump on a frame: the jump's frames follow, the chains' latency skipped."""
        if self.head.cut is not None:
            self.head.after_cut()
            self._to_skip = self.graph.latency

    def _wait_while_idle(self) -> None:
        """Paused or at the end: render nothing (the ring drains, the callback plays silence) until a change is
        posted (a key or tempo version waits for playing: it starts just past the position playing)."""
        while self.head.idle and not self.stopped.is_set() and self._changes.empty():
            time.sleep(0.01)

    def _bus_routes(self) -> list[tuple[tuple[int, int], LatencyTrim, str]]:
        """Buses played on their own device channels, each lined up with the master."""
        latency = {b.name: b.latency for b in self.graph.buses}
        buses = self.versions.session.buses
        return [
            (b.device_channels, LatencyTrim(latency[b.name]), b.name)
            for b in buses
            if b.device_channels and max(b.device_channels) <= self.ring.channels  # an implicit cue bus may not fit
        ]
