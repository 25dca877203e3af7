"""The state the web mixer's clients show, built from the song open (see the contract's "State")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from stemhost.errors import StemhostError

METER_FLOOR_DB = -120.0


@dataclass
class Opened:
    """A song open on the stage: its library entry, player, stream, and whether play was ever pressed."""

    song: object  # the Library's Song: id, title, session_path, key()
    player: object  # live.player.Player
    stream: object  # the sounddevice stream
    held: bool = True  # silent at 0 until the first "play" (Player.release)
    want_playing: bool = False


def listing(names: Sequence[str], most: int = 12) -> str:
    """Names for an error line, cut short after ``most``."""
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "") if names else "none"


def peak_db(peak: float) -> float:
    """A linear peak in dBFS, floored at -120."""
    return round(max(METER_FLOOR_DB, 20.0 * math.log10(peak)) if peak > 0 else METER_FLOOR_DB, 1)


def is_playing(o: Opened) -> bool:
    return o.want_playing and not o.held and o.player.playing and not o.player.ended


def state_of(o: Opened | None, version: int, device: str | None, error_text: str | None) -> dict:
    """The state dict: ``version`` counts changes; ``device`` is the device's name once a song opened."""
    from stemhost.session.presets import mastering_presets, mix_presets

    state = {"version": version, "presets": list(mix_presets()), "masters": list(mastering_presets()), "device": device}
    if o is None:
        return state | {
            "song": None, "position_s": 0.0, "playing": False, "ended": False, "key_shift": 0.0,
            "key_shift_wanted": 0.0, "key_name": None, "tempo": 1.0, "tempo_wanted": 1.0, "preparing": "",
            "loop": None, "stems": [], "buses": [], "master": {"gain_db": 0.0, "mute": False},
            "latency_ms": 0.0, "render_underruns": 0, "error": error_text,
            "sections": [], "section": None, "section_loop": None,
        }  # fmt: skip
    p = o.player
    heard, wanted = p.session, p.wanted
    loop = p.loop
    strips = p.strips.values()
    master = next(s for s in strips if s.kind == "master")
    error = p.error
    return state | {
        "song": {"id": o.song.id, "title": o.song.title, "key": o.song.key(), "length_s": round(length_s(p), 3)},
        "position_s": round(p.seeks.position_s(), 3),
        "playing": is_playing(o),
        "ended": p.ended,
        "key_shift": heard.key_shift,
        "key_shift_wanted": wanted.key_shift,
        "key_name": key_heard(o.song.key(), heard.key_shift),
        "tempo": heard.tempo,
        "tempo_wanted": wanted.tempo,
        "preparing": p.preparing,
        "loop": None if loop is None else {"start_s": loop[0], "end_s": loop[1], "on": p.loop_on},
        "stems": [
            {"name": s.name, "role": s.role, "gain_db": s.gain_db, "pan": s.pan, "mute": s.mute, "solo": s.solo}
            for s in strips
            if s.kind == "stem"
        ],
        "buses": [
            {"name": s.name, "gain_db": s.gain_db, "mute": s.mute, "solo": s.solo} for s in strips if s.kind == "bus"
        ],
        "master": {"gain_db": master.gain_db, "mute": master.mute},
        "latency_ms": round(p.latency_ms, 1),
        "render_underruns": p.render_underruns,
        "error": None if error is None else str(error),
        "sections": [{"name": s.name, "start_s": s.start_s} for s in p.sections.sections],
        "section": p.sections.current(),
        "section_loop": p.sections.looping,
    }


def length_s(player) -> float:
    return player.length_frames / player.sample_rate


def key_heard(key: str | None, shift: float) -> str | None:
    if key is None:
        return None
    from stemhost.session.notes import spell_key

    try:
        return spell_key(key, shift)
    except StemhostError:
        return None
