"""Key and tempo changes while playing: which version of the stems plays, which is wanted, and the switch.

A change is planned in a thread of its own (:meth:`KeyTempo.replan`) and handed back to the render
thread through its queue of changes; the render thread takes it over once it is ready
(:meth:`KeyTempo.due`, :meth:`KeyTempo.switch`). The versions themselves (chunks rendered ahead,
crossfades) are :mod:`stemhost.live.versions`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stemhost.engine.cache import StemCache
from stemhost.engine.graph import MixGraph
from stemhost.engine.sources import AudioInfo, StemSource
from stemhost.engine.stretch import cache_key, stem_settings
from stemhost.live.versions import XFADE_S, ChunkProducer, CrossfadeSource, VersionChange, cached_source
from stemhost.session.model import Session
from stemhost.session.validation import load_model

PLAN_LEAD_S = 1.0  # a key or tempo change is rendered from this far past the play position: about when it is ready
SWITCH_AHEAD_S = 1.0  # ... and taken over once this much of it is rendered ahead of the play position


@dataclass
class Version:
    """A key or tempo change, planned: per stem moved, a whole file to read or a chunk producer."""

    session: Session
    plan: dict[str, Path | ChunkProducer]
    change: VersionChange | None
    start_s: float  # where in the recording the chunks start


class KeyTempo:
    """The version of the stems playing, the one wanted, and the change between them.

    Threads: the UI thread owns :attr:`wanted` (:meth:`request`). The render thread owns everything
    else (:attr:`session`, the feed of chunks playing, the change planned, the version pending,
    :attr:`error`). A planning thread reads only its arguments and posts its result to the render
    thread.

    Args:
        session: the session as compiled (its sample rate the device's).
        originals: every stem's original file, in session order.
        graph: the compiled graph; its stems' sources are the base the player started with.
        post: queues a change for the render thread, applied between blocks.
        position_s: where the stems are read, in seconds of the recording (read from any thread).
    """

    def __init__(
        self,
        session: Session,
        originals: list[AudioInfo],
        graph: MixGraph,
        post: Callable[[Callable[[], None]], None],
        position_s: Callable[[], float],
    ) -> None:
        self.sample_rate = session.sample_rate
        self.base = self.session = self.wanted = session
        self.base_sources: dict[str, StemSource] = {stem.name: stem.source for stem in graph.stems}
        self.error: BaseException | None = None
        self._originals = originals
        self._graph = graph
        self._post = post
        self._position_s = position_s
        self._feed: VersionChange | None = None  # renders ahead for the version playing
        self._planned: VersionChange | None = None  # renders the first chunks of the version wanted
        self._pending: Version | None = None
        self._plans = 0  # plans started: a plan's result counts only if no later one was started

    @property
    def preparing(self) -> str:
        """The key or tempo being prepared, for the transport line ('' when none)."""
        wanted, now = self.wanted, self.session
        if (wanted.key_shift, wanted.tempo) == (now.key_shift, now.tempo):
            return ""
        return f"preparing key {wanted.key_shift:+g}, tempo {wanted.tempo:g}"

    def request(self, **update) -> None:
        """Want another key_shift or tempo (UI thread); the caller posts :meth:`replan`."""
        self.wanted = load_model(Session, {**self.wanted.model_dump(), **update}, "the mixer")

    # ------------------------------------------------------------------ the render thread

    def replan(self) -> None:
        """Drop the change planned, and plan the wanted version from the play position in a thread of its own."""
        if self._planned is not None:
            self._planned.cancel()
            self._planned = None
        if self._feed is not None:
            self._feed.hold.set()  # the version playing renders only what it needs until the new one is in
        self._pending = None
        self._plans += 1
        fed = set(self._feed.producers) if self._feed is not None else set()  # stems on chunks now
        args = (self.wanted, self.session, fed, self._position_s() + PLAN_LEAD_S, self._plans)
        threading.Thread(target=self._prepare, args=args, name="stemhost-plan", daemon=True).start()

    def due(self) -> Version | None:
        """The version pending, if it can take over now (then it is no longer pending)."""
        version = self._pending
        if version is None or not self._can_switch(version):
            return None
        self._pending = None
        return version

    def switch(self, version: Version, now_s: float) -> float | None:
        """Cross over to the new version of the stems it moves, at now_s in the recording.

        Returns:
            the new tempo, or None when the change failed (then :attr:`error` says why).
        """
        if version.change is not None and version.change.failed is not None:
            self.error = version.change.failed
            return None
        frame = round(now_s * self.sample_rate / version.session.tempo)
        xfade = round(XFADE_S * self.sample_rate)
        for index, node in enumerate(self._graph.stems):
            what = version.plan.get(node.name)
            if what is None:
                continue
            if isinstance(what, ChunkProducer):
                source = what.source
                source.skip(max(0, round((now_s - version.start_s) * self.sample_rate / version.session.tempo)))
            else:
                source = cached_source(what, self.sample_rate, node.name, f"stems[{index}].file", frame)
            node.source = CrossfadeSource(node.source, source, xfade)
        self.session = version.session.model_copy(update={"sample_rate": self.sample_rate})
        if self._feed is not None:
            self._feed.cancel()  # its stems are crossed over; those it does not move keep their sources
        self._feed, self._planned = version.change, None
        return self.session.tempo

    def back_to_base(self) -> float:
        """Put every stem back on the sources the player started with; returns their tempo.

        A jump while stems are rendered ahead in chunks lands on these; the wanted key and tempo are
        then prepared again from there.
        """
        for node in self._graph.stems:
            node.source = self.base_sources[node.name]
        self.session = self.base
        if self._feed is not None:
            self._feed.cancel()
            self._feed = None
        return self.base.tempo

    def close(self) -> None:
        """Stop rendering chunks (once the render thread has stopped)."""
        for change in (self._feed, self._planned, self._pending.change if self._pending else None):
            if change is not None:
                change.cancel()
        for source in self.base_sources.values():
            source.close()

    def _planned_version(self, plans: int, version: Version) -> None:
        """A plan is ready: it becomes the version pending, unless a later one was asked for."""
        if plans != self._plans or version.session is not self.wanted:
            if version.change is not None:
                version.change.cancel()
            return
        self._planned = version.change
        if not self.preparing and self._feed is not None:
            self._feed.hold.clear()
        self._pending = version

    def _can_switch(self, version: Version) -> bool:
        """Whether the new version can take over now: at or after its start, with a second rendered ahead."""
        change = version.change
        if change is None or change.failed is not None:
            return True
        now_s = self._position_s()
        if not change.ready.is_set() or now_s < version.start_s:
            return False
        return all(p.ended or p.next_s - now_s >= SWITCH_AHEAD_S for p in change.producers.values())

    def _failed(self, exc: BaseException) -> None:
        self.error = exc

    # ------------------------------------------------------------------ a planning thread

    def _prepare(self, target: Session, now: Session, fed: set[str], start_s: float, plans: int) -> None:
        """Plan a change: for every stem it moves, the cached whole stem, the file, or chunks from start_s."""
        try:
            cache, plan, producers = StemCache.default(), {}, {}
            for stem, original in zip(target.stems, self._originals, strict=True):
                settings = stem_settings(target, stem)
                if settings == stem_settings(now, stem) and stem.name not in fed:  # (chunks stop at the switch)
                    continue
                path = original.path if settings.is_identity else cache.lookup(cache_key(original, settings))
                if path is not None:
                    plan[stem.name] = path
                else:
                    producers[stem.name] = plan[stem.name] = ChunkProducer(
                        original, settings, self.sample_rate, start_s
                    )
            change = VersionChange(producers, self._position_s) if producers else None
            version = Version(target, plan, change, start_s)
            self._post(lambda: self._planned_version(plans, version))
        except BaseException as exc:
            self._post(lambda error=exc: self._failed(error))
