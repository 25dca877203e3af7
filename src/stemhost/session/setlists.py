"""Setlists: an ordered list of songs, each a session with its presets, key or singer, tempo, mix and end.

``setlist.json``::

    {"title": "Friday", "songs": [
        {"session": "silver/session.json", "count_in_bars": 1, "gap_s": 2.0, "advance": "auto"},
        {"session": "twinkle/session.json", "preset": ["karaoke"], "key_shift": -2}]}

Every path in a setlist (sessions, preset files, the singers file, and what the sessions read) is relative to the
setlist's folder and must stay inside it, symbolic links followed: a setlist from someone else never reads outside
its folder. Loading checks the format only; :func:`stemhost.show.entries.prepared_entry` resolves one song.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from stemhost.errors import SessionError
from stemhost.session.model import FaderDb, Name, Pan, Semitones, Tempo, Text
from stemhost.session.validation import load_model, read_json

MAX_SONGS = 500  # songs in one setlist (a long show has about 30)
SINGERS_FILE = "singers.json"

FilePath = Annotated[Text, Field(min_length=1, max_length=1000, description="relative to the setlist's folder")]
PresetName = Annotated[
    Text, Field(min_length=1, max_length=1000, description="a bundled preset's name, or a preset file in the folder")
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mix(_Frozen):
    """The command line's --mute, --solo, --gain and --pan in JSON: stems by name or role."""

    mute: tuple[Name, ...] = ()
    solo: tuple[Name, ...] = ()
    gain: dict[Name, FaderDb] = Field(default={}, description='{"STEM": dB}: the stem\'s fader')
    pan: dict[Name, Pan] = Field(default={}, description='{"STEM": -1 to +1}')


class Song(Mix):
    """One song of the set: a session as it is to be played, and what happens at its end."""

    model_config = ConfigDict(json_schema_extra={"not": {"required": ["key_shift", "singer"]}})

    session: FilePath
    preset: tuple[PresetName, ...] = Field(default=(), description="laid over the session in order")
    key_shift: Semitones | None = Field(default=None, description="the session's own when left out")
    singer: Annotated[Text, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="a name in the singers file: the song plays in the key fit picks for that singer"
    )
    tempo: Tempo | None = Field(default=None, description="the session's own when left out")
    count_in_bars: Annotated[int, Field(ge=0, le=8)] | None = Field(
        default=None,
        description="bars of click before the song (needs the session's bpm); the session's own when left out",
    )
    gap_s: Annotated[float, Field(ge=0.0, le=600.0)] = Field(
        default=2.0, description="seconds of silence after the song, before the next one (advance 'auto', renders)"
    )
    advance: Literal["stop", "auto"] = Field(
        default="stop", description="at the song's end: 'stop' waits for the user, 'auto' starts the next after gap_s"
    )


class Setlist(_Frozen):
    """The songs of a show, in order."""

    title: Annotated[Text, Field(max_length=200)] | None = None
    singers: FilePath | None = Field(
        default=None, description=f"the singers file; by default {SINGERS_FILE} beside the setlist, if there is one"
    )
    songs: Annotated[tuple[Song, ...], Field(min_length=1, max_length=MAX_SONGS)]


@dataclass(frozen=True)
class SetlistFile:
    """A loaded setlist and where it lies.

    Attributes:
        path: the setlist file, as given.
        folder: its folder, resolved: everything it names must lie inside.
        setlist: the validated setlist.
    """

    path: Path
    folder: Path
    setlist: Setlist

    @property
    def label(self) -> str:
        return self.path.name

    def where(self, index: int) -> str:
        """How messages name a song: ``setlist.json: songs[1]``."""
        return f"{self.label}: songs[{index}]"

    def named(self, index: int) -> str:
        """How messages name a song and its session file: ``setlist.json: songs[1] (twinkle/session.json)``."""
        return f"{self.where(index)} ({self.setlist.songs[index].session})"

    def inside(self, name: str, where: str, what: str = "file", base: Path | None = None) -> Path:
        """A path named in the setlist (relative to base, by default the folder), resolved (links followed),
        refused unless it is a file inside the setlist's folder."""
        path = resolved((base or self.folder) / name, where)
        if not path.is_relative_to(self.folder):
            raise SessionError(
                f"{where}: {name!r} lies outside the setlist's folder {str(self.folder)!r}; a setlist reads only "
                "files inside its own folder: move the file there"
            )
        if not path.is_file():
            raise SessionError(f"{where}: {name!r}: no such {what} in {str(self.folder)!r}")
        return path

    @functools.cached_property
    def singers_path(self) -> Path | None:
        """The singers file: the setlist's ``singers``, else singers.json beside it if there is one."""
        if self.setlist.singers is not None:
            return self.inside(self.setlist.singers, f"{self.label}: singers", "singers file")
        beside = self.folder / SINGERS_FILE
        return self.inside(SINGERS_FILE, f"{self.label}: singers") if beside.exists() else None


def resolved(path: Path, where: str) -> Path:
    """A path with every link followed; a link loop is a one-line error."""
    try:
        return Path(os.path.realpath(path, strict=False))
    except OSError as exc:
        raise SessionError(f"{where}: {str(path)!r} cannot be followed ({exc})") from exc


def load_setlist(path: Path) -> SetlistFile:
    """Read and validate a setlist file (its format; the songs are checked as they are prepared)."""
    setlist = load_model(Setlist, read_json(path), path.name)
    return SetlistFile(path, resolved(path.parent, path.name), setlist)


def setlist_schema() -> dict:
    """The JSON Schema of the setlist format, as committed in presets/setlist.schema.json."""
    schema = Setlist.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stemhost setlist"
    return schema
