"""The show's routes: ``GET /api/setlists``, ``POST /api/setlists/{id}/open`` and ``POST /api/show``.

A show plays a setlist's songs one after another on one stream (:mod:`~stemhost.web.show_stage`); while it is open
the mixer's routes act on the song playing, and the state's ``show`` lists its songs.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from stemhost.web.setlists import Setlists
from stemhost.web.songs import checked_id
from stemhost.web.stage import NoSong, Stage, Unknown

router = APIRouter(prefix="/api", tags=["show"])
SWITCH_WAIT_S = 0.1  # the answer to next_song waits this long at most for the song to start
STATE = {"description": "the state every client shows (see WS /api/ws); its show lists the setlist's songs"}


class SetlistSummary(BaseModel):
    """A setlist of the served folder: its songs' titles and the problems its check found (one line each; a song
    with a problem is skipped in the show)."""

    id: str
    title: str
    songs: list[str]
    problems: list[str]


class ShowAction(BaseModel):
    """next_song, previous_song, start_song (``index``, from 0) or close (the show ends, its stream closes)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["next_song", "previous_song", "start_song", "close"]
    index: Annotated[int, Field(ge=0, le=10_000, description="the song to start, from 0")] | None = None

    @model_validator(mode="after")
    def _needs(self):
        if self.action == "start_song" and self.index is None:
            raise ValueError("index: start_song needs index (the song's place in the setlist, from 0)")
        if self.action != "start_song" and self.index is not None:
            raise ValueError(f"index: only start_song takes an index, not {self.action!r}")
        return self


def setlists_of(request: Request) -> Setlists:
    return request.app.state.setlists


def stage_of(request: Request) -> Stage:
    return request.app.state.stage


@router.get("/setlists", response_model=list[SetlistSummary])
def setlists(request: Request) -> list[dict]:
    """Every setlist of the folder (a ``*.json`` with "songs", in the folder or one folder down), checked."""
    return [entry.summary() for entry in setlists_of(request).listing()]


@router.post("/setlists/{setlist_id}/open", responses={200: STATE})
async def open_setlist(setlist_id: str, request: Request) -> dict:
    """Close the song or show open and open a setlist's show: song 1 is prepared and waits for next_song."""
    from fastapi.concurrency import run_in_threadpool

    entry = await run_in_threadpool(setlists_of(request).setlist, checked_id(setlist_id, "setlist"))
    return await stage_of(request).open_show(entry)


@router.post("/show", responses={200: STATE})
async def show(change: ShowAction, request: Request) -> dict:
    """Next song (at once when it is prepared), previous song, start song ``index``, or close the show."""
    stage = stage_of(request)
    show = stage.show
    if show is None:
        raise NoSong("no show is open; open a setlist first (POST /api/setlists/{id}/open)")
    runner, before = show.runner, show.runner.index
    if change.action == "close":
        await stage.close_show()
        return stage.snapshot()
    if show.over:
        raise NoSong(show.why_no_song())
    if change.action == "next_song":
        runner.next_song()
    elif change.action == "previous_song":
        runner.previous_song()
    else:
        last = len(runner.songs) - 1
        if change.index > last:
            raise Unknown(f"no song {change.index} in the setlist: its songs are 0 to {last}", "index")
        runner.start_song(change.index)
    for _ in range(round(SWITCH_WAIT_S / 0.005)):  # a prepared song starts on the next block: answer with it
        if runner.index != before or runner.request is not None:
            break
        await asyncio.sleep(0.005)
    return stage.changed()
