"""Stalls: the render thread falling behind, told apart as the machine's or the program's, and ridden out.

Before each block it writes, the render thread asks :class:`StallWatch` whether the ring ran low
since its last write (below one render block, or a callback left short). If it did and the blocks
rendered since took longer than they last (the render lost ground), they are judged by their CPU
time (:class:`RenderClocks`: the render thread's and each DSP worker's, read from the kernel's
per-thread clocks) against their duration:

- within it, the render had its work done in time but was not running for the rest (the machine
  did not schedule it, or something stopped it): **the machine's stall**, as long as that rest;
- over it (one thread busier than real time, or all of them busier than the cores allow): the
  program needed more CPU than playing allows, **the program's fault**.

Either way the ring's target grows by what it was missing plus one render block, up to
:data:`~stemhost.limits.MAX_RENDER_AHEAD_S`, so the same stall again leaves a block to spare.
Mixer changes are applied as blocks are rendered, so they are heard that much later. Underruns
while the ring refills (the render keeping pace again) go to the stall that emptied it; those
with no stall judged before them (a resume into an empty ring) are the program's.

A render thread waiting for the GIL held by another thread of the process counts as not running;
no C extension stemhost uses holds it for long (pedalboard releases it, Rubber Band runs as a
separate command).

:class:`StallMonitor` measures the whole process apart: a thread that sleeps 5 ms at a time and
records how late it wakes: the process not scheduled, or (shorter) its Python threads waiting for the GIL.
"""

from __future__ import annotations

import math
import os
import threading
import time

from stemhost.live.ring import FrameRing

MONITOR_INTERVAL_S = 0.005  # the stall monitor sleeps this long between looks at the clock
PROCESS_STALL_S = 0.010  # a wake this late (a render block's duration at 48 kHz) counts as the process's stall


class Underruns:
    """Callbacks the ring left short while playing, and the frames they missed. Written by the callback only."""

    def __init__(self) -> None:
        self.count = 0
        self.frames = 0


class RenderClocks:
    """CPU time used by the render thread and the graph's DSP workers, per thread; read by the render thread.

    Args:
        workers: the DSP threads' ids (``threading.get_ident``), appended by the graph as each starts.
    """

    def __init__(self, workers: list[int]) -> None:
        self._workers = workers
        self._last: dict[int, int] = {}
        self.cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

    def used(self) -> list[int]:
        """Nanoseconds of CPU each thread used since the last call (the caller's thread first)."""
        used = []
        for ident in [threading.get_ident(), *self._workers]:
            try:
                now = time.clock_gettime_ns(time.pthread_getcpuclockid(ident))
            except OSError:  # a worker that has ended
                continue
            used.append(now - self._last.get(ident, now))
            self._last[ident] = now
        return used


class StallWatch:
    """Tells, before each block written, whether the render thread fell behind and why; grows the ring's target.

    Owned by the render thread (every attribute); others only read the counts.

    Args:
        ring: the render-ahead ring (its target is raised here).
        underruns: the callback's counts.
        clocks: the render's CPU clocks.
        block: frames per render block.
        sample_rate: Hz.
    """

    def __init__(
        self, ring: FrameRing, underruns: Underruns, clocks: RenderClocks, block: int, sample_rate: int
    ) -> None:
        self.ring = ring
        self.underruns = underruns
        self.clocks = clocks
        self.block = block
        self.block_ns = block / sample_rate * 1e9
        self.start_target = ring.target
        self.machine_stalls = 0  # times the render fell behind while not running
        self.program_stalls = 0  # times it fell behind while using more CPU than real time allows
        self.machine_underruns = 0  # callbacks left short in a machine's stall
        self.longest_stall_s = 0.0  # the longest the render thread was kept from running in one
        self.worst_load = 0.0  # in the program's stalls: the busiest thread's CPU per block, as a fraction of a block
        self._seen = (0, 0)  # the callback's counts at the last write
        self._blocks = 0  # blocks rendered since the last write
        self._steady = False  # the last write was while playing (a resume or start refills an empty ring)
        self._machine = False  # whose was the last stall judged
        self._began = time.perf_counter_ns()

    def rendered(self) -> None:
        """A block came out of the graph (written, or dropped by a jump)."""
        self._blocks += 1

    def unsteady(self) -> None:
        """Nothing is heard now (paused, ended): the ring drains by design, no stall to judge."""
        self._steady = False

    def restart(self) -> None:
        """A block was written and the ring waited on: the next window of work begins."""
        self._blocks = 0
        self._began = time.perf_counter_ns()
        self.clocks.used()
        self._steady = True

    def check(self) -> None:
        """Before a block is written: judge the window since the last one if the ring ran low, and grow it."""
        wall = time.perf_counter_ns() - self._began
        used = self.clocks.used()
        count, frames = self.underruns.count, self.underruns.frames
        short, missing = count - self._seen[0], frames - self._seen[1]
        self._seen = (count, frames)
        lowest = self.ring.fill - missing  # below zero: frames the callbacks missed
        if not self._steady or (lowest >= self.block and not short):
            return
        budget = max(1, self._blocks) * self.block_ns
        if wall <= budget:  # kept pace: the ring is refilling after a stall already judged
            self.machine_underruns += short if self._machine else 0
            return
        busiest = max(used, default=0)
        self._machine = busiest <= budget and sum(used) <= self.clocks.cores * budget
        if self._machine:
            self.machine_stalls += 1
            self.machine_underruns += short
            self.longest_stall_s = max(self.longest_stall_s, (wall - busiest) / 1e9)
        else:
            self.program_stalls += 1
            self.worst_load = max(self.worst_load, busiest / budget)
        grown = math.ceil((self.ring.target + self.block - lowest) / self.block) * self.block
        self.ring.target = min(self.ring.capacity, grown)


class StallMonitor:
    """A thread that sleeps :data:`MONITOR_INTERVAL_S` at a time and records how late it wakes.

    Written by its own thread only: :attr:`stalls` (wakes at least :data:`PROCESS_STALL_S` late) and
    :attr:`longest_s`.
    """

    def __init__(self) -> None:
        self.stalls = 0
        self.longest_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stemhost-stalls", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        due = time.monotonic() + MONITOR_INTERVAL_S
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            late = time.monotonic() - due
            if late >= PROCESS_STALL_S:
                self.stalls += 1
                self.longest_s = max(self.longest_s, late)
            due = time.monotonic() + MONITOR_INTERVAL_S
