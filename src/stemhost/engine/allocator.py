"""The C allocator's settings for streaming: freed block buffers are kept for the next block, not handed back.

Every block allocates buffers of a block's size (pedalboard's input and output copies, numpy's sums), 512 KiB
at the default 65536 frames. glibc's malloc serves those from the heap once its mmap threshold has risen past
them, but trims the heap's top whenever more than twice that is free: after each block the memory goes back to
the kernel, and the next block page-faults it in again, zeroed. A fixed mmap threshold (32 MiB, glibc's highest)
and a trim threshold above a render's working set stop that. Measured on the benchmark's dense 5-minute session
(two paired runs on a shared machine): 62,000-66,000 page faults down to 11,000, 0.8-1.0 s of its 10 CPU-seconds
gone (a third of it system time, the rest in pedalboard). The trim threshold alone is worse than nothing: it
turns the dynamic mmap threshold off (2.3 million faults). Peak memory grows by a few MiB (what fragmentation
keeps); larger buffers (whole stems) are still mapped and unmapped on their own.
"""

from __future__ import annotations

import ctypes
import functools
import os

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20  # bytes: glibc refuses more (half its 64 MiB heap size)
TRIM_THRESHOLD = 128 << 20  # bytes of free memory at the heap's top before it is handed back


@functools.cache
def keep_freed_blocks() -> bool:
    """Set glibc's thresholds once per process; True when they were set (False elsewhere: musl, macOS, Windows)."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
        libc = ctypes.CDLL(None)  # the C library the interpreter runs on
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (ValueError, OSError, AttributeError):  # no confstr name (macOS, musl), no mallopt
        return False
