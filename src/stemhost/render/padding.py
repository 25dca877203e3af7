"""Stems shorter than the song: the graph pads them with silence, and a render says so with the figures."""

from __future__ import annotations

from stemhost.engine.graph import MixGraph
from stemhost.units import format_time

PAD_TOLERANCE_S = 0.001  # resampling may round a stem's length by a frame; a shortfall under 1 ms is none


def padding_note(graph: MixGraph) -> str | None:
    """One line naming every audible stem that ended before the song, how long it is and how much was padded.

    Call it once the graph's sources are done (after a render); None when no audible stem was padded.
    A stem whose file held fewer frames than its header promised (cut short) says so too.
    """
    rate, song = graph.sample_rate, graph.content_frames
    stems = []
    for node in graph.stems:
        source = node.source
        short_s = (song - source.frames_out) / rate
        if not node.audible or short_s < PAD_TOLERANCE_S:
            continue
        text = f"{node.name} {format_time(source.frames_out / rate)} ({_seconds(short_s)} short"
        if source.missing_frames:
            text += f"; its file ends {source.missing_frames:,} frames before its header says"
        stems.append(text + ")")
    if not stems:
        return None
    return f"stems shorter than the song ({format_time(song / rate)}) are padded with silence: {', '.join(stems)}"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 0.1 else f"{seconds * 1000:.0f} ms"
