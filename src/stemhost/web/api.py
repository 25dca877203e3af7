"""The mixer's HTTP routes: open a song, its state, transport, sections, strips, key, tempo, presets, fit, save.

Every change answers with the new state and pushes it to every WebSocket client. Bodies are checked by the
models below (bounds, types, no unknown fields), so the OpenAPI page documents them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from stemhost.web.songs import checked_id
from stemhost.web.stage import Stage

router = APIRouter(prefix="/api")
STATE = {"description": "the state every client shows (see WS /api/ws)"}

Db = Annotated[float, Field(ge=-60.0, le=12.0, allow_inf_nan=False, description="fader, dB (-60 to +12)")]
Pan = Annotated[float, Field(ge=-1.0, le=1.0, allow_inf_nan=False, description="-1 (left) to +1 (right)")]
Seconds = Annotated[float, Field(ge=0.0, le=86400.0, allow_inf_nan=False, description="seconds of the song")]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StemChange(Body):
    """Any of a stem's fader, pan, mute and solo."""

    gain_db: Db | None = None
    pan: Pan | None = None
    mute: bool | None = None
    solo: bool | None = None


class BusChange(Body):
    """Any of a bus's fader, mute and solo (buses have no pan)."""

    gain_db: Db | None = None
    mute: bool | None = None
    solo: bool | None = None


class MasterChange(Body):
    gain_db: Db | None = None
    mute: bool | None = None


class TransportChange(Body):
    """play, pause, seek (``position_s``) or loop (any of ``loop_start_s``, ``loop_end_s``, ``loop_on``)."""

    action: Literal["play", "pause", "seek", "loop"]
    position_s: Seconds | None = None
    loop_start_s: Seconds | None = None
    loop_end_s: Seconds | None = None
    loop_on: bool | None = None

    @model_validator(mode="after")
    def _needs(self):
        if self.action == "seek" and self.position_s is None:
            raise ValueError("position_s: a seek needs position_s")
        if self.action == "loop" and (self.loop_start_s, self.loop_end_s, self.loop_on) == (None, None, None):
            raise ValueError("loop_on: a loop change needs loop_start_s, loop_end_s or loop_on")
        if None not in (self.loop_start_s, self.loop_end_s) and self.loop_end_s <= self.loop_start_s:
            raise ValueError("loop_end_s: the loop must end after it starts")
        return self


class SectionChange(Body):
    """Jump to a section (``name``, or ``to`` the next or previous) on the next downbeat, loop one (``name``, or the
    one playing) until released, or release the loop."""

    action: Literal["jump", "loop", "release"]
    name: Annotated[str, Field(min_length=1, max_length=64, description="a section's name")] | None = None
    to: Literal["next", "previous"] | None = None

    @model_validator(mode="after")
    def _needs(self):
        if self.action == "jump" and (self.name is None) == (self.to is None):
            raise ValueError("name: a jump needs name or to ('next' or 'previous'), not both")
        if self.action != "jump" and self.to is not None:
            raise ValueError(f"to: only a jump goes to the next or previous section, not {self.action!r}")
        return self


class KeyChange(Body):
    key_shift: Annotated[float, Field(ge=-12.0, le=12.0, allow_inf_nan=False, description="semitones")]


class TempoChange(Body):
    tempo: Annotated[float, Field(ge=0.5, le=2.0, allow_inf_nan=False, description="1.0 = as recorded")]


class PresetChoice(Body):
    name: Annotated[str, Field(min_length=1, max_length=64, description="a bundled preset, e.g. karaoke")]


class FitRequest(Body):
    """A voice type or a range in scientific pitch notation: one of them."""

    voice: Annotated[str, Field(min_length=1, max_length=32, description="e.g. alto")] | None = None
    range: Annotated[str, Field(min_length=1, max_length=32, description="e.g. A2-E4")] | None = None

    @model_validator(mode="after")
    def _one(self):
        if (self.voice is None) == (self.range is None):
            raise ValueError("voice: give voice or range, not both or neither")
        return self


class FitAnswer(BaseModel):
    key_shift: int
    key: str | None
    lines: list[str]
    fits: bool


class Saved(BaseModel):
    saved: str


def stage_of(request: Request) -> Stage:
    return request.app.state.stage


@router.post("/songs/{song_id}/open", responses={200: STATE})
async def open_song(song_id: str, request: Request) -> dict:
    """Open a song (closing the one open), paused at 0; its own key and tempo are prepared."""
    return await stage_of(request).open(checked_id(song_id))


@router.get("/state", responses={200: STATE})
async def state(request: Request) -> dict:
    """The state: song, transport, key, tempo, strips, presets, device."""
    return stage_of(request).snapshot()


@router.post("/transport", responses={200: STATE})
async def transport(change: TransportChange, request: Request) -> dict:
    stage = stage_of(request)
    if change.action == "play":
        stage.play()
    elif change.action == "pause":
        stage.pause()
    if change.position_s is not None:
        stage.seek(change.position_s)
    if change.action == "loop" or change.loop_on is not None or change.loop_start_s is not None:
        stage.loop(change.loop_start_s, change.loop_end_s, change.loop_on)
    elif change.loop_end_s is not None:
        stage.loop(None, change.loop_end_s, None)
    return changed(stage)


@router.patch("/stems/{name}", responses={200: STATE})
async def stem(name: str, change: StemChange, request: Request) -> dict:
    """Change a stem's gain_db, pan, mute or solo (by its exact name)."""
    return strip(request, "stem", name, change)


@router.patch("/buses/{name}", responses={200: STATE})
async def bus(name: str, change: BusChange, request: Request) -> dict:
    return strip(request, "bus", name, change)


@router.patch("/master", responses={200: STATE})
async def master(change: MasterChange, request: Request) -> dict:
    return strip(request, "master", "master", change)


def strip(request: Request, kind: str, name: str, change: BaseModel) -> dict:
    stage = stage_of(request)
    stage.change_strip(kind, name, change.model_dump(exclude_none=True))
    return changed(stage)


@router.post("/sections", responses={200: STATE})
async def sections(change: SectionChange, request: Request) -> dict:
    """Jump to a section on the next downbeat (at once without a grid), loop one until released, or release."""
    stage = stage_of(request)
    stage.sections(change.action, change.name, change.to)
    return changed(stage)


@router.post("/key", responses={200: STATE})
async def key(change: KeyChange, request: Request) -> dict:
    """Move the key (semitones from the recording); heard once prepared (``preparing`` says so meanwhile)."""
    stage = stage_of(request)
    stage.set_key(change.key_shift)
    return changed(stage)


@router.post("/tempo", responses={200: STATE})
async def tempo(change: TempoChange, request: Request) -> dict:
    stage = stage_of(request)
    stage.set_tempo(change.tempo)
    return changed(stage)


@router.post("/presets", responses={200: STATE})
async def preset(choice: PresetChoice, request: Request) -> dict:
    """Lay a bundled preset's mix onto the strips."""
    stage = stage_of(request)
    stage.preset(choice.name)
    return changed(stage)


@router.post("/fit")
async def fit(spec: FitRequest, request: Request) -> FitAnswer:
    """Choose the key shift that fits the lead melody into a voice type or range, and set it when it fits."""
    return FitAnswer(**await stage_of(request).fit(spec.voice or spec.range))


@router.post("/save")
async def save(request: Request) -> Saved:
    """Write the mix, key and tempo into the song's session file."""
    return Saved(**stage_of(request).save())


def changed(stage: Stage) -> dict:
    return stage.changed()
