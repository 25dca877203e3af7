"""Singer profiles: each singer's range (or voice type), preferred presets and mix, in ``singers.json``::

    {"singers": [
        {"name": "Ana", "voice": "alto", "preset": ["karaoke"], "mix": {"gain": {"lead_vocal": -3}}},
        {"name": "Ben", "range": "A2-E4"}]}

A setlist song with ``"singer": "Ana"`` plays in the key ``fit`` picks for Ana's range, with her presets and mix.
Preset files are relative to the singers file's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from stemhost.errors import SessionError, did_you_mean
from stemhost.session.model import Text
from stemhost.session.notes import VOICE_RANGES, parse_range
from stemhost.session.setlists import Mix, PresetName, _Frozen
from stemhost.session.validation import load_model, read_json

MAX_SINGERS = 1000


def _check_range(value: str) -> str:
    try:
        parse_range(value)
    except SessionError as exc:
        raise PydanticCustomError("note_range", str(exc).replace("{", "(").replace("}", ")")) from exc
    return value


NoteRange = Annotated[
    str, Field(max_length=40, description="the singer's range, e.g. 'A2-E4'"), AfterValidator(_check_range)
]


class Singer(_Frozen):
    """One singer: a range or a voice type, and the presets and mix they like."""

    model_config = _Frozen.model_config | {
        "json_schema_extra": {"oneOf": [{"required": ["voice"]}, {"required": ["range"]}]}
    }

    name: Annotated[Text, Field(min_length=1, max_length=64)]
    voice: Literal[tuple(VOICE_RANGES)] | None = None  # type: ignore[valid-type]
    range: NoteRange | None = None
    preset: tuple[PresetName, ...] = Field(default=(), description="laid over each song this singer sings, in order")
    mix: Mix = Mix()

    @property
    def spec(self) -> str:
        """The range as ``fit`` takes it: a voice type or two notes."""
        return self.voice or self.range or ""


class Singers(_Frozen):
    singers: Annotated[tuple[Singer, ...], Field(min_length=1, max_length=MAX_SINGERS)]


def load_singers(path: Path) -> Singers:
    """Read a singers file; each singer needs one of voice or range, and a name of their own."""
    label = path.name
    singers = load_model(Singers, read_json(path), label)
    names: set[str] = set()
    for i, singer in enumerate(singers.singers):
        if (singer.voice is None) == (singer.range is None):
            raise SessionError(
                f"{label}: singers[{i}]: give exactly one of 'voice' ({', '.join(VOICE_RANGES)}) or 'range' "
                "(e.g. 'A2-E4')"
            )
        if singer.name in names:
            raise SessionError(f"{label}: singers[{i}].name: {singer.name!r} is used twice; give each singer their own")
        names.add(singer.name)
    return singers


def find_singer(singers: Singers, name: str, where: str, label: str) -> Singer:
    """The singer of this name; an unknown name lists the singers."""
    for singer in singers.singers:
        if singer.name == name:
            return singer
    names = [s.name for s in singers.singers]
    hint = did_you_mean(name, names)
    raise SessionError(f"{where}: {name!r} is not in {label}; {hint + ' ' if hint else ''}singers: {', '.join(names)}")


def singers_schema() -> dict:
    """The JSON Schema of singers.json, as committed in presets/singers.schema.json."""
    schema = Singers.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stemhost singers"
    return schema
