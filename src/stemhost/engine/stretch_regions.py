"""Stretch only what sounds: a stem is cut at its long silences and only the sounding regions are rendered.

Rubber Band spends nearly as much on a second of digital silence as on a second of music (measured:
145 CPU-seconds for six 4-minute stems sounding half the time, 172 sounding throughout), and real stems
are often mostly silence (a guitar that enters in the second chorus, backing vocals). So before a key
or tempo change a stem is split into its sounding regions; each keeps ``PAD_S`` of its surrounding
silence on both sides (Rubber Band's smear before an onset and after a release, measured: at most
113 ms, at 22.05 kHz and −12 semitones; 25–60 ms at 48 kHz), and the regions are joined into one
shorter buffer with those pads between them, rendered in one go, and cut apart again. Each region
is placed where its source frame lands on the stretched timeline, and everything between the
regions is exact silence, as its source is. Silences shorter than ``MIN_GAP_S`` stay in their
region. An all-silent stem is never rendered at all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numpy as np

REGIONS_VERSION = 1  # part of the cache key: a change here that changes what is rendered bumps it
SILENT = 1e-6  # −120 dBFS: a frame whose every channel is at most this is silence
PAD_S = 0.3  # of the stretched timeline: silence kept on each side of a region
MIN_GAP_S = 1.0  # of the stretched timeline: shorter silences are rendered with their region
MIN_GROUP_S = 20.0  # of the source: regions rendered on their own thread come in runs at least this long
BLOCK = 256  # frames; regions are found in blocks of this many (a region may start up to a block early)
SCAN_FRAMES = 1 << 20  # frames looked at per step while finding regions (bounds the scratch memory)


def sounding_regions(audio: np.ndarray, sample_rate: int, tempo: float) -> list[tuple[int, int]]:
    """The ``(start, end)`` frames of ``(channels, frames)`` audio to render, pads included, in order.

    Regions are whole blocks with sound, merged across silences shorter than ``MIN_GAP_S`` (of the
    stretched timeline), then widened by ``PAD_S`` on each side; they never overlap.
    """
    frames = audio.shape[1]
    loud = _loud_blocks(audio)
    if not loud.any():
        return []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], loud.astype(np.int8), [0]])))
    runs = [(int(a) * BLOCK, min(int(b) * BLOCK, frames)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
    min_gap = math.ceil(MIN_GAP_S * tempo * sample_rate)
    merged = [runs[0]]
    for start, end in runs[1:]:
        if start - merged[-1][1] < min_gap:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    pad = math.ceil(PAD_S * tempo * sample_rate)
    return [(max(0, start - pad), min(frames, end + pad)) for start, end in merged]


def _loud_blocks(audio: np.ndarray) -> np.ndarray:
    """Whether each ``BLOCK`` of frames has a sample above ``SILENT``, looked at ``SCAN_FRAMES`` at a time."""
    frames = audio.shape[1]
    loud = np.zeros(math.ceil(frames / BLOCK), dtype=bool)
    for first in range(0, frames, SCAN_FRAMES):
        part = np.abs(audio[:, first : first + SCAN_FRAMES]).max(axis=0)
        whole = len(part) // BLOCK * BLOCK
        blocks = part[:whole].reshape(-1, BLOCK).max(axis=1)
        if whole < len(part):
            blocks = np.append(blocks, part[whole:].max())
        loud[first // BLOCK : first // BLOCK + len(blocks)] = blocks > SILENT
    return loud


def stretch_sounding(
    audio: np.ndarray, sample_rate: int, tempo: float, render: Callable[[np.ndarray], np.ndarray], groups: int = 1
) -> np.ndarray:
    """``render`` (a whole-buffer shift and stretch) applied to the sounding regions only, placed back.

    The result lasts ``round(frames / tempo)`` frames and is silent outside the regions. Regions are
    joined with the silence between them shortened by a multiple of the tempo's numerator (as a
    fraction, denominator at most 1000), so that each lands on a whole frame of the stretched
    timeline exactly where it would in the whole stem. With ``groups`` above 1, runs of regions of
    at least ``MIN_GROUP_S`` each are rendered at once on that many threads (so that the last stem
    of a key change keeps every core busy).
    """
    channels, frames = audio.shape
    total = round(frames / tempo)
    out = np.zeros((channels, total), dtype=np.float32)
    parts = [_aligned(part, tempo) for part in _split(sounding_regions(audio, sample_rate, tempo), groups, sample_rate)]

    def render_part(regions: list[tuple[int, int]]) -> np.ndarray:
        return render(np.concatenate([audio[:, start:end] for start, end in regions], axis=1))

    with ThreadPoolExecutor(max(1, len(parts)), thread_name_prefix="stemhost-regions") as pool:
        for regions, rendered in zip(parts, pool.map(render_part, parts), strict=True):
            at = 0  # where the region starts in the joined buffer
            for start, end in regions:
                length = min(round(end / tempo), total) - round(start / tempo)
                take = rendered[:, round(at / tempo) : round(at / tempo) + length]
                out[:, round(start / tempo) : round(start / tempo) + take.shape[1]] = take
                at += end - start
    return out


def _split(regions: list[tuple[int, int]], groups: int, sample_rate: int) -> list[list[tuple[int, int]]]:
    """The regions in at most ``groups`` runs of about equal length (``MIN_GROUP_S`` at least, about)."""
    total = sum(end - start for start, end in regions)
    size = max(total / max(1, groups), MIN_GROUP_S * sample_rate)
    parts: list[list[tuple[int, int]]] = []
    filled = 0
    for start, end in regions:
        if not parts or (filled + (end - start) / 2 > size and len(parts) < groups):  # nearer the size without it
            parts.append([])
            filled = 0
        parts[-1].append((start, end))
        filled += end - start
    return parts


def _aligned(regions: list[tuple[int, int]], tempo: float) -> list[tuple[int, int]]:
    """The regions with each one's start moved earlier (into its silence) so that the silence cut
    before it is a multiple of the tempo's numerator: then ``start / tempo`` and its place in the
    joined buffer ``/ tempo`` differ by a whole number of frames."""
    step = Fraction(tempo).limit_denominator(1000).numerator
    aligned, cut = [], 0
    for start, end in regions:
        previous_end = aligned[-1][1] if aligned else 0
        gap = start - previous_end
        move = (cut + gap) % step
        start -= move if move <= gap else gap  # too little room only before a first region: it then starts at 0
        cut += start - previous_end
        aligned.append((start, end))
    return aligned
