"""The effects a session may name and their valid ranges (pure data: :mod:`stemhost.engine.plugins` builds them).

Each model is named after the pedalboard class it builds and takes that class's own keyword
arguments, so pedalboard's documentation documents them. No other class is ever instantiated
from a file: the vocabulary below is closed. Two entries name third-party plugins (native code):
``VST3Plugin`` and ``AudioUnitPlugin`` (macOS only). They are data here; the engine loads one only
from the user's plugin folders (:mod:`stemhost.engine.plugin_folders`) and checks its
``parameter_values`` against the plugin's own parameters before any audio is read.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from stemhost.limits import CONTROL_CHARACTERS

Db = Annotated[float, Field(ge=-120.0, le=48.0)]
Cutoff = Annotated[float, Field(gt=0.0, le=96000.0, description="Hz; must lie below the Nyquist frequency")]
Q = Annotated[float, Field(gt=0.0, le=100.0)]
Unit = Annotated[float, Field(ge=0.0, le=1.0)]
Bipolar = Annotated[float, Field(ge=-1.0, le=1.0)]
Ratio = Annotated[float, Field(ge=1.0, le=100.0, description="1.0 or more")]
Milliseconds = Annotated[float, Field(gt=0.0, le=10000.0)]
Threshold = Annotated[float, Field(ge=-120.0, le=0.0)]
RateHz = Annotated[float, Field(ge=0.0, lt=100.0)]


class _Effect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def kwargs(self) -> dict[str, object]:
        """The pedalboard constructor keywords of this effect."""
        return self.model_dump(exclude={"type"})


class HighpassFilter(_Effect):
    type: Literal["HighpassFilter"]
    cutoff_frequency_hz: Cutoff = 50.0


class LowpassFilter(_Effect):
    type: Literal["LowpassFilter"]
    cutoff_frequency_hz: Cutoff = 50.0


class HighShelfFilter(_Effect):
    type: Literal["HighShelfFilter"]
    cutoff_frequency_hz: Cutoff = 440.0
    gain_db: Annotated[float, Field(ge=-48.0, le=48.0)] = 0.0
    q: Q = 0.7071067690849304


class LowShelfFilter(_Effect):
    type: Literal["LowShelfFilter"]
    cutoff_frequency_hz: Cutoff = 440.0
    gain_db: Annotated[float, Field(ge=-48.0, le=48.0)] = 0.0
    q: Q = 0.7071067690849304


class PeakFilter(_Effect):
    type: Literal["PeakFilter"]
    cutoff_frequency_hz: Cutoff = 440.0
    gain_db: Annotated[float, Field(ge=-48.0, le=48.0)] = 0.0
    q: Q = 0.7071067690849304


class Compressor(_Effect):
    type: Literal["Compressor"]
    threshold_db: Threshold = 0.0
    ratio: Ratio = 1.0
    attack_ms: Milliseconds = 1.0
    release_ms: Milliseconds = 100.0


class Limiter(_Effect):
    type: Literal["Limiter"]
    threshold_db: Threshold = -10.0
    release_ms: Milliseconds = 100.0


class Gain(_Effect):
    type: Literal["Gain"]
    gain_db: Db = 1.0


class NoiseGate(_Effect):
    type: Literal["NoiseGate"]
    threshold_db: Threshold = -100.0
    ratio: Ratio = 10.0
    attack_ms: Milliseconds = 1.0
    release_ms: Milliseconds = 100.0


class Reverb(_Effect):
    type: Literal["Reverb"]
    room_size: Unit = 0.5
    damping: Unit = 0.5
    wet_level: Unit = 0.33
    dry_level: Unit = 0.4
    width: Unit = 1.0
    freeze_mode: Unit = 0.0


class Delay(_Effect):
    type: Literal["Delay"]
    delay_seconds: Annotated[float, Field(ge=0.0, le=10.0)] = 0.5
    feedback: Unit = 0.0
    mix: Unit = 0.5


class Chorus(_Effect):
    type: Literal["Chorus"]
    rate_hz: RateHz = 1.0
    depth: Unit = 0.25
    centre_delay_ms: Annotated[float, Field(ge=1.0, le=100.0)] = 7.0
    feedback: Bipolar = 0.0
    mix: Unit = 0.5


class Phaser(_Effect):
    type: Literal["Phaser"]
    rate_hz: RateHz = 1.0
    depth: Unit = 0.5
    centre_frequency_hz: Annotated[float, Field(ge=20.0, le=20000.0)] = 1300.0
    feedback: Bipolar = 0.0
    mix: Unit = 0.5


class Distortion(_Effect):
    type: Literal["Distortion"]
    drive_db: Annotated[float, Field(ge=0.0, le=100.0)] = 25.0


class Convolution(_Effect):
    type: Literal["Convolution"]
    impulse_response_filename: str = Field(
        min_length=1,
        pattern=f"^[^{CONTROL_CHARACTERS}]+$",  # no NUL, newlines or terminal escapes
        description="an audio file, relative to the session file's folder",
    )
    mix: Unit = 1.0


ParameterValue = Union[StrictBool, StrictInt, StrictFloat, StrictStr]  # noqa: UP007 - a number, a switch or a choice


class ThirdPartyPlugin(_Effect):
    """A third-party plugin in a chain, in pedalboard's keywords (``pedalboard.VST3Plugin(path_to_plugin_file,
    plugin_name=...)``), with its state and parameters. ``raw_state`` is applied first, then ``parameter_values``."""

    path_to_plugin_file: str = Field(
        min_length=1,
        max_length=4096,
        pattern=f"^[^{CONTROL_CHARACTERS}]+$",
        description="a bundle's name found in the plugin folders (e.g. 'ZamEQ2.vst3'), or an absolute path inside one",
    )
    plugin_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        pattern=f"^[^{CONTROL_CHARACTERS}]+$",
        description="which plugin of a bundle that holds several",
    )
    parameter_values: dict[str, ParameterValue] = Field(
        default_factory=dict,
        description="the plugin's parameters by pedalboard's key (e.g. 'master_gain_db'): a number in the "
        "parameter's own unit, true or false for a switch, a word for a choice",
    )
    raw_state: str | None = Field(
        default=None,
        min_length=1,
        description="base64 of pedalboard's raw_state of the plugin (its whole state), applied before parameter_values",
    )
    bypass: bool = Field(default=False, description="pass the input through, delayed by the plugin's latency")


class VST3Plugin(ThirdPartyPlugin):
    type: Literal["VST3Plugin"]


class AudioUnitPlugin(ThirdPartyPlugin):
    type: Literal["AudioUnitPlugin"]


BUILTIN_CLASSES: tuple[type[_Effect], ...] = (
    HighpassFilter,
    LowpassFilter,
    HighShelfFilter,
    LowShelfFilter,
    PeakFilter,
    Compressor,
    Limiter,
    Gain,
    NoiseGate,
    Reverb,
    Delay,
    Chorus,
    Phaser,
    Distortion,
    Convolution,
)
PLUGIN_CLASSES: tuple[type[ThirdPartyPlugin], ...] = (VST3Plugin, AudioUnitPlugin)
EFFECT_CLASSES: tuple[type[_Effect], ...] = BUILTIN_CLASSES + PLUGIN_CLASSES
BUILTIN_TYPES: tuple[str, ...] = tuple(cls.__name__ for cls in BUILTIN_CLASSES)
EFFECT_TYPES: tuple[str, ...] = tuple(cls.__name__ for cls in EFFECT_CLASSES)

Effect = Annotated[Union[EFFECT_CLASSES], Field(discriminator="type")]  # noqa: UP007
