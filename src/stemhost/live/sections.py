"""Song sections live: jump to one on the next downbeat, loop one until released.

A jump waits for the next downbeat of the grid (:func:`stemhost.session.grid.beat_times`) and then
happens on that very frame: the block that holds the downbeat is written up to it (its last 5 ms
faded out) and the next frame written is the section's start (faded in over 5 ms). At tempo ``t``
the downbeat at ``T`` s of the recording is the frame ``round(T / t * rate)`` of the version playing.
The downbeat is the first one not yet rendered: a jump asked for in the last few tens of
milliseconds before a downbeat (the render-ahead, more after stalls) lands on the one after.
Without a grid, or while paused, a jump happens at once, as a seek does.

A section loops from its start to the next section's start (or the song's end), frame for frame;
releasing it lets the song play on.

Threads: :class:`Sections` is the UI thread's face (it posts :class:`Cue` objects to the render
thread and keeps what it asked for); :meth:`Cue.due` runs on the render thread, between blocks.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from stemhost.errors import SessionError, StemhostError

__all__ = ["Cue", "Sections", "UnknownSection", "downbeats_of"]


class UnknownSection(StemhostError, LookupError):
    """No section by that name (the web answers 404)."""


def downbeats_of(session, until_s: float) -> tuple[float, ...]:
    """The grid's downbeats up to until_s, in seconds of the recording (none without a bpm)."""
    if session.bpm is None:
        return ()
    from stemhost.session.grid import beat_times

    return tuple(t for t, downbeat in beat_times(session, until_s) if downbeat)


@dataclass
class Cue:
    """A jump the render thread makes on a frame: to ``target_s``, at ``at_s`` (seconds of the recording).

    ``at_s`` None: at the next downbeat (or at once without a grid). ``loop`` (start_s, end_s): after each
    jump, jump again at ``end_s`` (or at the next downbeat, when the song is past it). ``fired`` counts jumps
    made (the render thread writes it; the UI only reads it).
    """

    target_s: float
    at_s: float | None = None
    loop: tuple[float, float] | None = None
    fired: int = 0

    def due(self, head, downbeats: tuple[float, ...], writable: int) -> tuple[int, int] | None:
        """The render thread, between blocks: (the frame to jump to, the frames of the next block written before
        the jump), when the jump falls within the next block (``writable`` frames from ``head.song_frame``)."""
        if self.fired and self.loop is None:  # a one-off jump, made
            return None
        if not head.playing or head.pausing or head.ended or head.discard or head.pending_jump is not None:
            return None
        rate, tempo, now = head.sample_rate, head.tempo, head.song_frame
        now_s = now * tempo / rate
        at_s = self.at_s
        if self.loop is not None and (at_s is None or now_s > at_s):  # looping: at the section's end, or back
            start_s, end_s = self.loop
            at_s = end_s if start_s <= now_s <= end_s else None
        if at_s is None:
            k = bisect.bisect_left(downbeats, now_s)
            at_s = downbeats[k] if k < len(downbeats) else now_s  # no downbeat left: at once
            if self.loop is None:
                self.at_s = at_s  # a one-off jump keeps the downbeat it chose
        at = max(now, round(at_s / tempo * rate))
        if at > now + writable:
            return None
        self.fired += 1
        if self.loop is not None:
            self.at_s = self.loop[1]
        return round(self.target_s / tempo * rate), at - now


class Sections:
    """The song's sections for a player: the current one, jumps, a loop (UI thread).

    Args:
        player: the :class:`~stemhost.live.player.Player` (its session's sections and grid, its transport).
    """

    def __init__(self, player) -> None:
        self.player = player
        session = player.session
        self.sections = session.sections
        self.length_s = player.length_frames / player.sample_rate * session.tempo
        self.downbeats = player.render.downbeats = downbeats_of(session, self.length_s)  # before it starts
        self.looping: str | None = None  # the section looping, by name
        self._cue: Cue | None = None  # the last cue posted

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.sections]

    def current(self) -> str | None:
        """The section heard now (or the one a jump not made yet goes to); None before the first."""
        index = self._index()
        return None if index is None else self.sections[index].name

    def _index(self) -> int | None:
        cue = self._cue
        if cue is not None and cue.fired == 0 and cue.loop is None:  # a jump asked for, not made yet
            return bisect.bisect_right([s.start_s for s in self.sections], cue.target_s) - 1
        heard_s = self.player.seeks.position_s() * self.player.session.tempo
        index = bisect.bisect_right([s.start_s for s in self.sections], heard_s) - 1
        return None if index < 0 else index

    def find(self, name: str | None = None, to: str | None = None) -> int:
        """A section's index by name, or the next or previous one from the current."""
        if not self.sections:
            raise SessionError("the session has no sections; add them to its sections (or stemhost sections --import)")
        if name is not None:
            if name not in self.names:
                raise UnknownSection(f"no section named {name!r}; sections: {', '.join(self.names)}")
            return self.names.index(name)
        index = self._index()
        if to == "next":
            index = 0 if index is None else index + 1
            if index >= len(self.sections):
                raise SessionError(f"{self.sections[-1].name!r} is the last section; there is none after it")
            return index
        return 0 if index is None else max(0, index - 1)

    def span(self, index: int) -> tuple[float, float]:
        """A section's start and end, in seconds of the recording (the next section's start or the song's end)."""
        end = self.sections[index + 1].start_s if index + 1 < len(self.sections) else self.length_s
        return self.sections[index].start_s, end

    def jump(self, name: str | None = None, to: str | None = None) -> str:
        """Jump to a section (by name, or ``to`` "next" or "previous") on the next downbeat; ends a loop.

        Returns:
            the section's name.
        """
        index = self.find(name, to)
        start_s = self.sections[index].start_s
        self.looping = None
        if not self.downbeats or not self.player.playing or self.player.held:  # paused: at once
            self._post(None)
            self.player.seek(start_s / self.player.session.tempo)
        else:
            self._post(Cue(start_s))
        return self.sections[index].name

    def loop(self, name: str | None = None) -> str:
        """Loop a section (by default the current one) until released: the song jumps to it on the next downbeat
        when elsewhere, and from its end back to its start, frame for frame."""
        index = self.find(name) if name is not None else self._index()
        if index is None:
            index = self.find(to="next")
        span = self.span(index)
        self.looping = self.sections[index].name
        self._post(Cue(span[0], loop=span))
        return self.looping

    def toggle_loop(self) -> str | None:
        """Loop the current section, or release the loop; returns the section looping (None: released)."""
        if self.looping is not None:
            self.release()
            return None
        return self.loop()

    def release(self) -> None:
        """End the loop (or a jump not made yet): the song plays on."""
        self.looping = None
        self._post(None)

    def _post(self, cue: Cue | None) -> None:
        self._cue = cue
        render = self.player.render
        self.player.render.post(lambda: setattr(render, "cue", cue))
