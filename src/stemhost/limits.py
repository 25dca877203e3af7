"""What stemhost accepts, and the memory a render takes: limits checked before anything is allocated.

The figures are documented in the README; each refusal is one line naming the numbers and the fix.
"""

from __future__ import annotations

import math
import os
import resource
from pathlib import Path

from stemhost.errors import SessionError

MIN_SAMPLE_RATE = 8000  # Hz: sessions, stems and outputs (the lowest rate in common use, telephone audio)
MAX_SAMPLE_RATE = 384000  # Hz: the highest rate libsndfile and soxr are used at (DXD and beyond)
MIN_BLOCK_SIZE = 64  # frames per offline block: pedalboard guesses a (2, 2) block's layout and fails; tiny blocks crawl
MAX_BLOCK_SIZE = 1 << 20  # frames per offline block (21.8 s at 48 kHz); the default 65536 is as fast
MAX_DEVICE_BLOCK = 16384  # frames per audio callback (--blocksize; 341 ms at 48 kHz)
MAX_RENDER_AHEAD_S = 0.5  # s: the most live playback renders ahead after stalls (mixer changes are heard that late)
MAX_REQUEST_BODY = 64 * 1024  # bytes of a web request's body (a mixer change is under 100)
MAX_RENDER_JOB_FILES = 100  # files one render job of the web mixer may make (export's variants multiplied out)
MAX_STEMS = 1000  # stems in a session (1,000 stereo stems render in 1.2 GB at the default block size)
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"  # C0, DEL and C1 (NUL, escape sequences, newlines): never in names or paths
MAX_JSON_DEPTH = 64  # nested arrays and objects in a session or preset file (a session needs about 8)

BYTES_PER_FRAME = 2 * 4  # every node's block is stereo float32
BLOCKS_IN_FLIGHT = 2  # MixGraph.stream renders the next block's stems while this block's mix is consumed
STEM_STATE_BYTES = 48 << 10  # per stem besides its blocks: the open reader, its FIFO, the node (measured: ~45 KiB)
BUS_BLOCKS = 3  # per bus and per block: its sum, its chain's output, a delayed input
BASE_BYTES = 128 << 20  # the interpreter, numpy, pedalboard and the writer thread (measured: ~90 MB)
FILES_PER_STEM = 1  # an open reader each
SPARE_FILES = 64  # the output, stem files' writers aside, the cache, libraries


def render_memory(stems: int, buses: int, block_size: int) -> int:
    """Bytes a mix graph of this shape takes while rendering, chains' own state left out.

    Measured with 100 to 1,000 stems of 0.5 to 3 s (peak resident set): 1.1 MB per stem at 65536
    frames, 0.18 MB at 8192, the same for mono and stereo stems (the graph works in stereo).
    """
    block = block_size * BYTES_PER_FRAME
    per_stem = BLOCKS_IN_FLIGHT * block + STEM_STATE_BYTES
    per_bus = BLOCKS_IN_FLIGHT * BUS_BLOCKS * block
    return BASE_BYTES + stems * per_stem + (buses + 1) * per_bus


def available_memory() -> int | None:
    """Bytes this process can still take: the least of the system's available memory, the cgroup's
    room and the address-space limit (``ulimit -v``); None when none of them is known."""
    found = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            found.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text()))
    except (OSError, ValueError):
        pass
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            pages = int(Path("/proc/self/statm").read_text().split()[0])
            found.append(soft - pages * os.sysconf("SC_PAGE_SIZE"))
        except (OSError, ValueError, IndexError):
            found.append(soft)
    return max(0, min(found)) if found else None


def check_render_memory(stems: int, buses: int, block_size: int, label: str) -> None:
    """Refuse a render whose blocks alone would not fit in the memory available, before any is allocated."""
    available = available_memory()
    needed = render_memory(stems, buses, block_size)
    if available is None or needed <= available:
        return
    fits = [
        size
        for size in (1 << k for k in range(MIN_BLOCK_SIZE.bit_length() - 1, MAX_BLOCK_SIZE.bit_length()))
        if size < block_size and render_memory(stems, buses, size) <= available
    ]
    per_stem = BLOCKS_IN_FLIGHT * block_size * BYTES_PER_FRAME + STEM_STATE_BYTES
    fix = (
        f"use --block-size {fits[-1]} ({_size(render_memory(stems, buses, fits[-1]))}) or render fewer stems"
        if fits
        else "render fewer stems (submix some of them into one file first)"
    )
    raise SessionError(
        f"{label}: {stems} stems and {buses} buses at a block size of {block_size} frames need about "
        f"{_size(needed)} of memory ({_size(per_stem)} per stem); {_size(available)} is available: {fix}"
    )


def check_open_files(stems: int, label: str) -> None:
    """Make room for one open file per stem: raise the soft limit up to the hard one, or refuse."""
    needed = stems * FILES_PER_STEM + SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or needed <= soft:
        return
    if hard == resource.RLIM_INFINITY or needed <= hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
        return
    raise SessionError(
        f"{label}: {stems} stems need {needed} open files and the system allows {hard} "
        f"(`ulimit -Hn`); raise the limit or render fewer stems"
    )


def _size(count: int) -> str:
    """Bytes as a short figure: 512 KiB, 1.1 GB."""
    if count < 1 << 20:
        return f"{math.ceil(count / 1024)} KiB"
    if count < 10 << 20:
        return f"{count / 2**20:.1f} MiB"
    if count < 1 << 30:
        return f"{count / 2**20:.0f} MiB"
    return f"{count / 2**30:.1f} GiB"
