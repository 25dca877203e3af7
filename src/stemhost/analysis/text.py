"""What ``stemhost analyze`` prints: key, tempo, stem levels and the lead vocal's range, as lines of text."""

from __future__ import annotations

import math

from stemhost.analysis import SessionAnalysis
from stemhost.session.notes import note_name, transpose_key

BAR_WIDTH = 40


def analysis_lines(analysis: SessionAnalysis, key_shift: float = 0.0, tempo: float = 1.0) -> list[str]:
    """Key, tempo, a table of stem levels and the lead vocal's range with a histogram of its notes.

    The figures are the recordings'; when the session moves the key or the tempo, the key and tempo
    it plays at are given as well.
    """
    lines = []
    key = analysis.key
    spelled = (key.tonic, key.mode) if key else None  # notes in the key's own accidentals
    if key is None:
        lines.append("key: none found (no pitched stem, or silence)")
    else:
        lines.append(
            f"key: {key.name} (confidence {key.confidence:.2f}; runner-up {key.runner_up} "
            f"{key.runner_up_confidence:.2f}) from {', '.join(analysis.key_stems)}"
            + (
                f"; tonic and mode weighed by the bass ({', '.join(analysis.key_bass_stems)})"
                if analysis.key_bass_stems
                else ""
            )
        )
        if key_shift:
            lines.append(
                f"     {transpose_key(key.tonic, key.mode, key_shift)} in this session (key_shift {key_shift:+g})"
            )
    bpm = "none found" if analysis.tempo_bpm is None else f"{analysis.tempo_bpm:.1f} BPM"
    if analysis.tempo_alternative_bpm is not None:
        bpm += f" (or {analysis.tempo_alternative_bpm:.1f})"
    lines.append(f"tempo: {bpm} from {', '.join(analysis.tempo_stems)}")
    if tempo != 1.0 and analysis.tempo_bpm is not None:
        lines.append(f"       {analysis.tempo_bpm * tempo:.1f} BPM in this session (tempo {tempo:g})")
    lines.append(grid_line(analysis))
    lines.append("")
    lines.append(f"{'stem':<20} {'role':<15} {'peak dBFS':>10} {'LUFS':>8} {'active s':>9}")
    for stem in analysis.stems:
        lines.append(
            f"{stem.name:<20} {stem.role:<15} {_db(stem.peak_dbfs):>10} {_db(stem.loudness_lufs):>8} {stem.active_s:>9.1f}"
        )
    lines.append("")
    vocal = analysis.lead_vocal
    if not analysis.lead_vocal_stems:
        lines.append("lead vocal: no stem has the role lead_vocal")
    elif vocal is None:
        lines.append("lead vocal: no sung note found")
    else:
        lines.append(
            f"lead vocal: {note_name(vocal.low_midi, spelled)} to {note_name(vocal.high_midi, spelled)}, tessitura "
            f"{note_name(vocal.tessitura_low_midi, spelled)} to {note_name(vocal.tessitura_high_midi, spelled)} "
            f"({vocal.sung_s:.1f} s sung)"
        )
        longest = max(vocal.histogram.values())
        for midi, seconds in sorted(vocal.histogram.items(), reverse=True):
            bar = "#" * max(1, round(BAR_WIDTH * seconds / longest))
            lines.append(f"  {note_name(midi, spelled):>4} {seconds:6.1f} s {bar}")
    return lines


def grid_line(analysis: SessionAnalysis) -> str:
    """``grid: 6/8 at 74.60 BPM (dotted quarters), bar 1 at 1.737 s (confidence: downbeat 0.31, metre 1.00)``."""
    if analysis.time_signature is None or analysis.beat_bpm is None or analysis.first_downbeat_s is None:
        return "grid: none found (no steady beat)"
    unit = " (dotted quarters)" if analysis.time_signature.endswith("/8") else ""
    return (
        f"grid: {analysis.time_signature} at {analysis.beat_bpm:.2f} BPM{unit}, bar 1 at "
        f"{analysis.first_downbeat_s:.3f} s (confidence: downbeat {analysis.downbeat_confidence or 0:.2f}, "
        f"metre {analysis.metre_confidence or 0:.2f})"
    )


def _db(value: float) -> str:
    return "-inf" if math.isinf(value) else f"{value:.1f}"
