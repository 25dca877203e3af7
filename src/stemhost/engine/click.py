"""The click and count-in: ticks synthesized on the fly, sample-exact on the session's beat grid, to the cue bus.
With ``click.spoken`` the count-in says its beats' numbers instead (:mod:`~stemhost.engine.spoken`), each word's
onset on its beat.

The beats come from :mod:`stemhost.session.grid`. At tempo t a beat at recording time T sounds at output
frame ``zero + round(T / t × rate)``, where ``zero`` is the output frame at which the recording's frame 0 is
heard (the count-in's lead-in, see :func:`~stemhost.session.grid.lead_in_frames`); stretched stems put the
same beat at the same frame, so the click lands on them.

The click plays to ``click.bus`` (default ``cue``). When the session has no bus of that name one is made
(:func:`with_click_bus`): an *implicit* cue bus with ``device_channels`` [3, 4]. Like every bus with device
channels it feeds no mix: offline it is only in ``--stems-out`` (``bus-cue.wav``, frame-aligned with the
main file); live it plays on channels 3–4 of a device with 4 outputs or more, and is not heard on a stereo
device (the player says so once). A session that defines its own cue bus routed to the master, or names
``master`` as the click's bus, has asked for the click in the main mix.
"""

from __future__ import annotations

import logging

import numpy as np

from stemhost.engine.spoken import need_flite, spoken_count
from stemhost.errors import SessionError
from stemhost.session.grid import DEFAULT_TIME_SIGNATURE, beat_s, beat_times, beats_per_bar, count_in_beats
from stemhost.session.model import MASTER, Bus, Session
from stemhost.units import db_to_gain

TICK_S = 0.025  # a tick's length
DECAY_S = 0.0035  # its envelope's time constant: −62 dB by the end
FADE_S = 0.002  # a linear fade over its last frames, so it ends on exact zeros
BEAT_HZ = 1000.0
ACCENT_HZ = 2000.0
IMPLICIT_CHANNELS = (3, 4)  # where an implicit cue bus plays live
log = logging.getLogger("stemhost")


def tick(sample_rate: int, freq_hz: float, peak: float) -> np.ndarray:
    """One tick, ``(n,)`` float32: a cosine from its peak at frame 0 with a fast exponential decay (deterministic)."""
    n = round(TICK_S * sample_rate)
    t = np.arange(n) / sample_rate
    shape = np.cos(2 * np.pi * freq_hz * t) * np.exp(-t / DECAY_S)
    fade = round(FADE_S * sample_rate)
    shape[n - fade :] *= np.linspace(1.0, 0.0, fade + 1)[1:]
    return (peak * shape).astype(np.float32)


def check_click(session: Session, label: str) -> None:
    """A click or count-in needs the grid's tempo (``bpm``); a spoken count-in needs flite."""
    click = session.click
    if click is not None and session.bpm is None:
        raise SessionError(
            f"{label}: click: a click and count-in need the song's tempo; set 'bpm' (and 'time_signature', "
            "'first_downbeat_s'), e.g. with `stemhost analyze --apply`, or remove 'click'"
        )
    if click is not None and click.spoken and click.count_in_bars:
        need_flite(label)


def has_click(session: Session) -> bool:
    """Whether the session clicks at all (along the song, or only a count-in)."""
    click = session.click
    return click is not None and (click.enabled or click.count_in_bars > 0)


def implicit_bus(session: Session) -> bool:
    """Whether the click's bus is one the session does not define (made by :func:`with_click_bus`)."""
    click = session.click
    return has_click(session) and click.bus != MASTER and all(b.name != click.bus for b in session.buses)


def with_click_bus(session: Session, label: str = "session") -> Session:
    """The session with its click checked and, when it has no bus of the click's name, an implicit cue bus added
    (device channels 3–4, feeding no mix). Idempotent."""
    check_click(session, label)
    if not implicit_bus(session):
        return session
    bus = Bus(name=session.click.bus, device_channels=IMPLICIT_CHANNELS)
    return session.model_copy(update={"buses": (*session.buses, bus)})


def for_device(session: Session, channels: int, label: str = "session") -> Session:
    """Live: :func:`with_click_bus`, noting once when an implicit cue bus does not fit the device's channels."""
    if implicit_bus(session) and channels < max(IMPLICIT_CHANNELS):
        log.info(f"the click's bus {session.click.bus!r} plays on channels 3-4; this device has {channels}: not heard")
    return with_click_bus(session, label)


class ClickSource:
    """The click, generated block by block in output frames (count-in included); written by the render thread only.

    Args:
        session: the session (its click, grid and tempo).
        sample_rate: Hz.
        until_s: the song's length in seconds of the recording; beats stop there.
        zero: the output frame where the recording's frame 0 is heard (the lead-in).
    """

    def __init__(self, session: Session, sample_rate: int, until_s: float, zero: int) -> None:
        click = session.click
        self.rate = sample_rate
        self.tempo = session.tempo
        self.zero = zero
        self.position = 0  # the next output frame read
        self.delay = 0  # frames the click is late to line up with the bus's other inputs (set by the graph)
        level = db_to_gain(click.level_db)
        self.ticks = (
            tick(sample_rate, BEAT_HZ, level),
            tick(sample_rate, ACCENT_HZ, level * db_to_gain(click.accent_db)),
        )
        count = count_in_beats(session)
        song = beat_times(session, until_s) if click.enabled else []
        half = beat_s(session) / 2  # a count-in over the intro shares the song's beats: tick them once
        if count:
            song = [(t, a) for t, a in song if not count[0][0] - half < t < count[-1][0] + half]
        self._song_t = np.array([t for t, _ in song], dtype=np.float64)
        self._song_accent = np.array([a for _, a in song], dtype=bool)
        # the count-in's frames are fixed when playback starts; a tempo change later moves only the song's beats
        self._count_on = np.array([zero + round(t / self.tempo * sample_rate) for t, _ in count], dtype=np.int64)
        self._count_accent = np.array([a for _, a in count], dtype=bool)
        self._count_sounds = [self.ticks[int(a)] for _, a in count]
        self._count_at = self._count_on  # where each count-in sound starts: a word a little before its beat
        if click.spoken and count:
            per_bar = beats_per_bar(session.time_signature or DEFAULT_TIME_SIGNATURE)
            words = spoken_count(per_bar, sample_rate, beat_s(session) / self.tempo, level)
            self._count_sounds = [words[k % per_bar][0] for k in range(len(count))]
            self._count_at = self._count_on - np.array([words[k % per_bar][1] for k in range(len(count))], np.int64)
        self._count_longest = max((len(sound) for sound in self._count_sounds), default=0)
        self._song_on = self._song_onsets()

    def _song_onsets(self) -> np.ndarray:
        return self.zero + np.round(self._song_t / self.tempo * self.rate).astype(np.int64)

    def onsets(self) -> list[tuple[int, bool]]:
        """Every tick's first frame in output frames (before the bus's delay), with whether it is accented."""
        frames = np.concatenate([self._count_on, self._song_on])
        accents = np.concatenate([self._count_accent, self._song_accent])
        order = np.argsort(frames, kind="stable")
        return [(int(frames[k]), bool(accents[k])) for k in order]

    def read(self, n: int) -> np.ndarray | None:
        """The next n frames as ``(2, n)`` float32, or None when no tick or word sounds in them."""
        start = self.position - self.delay
        self.position += n
        out = None
        for starts, sound_of, length in (
            (self._count_at, self._count_sounds.__getitem__, self._count_longest),
            (self._song_on, lambda k: self.ticks[int(self._song_accent[k])], len(self.ticks[0])),
        ):
            lo = np.searchsorted(starts, start - length, side="right")
            hi = np.searchsorted(starts, start + n, side="left")
            for k in range(lo, hi):
                onset, sound = int(starts[k]), sound_of(k)
                a, b = max(onset, start), min(onset + len(sound), start + n)
                if a >= b:
                    continue
                if out is None:
                    out = np.zeros((2, n), np.float32)
                out[:, a - start : b - start] += sound[a - onset : b - onset]
        return out

    def seek(self, frame: int, tempo: float) -> None:
        """The stems jumped to ``frame`` (of the version playing, at ``tempo``): the count-in is over."""
        if tempo != self.tempo:
            self.tempo = tempo
            self._song_on = self._song_onsets()
        self.position = self.zero + frame + self.delay

    def retime(self, tempo: float, now_s: float) -> None:
        """The stems crossed over to ``tempo`` at ``now_s`` of the recording, heard from the next frame read."""
        here = self.position - self.delay
        if here >= self.zero:  # during the count-in the song still starts at zero
            self.zero = here - round(now_s * self.rate / tempo)
        self.tempo = tempo
        self._song_on = self._song_onsets()
