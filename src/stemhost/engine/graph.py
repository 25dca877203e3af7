"""The compiled mix graph: stems → buses → master, processed one block at a time.

Offline rendering and live playback drive the same :meth:`MixGraph.stream`. Chains run in
pedalboard's streaming mode (``reset=False``) and keep their state from block to block. Every
node knows its latency; a bus delays each input by ``max − own`` so all paths stay aligned, and
the master's output is late by :attr:`MixGraph.latency` frames, which the caller drops.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np

from stemhost.engine.allocator import keep_freed_blocks
from stemhost.engine.buffers import SampleFifo
from stemhost.engine.chain import AlignedChain
from stemhost.engine.click import ClickSource
from stemhost.engine.silence import SilenceGate
from stemhost.engine.sources import StemSource


def ramp(start: float, end: float, n: int) -> np.ndarray:
    """Gains moving linearly from start to end over n frames (the end reached on the last frame)."""
    return np.linspace(start, end, n + 1, dtype=np.float32)[1:]


@dataclass
class StemNode:
    """One stem's strip: source → chain → fader and pan → a stereo block.

    Live changes go through :meth:`set_gains`: the next block ramps from the old gains to the new
    ones, so nothing clicks; a stem ramped to silence stops running its chain, and so does one whose
    input is digital silence once its chain has rung out (:class:`~stemhost.engine.silence.SilenceGate`).
    """

    name: str
    source: StemSource
    chain: AlignedChain
    gains: tuple[float, float]
    audible: bool
    _target: tuple[float, float] | None = None
    _gate: SilenceGate | None = None
    lead_in: int = 0  # frames of silence still to play before the source starts (the count-in)

    @property
    def latency(self) -> int:
        return self.chain.latency

    def set_gains(self, gains: tuple[float, float]) -> None:
        """Ramp to new left and right gains over the next block ((0, 0) mutes)."""
        if not self.audible:
            self.gains, self.audible = (0.0, 0.0), True
        self._target = gains

    def render(self, n: int) -> np.ndarray | None:
        """The next n frames as ``(2, n)``, or None when the stem is silent (muted or not soloed)."""
        if self.lead_in:
            block, silent = self._lead_in(n)
        else:
            block, silent = self.source.read(n), getattr(self.source, "silent", None)
        if not self.audible:  # the source still advances, so the song's length counts it
            return None
        if self._gate is None or self._gate.chain is not self.chain:
            self._gate = SilenceGate(self.chain, n)
        wet = self._gate.process(block, silent)
        start, end = self.gains, self._target or self.gains
        if wet is None:  # rung out: silence, and the gains move on as they would have
            self._settle()
            return None
        if wet.shape[0] == 2 and start == end == (1.0, 1.0):
            return wet
        out = np.empty((2, n), dtype=np.float32)
        for side in (0, 1):
            gain = start[side] if start[side] == end[side] else ramp(start[side], end[side], n)
            np.multiply(wet[-1 if side else 0], gain, out=out[side])
        self._settle()
        return out

    def _lead_in(self, n: int) -> tuple[np.ndarray, bool | None]:
        """A block of the count-in's silence, the source starting in it where the count-in ends."""
        quiet = min(n, self.lead_in)
        self.lead_in -= quiet
        block = np.zeros((self.source.channels, n), np.float32)
        if quiet == n:
            return block, True
        block[:, quiet:] = self.source.read(n - quiet)
        return block, None

    def _settle(self) -> None:
        """The ramp of this block is done: its end gains are the gains."""
        if self._target is not None:
            self.gains, self._target = self._target, None
            self.audible = self.gains != (0.0, 0.0)


class NodeId(NamedTuple):
    """A node of the graph by kind and name: a stem and a bus may share a name."""

    kind: Literal["stem", "bus", "click"]
    name: str


CLICK = NodeId("click", "click")  # the click's block in a block's outputs


@dataclass
class Edge:
    """An input of a bus: a stem's or a bus's output at a level, delayed to line up with the others."""

    source: NodeId
    level: float  # linear
    delay: SampleFifo | None = None
    target: float | None = None  # live: the level to ramp to over the next block


@dataclass
class BusNode:
    """A summing point with a chain and a fader. The master is a bus too.

    Live changes to its fader and its inputs' levels (``target_gain``, ``Edge.target``) ramp over
    the next block.
    """

    name: str
    chain: AlignedChain
    gain: float
    edges: list[Edge] = field(default_factory=list)
    input_latency: int = 0
    target_gain: float | None = None
    _gate: SilenceGate | None = None
    takes_click: bool = False  # the click is summed in (unscaled, lined up with the other inputs)

    @property
    def latency(self) -> int:
        return self.input_latency + self.chain.latency

    def render(self, n: int, outputs: dict[NodeId, np.ndarray | None]) -> np.ndarray:
        """Sum the inputs (each already rendered into outputs), run the chain and the fader."""
        mix = None  # this node's own array once something is added, the first input written into it
        for edge in self.edges:
            signal = outputs[edge.source]
            if edge.delay is not None:
                edge.delay.push(signal if signal is not None else np.zeros((2, n), np.float32))
                signal = edge.delay.pop(n)
            if signal is not None:
                if edge.target is not None:
                    gain = ramp(edge.level, edge.target, n)
                else:
                    gain = None if edge.level == 1.0 else np.float32(edge.level)
                if mix is None:
                    mix = signal.copy() if gain is None else signal * gain
                elif gain is None:
                    mix += signal
                else:
                    mix += signal * gain
            if edge.target is not None:
                edge.level, edge.target = edge.target, None
        click = outputs.get(CLICK) if self.takes_click else None
        if click is not None:
            mix = click if mix is None else np.add(mix, click, out=mix)
        fed = mix is not None  # something was added to the mix
        if mix is None:
            mix = np.zeros((2, n), dtype=np.float32)
        if self._gate is None or self._gate.chain is not self.chain:
            self._gate = SilenceGate(self.chain, n)
        out = self._gate.process(mix, None if fed else True)  # a new array, or mix itself: this node's own
        if out is None:  # rung out: silence
            out = mix
        if self.target_gain is not None:
            out *= ramp(self.gain, self.target_gain, n)
            self.gain, self.target_gain = self.target_gain, None
        elif self.gain != 1.0:
            out *= np.float32(self.gain)
        return out


@dataclass(frozen=True)
class MixBlock:
    """One block of the mix, every part as ``(2, n)``; each part is late by its own node's latency.

    Attributes:
        master: the master's output.
        stems: every stem's output after its chain, fader and pan (None when silent).
        buses: every bus's output after its chain and fader.
    """

    master: np.ndarray
    stems: dict[str, np.ndarray | None]
    buses: dict[str, np.ndarray] = field(default_factory=dict)


class MixGraph:
    """Stems, buses in dependency order, and the master; compiled, aligned and ready to stream.

    Args:
        stems: the stem nodes.
        buses: the bus nodes, each after every bus that feeds it.
        master: the master node.
        sample_rate: Hz.
        block_size: frames per block.
        workers: threads used for stems and independent buses (pedalboard releases the GIL).
        click: the click, summed into the bus that ``takes_click``; read with the stems, a block ahead.
        lead_in: output frames before the stems start (their ``lead_in``, the count-in).
    """

    def __init__(
        self,
        stems: Sequence[StemNode],
        buses: Sequence[BusNode],
        master: BusNode,
        sample_rate: int,
        block_size: int,
        workers: int | None = None,
        click: ClickSource | None = None,
        lead_in: int = 0,
    ) -> None:
        self.stems = list(stems)
        self.click = click
        self.lead_in = lead_in
        self.buses = list(buses)
        self.master = master
        self.sample_rate = sample_rate
        self.block_size = block_size
        keep_freed_blocks()  # every block's buffers reuse the last one's memory (see engine.allocator)
        self._levels = _bus_levels(self.buses)
        _compensate(self.stems, self.buses + [master])
        self.latency = master.latency
        if click is not None:  # as late as the bus's other inputs
            click.delay = next(b.input_latency for b in [*self.buses, master] if b.takes_click)
        threads = workers if workers is not None else (os.cpu_count() or 1)
        self._threads = threads
        self.worker_ids: list[int] = []  # the DSP threads' ids, as each starts (live playback reads their CPU time)
        self._pool = ThreadPoolExecutor(
            threads,
            thread_name_prefix="stemhost-dsp",
            initializer=lambda: self.worker_ids.append(threading.get_ident()),
        )

    @property
    def sources_done(self) -> bool:
        """True once every stem has delivered its last real frame."""
        return all(s.source.done for s in self.stems)

    @property
    def content_frames(self) -> int:
        """Frames of real audio in the longest stem delivered so far (its length once done)."""
        return max(s.source.frames_out for s in self.stems)

    def moved(self, frame: int, tempo: float) -> None:
        """Live: every stem's source was moved to ``frame`` (at ``tempo``): the count-in is over, the click follows."""
        for stem in self.stems:
            stem.lead_in = 0
        if self.click is not None:
            self.click.seek(frame, tempo)

    def retimed(self, tempo: float, now_s: float) -> None:
        """Live: the stems cross over to ``tempo`` at ``now_s`` of the recording; the click follows."""
        if self.click is not None:
            self.click.retime(tempo, now_s)

    def stream(self, control: Callable[[], None] | None = None) -> Iterator[MixBlock]:
        """The mix, block after block, pipelined for throughput (offline rendering and live playback both use it).

        Once a block's stems are done, its first level of buses goes to the workers and, behind
        it, the next block's stems; those run while the caller's thread renders this block's master
        and consumes it. The stems (and :attr:`sources_done`) are thus a block ahead of the output.

        Args:
            control: called whenever no stem is rendering, just before the next block's stems start:
                the one safe moment to change stems and their sources (live playback's changes).
                What it changes is heard from the block after the next one yielded.
        """
        n = self.block_size
        if control is not None:
            control()
        pending, click = self._render_stems(n), self._click(n)
        while True:
            rendered = [None] * len(self.stems)
            for job in pending:
                rendered = job.result()  # every job returns the same list, filled once all are done
            stems = {stem.name: out for stem, out in zip(self.stems, rendered, strict=True)}
            outputs: dict[NodeId, np.ndarray | None] = {NodeId("stem", name): out for name, out in stems.items()}
            outputs[CLICK] = click
            first = (
                [(bus, self._pool.submit(bus.render, n, outputs)) for bus in self._levels[0]] if self._levels else []
            )
            if control is not None:
                control()
            pending, click = self._render_stems(n), self._click(n)
            for bus, job in first:
                outputs[NodeId("bus", bus.name)] = job.result()
            self._render_buses(outputs, self._levels[1:])
            buses = {bus.name: outputs[NodeId("bus", bus.name)] for bus in self.buses}
            yield MixBlock(self.master.render(n, outputs), stems, buses)

    def _render_stems(self, n: int) -> list[Future[list[np.ndarray | None]]]:
        """Start rendering every stem's next n frames: as many jobs as workers, each taking the next stem not yet
        taken until none is left; each job returns the list of outputs (in the stems' order), full once all are done.

        One job per stem would cost a future, a queue hand-over and a thread wake-up per stem and block: with
        64 stems at 512 frames that overhead, not the DSP, was most of the render thread's time. Stems that
        cost nothing (asleep, muted) are now a few microseconds each, and the sounding ones still spread over
        the workers as they free up. Each stem renders its own blocks in order, as before: the output is the same.
        """
        out: list[np.ndarray | None] = [None] * len(self.stems)
        taken = itertools.count()  # next() on it is atomic under the GIL: each stem is taken by one job

        def job() -> list[np.ndarray | None]:
            for k in taken:
                if k >= len(out):
                    break
                out[k] = self.stems[k].render(n)
            return out

        return [self._pool.submit(job) for _ in range(min(self._threads, len(self.stems)))]

    def _click(self, n: int) -> np.ndarray | None:
        return self.click.read(n) if self.click is not None else None

    def _render_buses(self, outputs: dict[NodeId, np.ndarray | None], levels: list[list[BusNode]]) -> None:
        """Render the buses of these levels from what they sum, level by level, into outputs."""
        for level in levels:
            results = self._pool.map(lambda b: b.render(self.block_size, outputs), level)
            for bus, out in zip(level, results, strict=True):
                outputs[NodeId("bus", bus.name)] = out

    def close(self) -> None:
        """Stop the worker threads and close the stem files."""
        self._pool.shutdown()
        for stem in self.stems:
            stem.source.close()


def _bus_levels(buses: list[BusNode]) -> list[list[BusNode]]:
    """Group buses (given in dependency order) into levels that can run at the same time."""
    depth: dict[str, int] = {}
    for bus in buses:
        feeders = [depth[e.source.name] for e in bus.edges if e.source.kind == "bus"]
        depth[bus.name] = 1 + max(feeders, default=-1)
    levels: list[list[BusNode]] = [[] for _ in range(1 + max(depth.values(), default=-1))]
    for bus in buses:
        levels[depth[bus.name]].append(bus)
    return levels


def _compensate(stems: list[StemNode], buses: list[BusNode]) -> None:
    """Give every bus input the delay that lines it up with the latest one (Tracktion's max − own)."""
    latency: dict[NodeId, int] = {NodeId("stem", s.name): s.latency for s in stems}
    for bus in buses:  # dependency order: every feeding bus has its latency already
        bus.input_latency = max((latency[e.source] for e in bus.edges), default=0)
        for edge in bus.edges:
            lag = bus.input_latency - latency[edge.source]
            edge.delay = SampleFifo(2, prefill=lag) if lag else None
        latency[NodeId("bus", bus.name)] = bus.latency
