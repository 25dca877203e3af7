"""The library's routes: ``GET /api/songs`` and ``GET /api/songs/{id}/overview``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from stemhost.web.songs import OVERVIEW_POINTS, Library, checked_id

router = APIRouter(prefix="/api", tags=["songs"])


class SongSummary(BaseModel):
    """A song of the served folder. ``key``, ``bpm`` are None until known; ``analysed`` is False while the
    background analysis has yet to look at it; ``error`` says why a song is refused (it cannot be opened)."""

    id: str
    title: str
    key: str | None
    bpm: float | None
    length_s: float | None
    stems: list[str]
    analysed: bool
    error: str | None


class Overview(BaseModel):
    """The song's waveform: per slice of equal time, the peak of its stems' summed magnitudes, 0 to 1."""

    length_s: float
    peaks: list[float]


def library_of(request: Request) -> Library:
    return request.app.state.library


@router.get("/songs", response_model=list[SongSummary])
def songs(request: Request) -> list[dict]:
    """Every song of the folder, in path order (rescanned when a session or stem changed)."""
    return [song.summary() for song in library_of(request).songs()]


@router.get("/songs/{song_id}/overview", response_model=Overview)
async def overview(
    song_id: str,
    request: Request,
    points: Annotated[int, Query(ge=10, le=4000, description="slices")] = OVERVIEW_POINTS,
) -> dict:
    """The song's waveform overview (computed once per song and kept in memory)."""
    return await run_in_threadpool(library_of(request).overview, checked_id(song_id), points)
