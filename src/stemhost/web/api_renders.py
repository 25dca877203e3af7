"""The renders' routes: start a job, watch it, download its files and read its mix report."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from stemhost.formats import OUTPUT_CHOICES
from stemhost.web.renders import JOB_ID, RenderJobs, RequestError
from stemhost.web.songs import SONG_ID, NotFound

router = APIRouter(prefix="/api", tags=["renders"])
_JOB_ID = re.compile(JOB_ID)
Format = Literal[OUTPUT_CHOICES]  # type: ignore[valid-type]


class RenderRequest(BaseModel):
    """What ``stemhost export SONG --variants V --format F [--loudness L] [--true-peak T] [--master M]`` takes."""

    model_config = ConfigDict(extra="forbid")

    song: str | None = Field(None, pattern=SONG_ID, description="a song id (default: the song open in the mixer)")
    variants: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=200)]],
        Field(min_length=1, max_length=50, description="full, karaoke, instrumental, acapella, minus-one, solo:NAME, "
              "keys=A..B, tempo=F,G, a bundled preset; combined with *, e.g. karaoke*keys=-2..+2"),
    ] = ["full"]  # fmt: skip
    format: Format = Field("wav", description="the files' format")
    loudness: float | None = Field(None, ge=-40.0, le=-5.0, allow_inf_nan=False, description="target in LUFS")
    true_peak: float | None = Field(
        None, ge=-20.0, le=0.0, allow_inf_nan=False, description="ceiling in dBTP (default -1)"
    )
    master: str | None = Field(
        None, max_length=64, description="a bundled mastering preset: streaming, apple, broadcast, podcast or club"
    )
    use_mix: bool = Field(False, description="render the mixer's current mix (faders, pans, mutes, solos, key, tempo)")


class Started(BaseModel):
    id: str


class RenderFile(BaseModel):
    name: str
    url: str
    variant: str
    loudness_lufs: float | None
    duration_s: float


class RenderJob(BaseModel):
    """A render job: ``state`` is queued, running, done (the files are ready) or failed (``error`` says why);
    ``progress`` 0 to 1; ``files`` are listed as each is written."""

    id: str
    song: str
    state: Literal["queued", "running", "done", "failed"]
    progress: float
    files: list[RenderFile]
    error: str | None
    report_url: str | None
    report_state: Literal["making", "ready", "failed"] | None = Field(
        description="the mix report of the first file, made once the files are done (then report_url is set)"
    )
    variants: list[str]
    format: str
    loudness: float | None
    true_peak: float | None
    master: str | None
    use_mix: bool


def jobs_of(request: Request) -> RenderJobs:
    return request.app.state.renders


def check_job_id(job_id: str) -> str:
    if not _JOB_ID.match(job_id):
        raise NotFound(f"no render job {job_id[:40]!r}: job ids are 16 hex digits", "id")
    return job_id


@router.post("/renders", status_code=202, response_model=Started)
def start(body: RenderRequest, request: Request) -> dict:
    """Queue a render of variants of a song into ``FOLDER/renders/<song>/<settings>/``; answers its id at once."""
    stage = getattr(request.app.state, "stage", None)
    opened = getattr(stage, "opened", None)
    song = body.song or (opened.song.id if opened is not None else None)
    if song is None:
        raise RequestError("song: no song is open; give the song's id", "song")
    mix = None
    if body.use_mix:
        if opened is None or opened.song.id != song:
            has = "no song open" if opened is None else f"{opened.song.id!r} open"
            raise RequestError(f"use_mix: the mixer has {has}, not {song!r}; open it or leave use_mix false", "use_mix")
        mix = stage.snapshot()
    jobs = jobs_of(request)
    return {"id": jobs.start(song, body.variants, body.format, body.loudness, body.true_peak, body.master, mix)}


@router.get("/renders", response_model=list[RenderJob])
def jobs(request: Request) -> list[dict]:
    """Every render job since the server started, oldest first."""
    return jobs_of(request).jobs()


@router.get("/renders/{job_id}", response_model=RenderJob)
def job(job_id: str, request: Request) -> dict:
    """One job: its state, progress and the files written so far."""
    return jobs_of(request).job(check_job_id(job_id))


@router.get("/renders/{job_id}/files/{name}", response_class=FileResponse)
def download(job_id: str, name: str, request: Request) -> FileResponse:
    """A file the job wrote, as a download (only names the job lists)."""
    path = jobs_of(request).file(check_job_id(job_id), name)
    return FileResponse(path, filename=path.name, content_disposition_type="attachment")


@router.get("/renders/{job_id}/report", response_class=HTMLResponse)
def report(job_id: str, request: Request) -> HTMLResponse:
    """The mix report of the job's first file: one self-contained HTML page."""
    return HTMLResponse(jobs_of(request).report(check_job_id(job_id)))
