"""The session format: frozen pydantic data, nothing that touches audio.

A session lists stems (one audio file each, with its strip: chain, fader, pan, mute, solo,
output and sends), buses and the master. Every field but ``stems[].name`` and ``stems[].file``
has a default, so a session of names and files alone renders the plain sum of the stems.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

from stemhost import limits
from stemhost.limits import MAX_SAMPLE_RATE, MAX_STEMS, MIN_SAMPLE_RATE
from stemhost.session.effects import Effect

ROLES: tuple[str, ...] = (
    "drums",
    "percussion",
    "bass",
    "guitar",
    "keys",
    "piano",
    "synth",
    "strings",
    "brass",
    "pad",
    "lead_vocal",
    "backing_vocals",
    "click",
    "guide",
    "fx",
    "other",
)
VOCAL_ROLES: tuple[str, ...] = ("lead_vocal", "backing_vocals")
UNPITCHED_ROLES: tuple[str, ...] = ("drums", "percussion", "click", "fx")
MASTER = "master"

Role = Literal[ROLES]  # type: ignore[valid-type]
CONTROL_CHARACTERS = re.compile(f"[{limits.CONTROL_CHARACTERS}]")


def _check_name(value: str) -> str:
    """A name is printed and becomes a file name (``--stems-out``): no spaces, slashes or control characters."""
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("name", "a name holds no control characters (terminal escapes, NUL, newlines)")
    if any(c.isspace() for c in value) or "/" in value or "\\" in value:
        raise PydanticCustomError("name", "a name holds no spaces or slashes; join words with _ or -")
    if value.strip(".") == "":
        raise PydanticCustomError("name", "a name must be more than dots (it becomes a file name)")
    return value


def _check_text(value: str) -> str:
    """Text that is printed or written as a tag or a file name: no control characters."""
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError("text", "holds a control character (a terminal escape, NUL or newline); remove it")
    return value


Name = Annotated[
    str,
    Field(
        min_length=1, max_length=100, json_schema_extra={"pattern": rf"^(?!\.+$)[^\s/\\{limits.CONTROL_CHARACTERS}]+$"}
    ),
    AfterValidator(_check_name),
]
Text = Annotated[str, AfterValidator(_check_text)]
FaderDb = Annotated[float, Field(ge=-120.0, le=24.0, description="fader gain in dB")]
Pan = Annotated[float, Field(ge=-1.0, le=1.0, description="-1 full left, 0 centre, +1 full right")]
Chain = tuple[Effect, ...]
MAX_KEY_SHIFT = 12.0
Semitones = Annotated[float, Field(ge=-MAX_KEY_SHIFT, le=MAX_KEY_SHIFT, description="semitones; fractions allowed")]
Tempo = Annotated[float, Field(ge=0.5, le=2.0, description="playback speed; 1.0 is the original")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Send(_Frozen):
    """A post-fader, post-pan feed from a stem to a bus."""

    bus: Name
    level_db: FaderDb = 0.0


class Stem(_Frozen):
    """One audio file and its channel strip: chain → fader → pan."""

    name: Name
    file: Text = Field(min_length=1, description="relative to the session file's folder, or absolute")
    role: Role = "other"
    gain_db: FaderDb = 0.0
    pan: Pan = 0.0
    mute: bool = False
    solo: bool = False
    chain: Chain = ()
    output: Name = MASTER
    sends: tuple[Send, ...] = ()
    pitched: bool | None = Field(
        default=None, description="follows the key shift; by default every role but drums, percussion, click and fx"
    )
    key_shift: Semitones = Field(default=0.0, description="semitones added to the session's key_shift for this stem")

    @property
    def is_pitched(self) -> bool:
        """Whether a key change moves this stem (unpitched stems are only ever time-stretched)."""
        return self.pitched if self.pitched is not None else self.role not in UNPITCHED_ROLES


class Bus(_Frozen):
    """A named summing point with its own chain and fader, feeding another bus or the master."""

    name: Name
    gain_db: FaderDb = 0.0
    mute: bool = Field(default=False, description="silence the bus's output")
    solo: bool = Field(
        default=False,
        description="hear only what passes through soloed buses (what feeds them and what they feed)",
    )
    chain: Chain = ()
    output: Name = MASTER
    device_channels: tuple[Annotated[int, Field(ge=1, le=64)], Annotated[int, Field(ge=1, le=64)]] | None = Field(
        default=None,
        description="live playback: send this bus to these two output channels of the device (1-based, e.g. [3, 4] "
        "for in-ear monitors) instead of its output; offline renders leave it out of the mix",
    )


class Loudness(_Frozen):
    """A mastering target: integrated loudness (ITU-R BS.1770-4, gated) and a true-peak ceiling."""

    target_lufs: Annotated[float, Field(ge=-40.0, le=-5.0, description="LUFS, -40 to -5")]
    true_peak_dbtp: Annotated[float, Field(ge=-20.0, le=0.0, description="dBTP, at most 0")] = -1.0


class Master(_Frozen):
    """The bus that reaches the output."""

    gain_db: FaderDb = 0.0
    mute: bool = Field(default=False, description="silence the whole mix")
    chain: Chain = ()
    loudness: Loudness | None = None


TIME_SIGNATURE = r"^([1-9]|1[0-9])/(2|4|8|16)$"


def _check_time_signature(value: str) -> str:
    if not re.match(TIME_SIGNATURE, value):
        raise PydanticCustomError(
            "time_signature", "write beats per bar / the beat's note value, such as '4/4', '3/4', '6/8' or '7/8'"
        )
    return value


TimeSignature = Annotated[
    str,
    Field(json_schema_extra={"pattern": TIME_SIGNATURE}, description="the grid's metre, e.g. '4/4', '3/4', '6/8'"),
    AfterValidator(_check_time_signature),
]


class Section(_Frozen):
    """A named part of the song, from its start to the next section's (or the song's end)."""

    name: Annotated[Text, Field(min_length=1, max_length=64)]
    start_s: Annotated[float, Field(ge=0.0, le=86400.0, description="seconds of the recording")]


def _check_sections(sections: tuple) -> tuple:
    starts = [s.start_s for s in sections]
    if starts != sorted(set(starts)):
        raise PydanticCustomError("sections", "each section must start after the one before it (start_s increasing)")
    names = [s.name for s in sections]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise PydanticCustomError("sections", f"the name {twice!r} is used twice; give each section its own name")
    return sections


Sections = Annotated[tuple[Section, ...], AfterValidator(_check_sections)]


class Click(_Frozen):
    """The click and count-in, made from the grid (bpm, time_signature, first_downbeat_s) and played to a bus."""

    enabled: bool = Field(default=True, description="click along the song (false: only the count-in clicks)")
    bus: Name = Field(default="cue", description="the bus the click plays to (made if the session has none)")
    level_db: Annotated[float, Field(ge=-60.0, le=0.0)] = Field(default=-6.0, description="the beats' peak, dBFS")
    accent_db: Annotated[float, Field(ge=0.0, le=12.0)] = Field(
        default=6.0, description="how much louder a bar's first beat is, dB"
    )
    count_in_bars: Annotated[int, Field(ge=0, le=8)] = Field(
        default=0,
        description="bars of click before the song; the last count-in beat falls one beat before the first downbeat",
    )
    spoken: bool = Field(
        default=False, description="the count-in says the beats' numbers (one, two, …) instead of clicking (flite)"
    )


class Session(_Frozen):
    """A whole song: its stems, buses, master and transport settings."""

    stems: Annotated[tuple[Stem, ...], Field(min_length=1, max_length=MAX_STEMS)]
    buses: tuple[Bus, ...] = ()
    master: Master = Master()
    sample_rate: Annotated[int, Field(ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE)] | None = Field(
        default=None, description="Hz; by default the stems' own rate, the highest when they differ"
    )
    key_shift: Semitones = Field(default=0.0, description="semitones every pitched stem moves")
    tempo: Tempo = 1.0
    title: Annotated[Text, Field(max_length=200)] | None = Field(default=None, description="written as a tag")
    artist: Annotated[Text, Field(max_length=200)] | None = Field(default=None, description="written as a tag")
    key: Annotated[str, Field(pattern=r"^[A-Ga-g](#|b)? *(major|minor|maj|min|m)?$")] | None = Field(
        default=None, description="the song's own key, e.g. 'A major'; renders are tagged with the key they play in"
    )
    bpm: Annotated[float, Field(gt=20.0, le=400.0)] | None = Field(
        default=None, description="the song's own tempo; renders are tagged with the tempo they play at"
    )
    time_signature: TimeSignature | None = Field(default=None, description="the grid's metre (with bpm)")
    first_downbeat_s: Annotated[float, Field(ge=0.0, le=86400.0)] | None = Field(
        default=None, description="seconds of the recording where the first bar begins (the grid's origin)"
    )
    sections: Sections = Field(
        default=(), description="named parts of the song, in order of start_s: jump to one, loop one"
    )
    click: Click | None = Field(default=None, description="a click and count-in from the grid, to the cue bus")

    def tags(self) -> dict[str, str]:
        """Title, artist, key and tempo of a render of this session (key and tempo after key_shift and tempo)."""
        from stemhost.session.notes import spell_key

        tags = {"title": self.title, "artist": self.artist}
        if self.key is not None:
            tags["key"] = spell_key(self.key, self.key_shift)
        if self.bpm is not None:
            tags["bpm"] = f"{self.bpm * self.tempo:.4g}"
        return {name: value for name, value in tags.items() if value}

    def stem_shift(self, stem: Stem) -> float:
        """The key shift a stem is rendered at, in semitones (0 for unpitched stems)."""
        return self.key_shift + stem.key_shift if stem.is_pitched else 0.0

    def any_solo(self) -> bool:
        """True when at least one stem is soloed (solo in place mutes every other stem)."""
        return any(stem.solo for stem in self.stems)

    def is_audible(self, stem: Stem) -> bool:
        """Whether a stem reaches the mix after mute and solo are applied."""
        if stem.mute:
            return False
        return stem.solo or not self.any_solo()


def session_schema() -> dict:
    """The JSON Schema of the session format, as committed in presets/session.schema.json."""
    schema = Session.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "stemhost session"
    return schema
