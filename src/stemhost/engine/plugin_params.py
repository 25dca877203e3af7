"""A third-party plugin's parameters as stemhost shows and checks them: pedalboard's keys, units, ranges, kinds.

pedalboard names each parameter by a Python-safe key that carries its unit (``master_gain_db``). Some
frameworks expose host-side internals as parameters (DPF: ``buffer_size_frames``, ``sample_rate_frames``,
``latency_frames``; JUCE and DPF: ``current_program``); they are hidden from listings and refused in
sessions, since setting them from a session would change how the host runs the plugin, not its sound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HIDDEN_PARAMETERS = frozenset({"latency_frames", "buffer_size_frames", "sample_rate_frames", "current_program"})
MANY_STEPS = 1 << 20  # more steps than this is a continuous parameter, whatever the plugin says


@dataclass(frozen=True)
class ParameterInfo:
    """One parameter of a plugin.

    Attributes:
        key: pedalboard's key, used in ``parameter_values`` (``'master_gain_db'``).
        name: the plugin's own name for it (``'Master Gain'``).
        unit: its unit label (``'dB'``), '' when none.
        minimum, maximum: its range in its own unit; None for a list of choices.
        default: its default value (a number, or the choice's word).
        kind: ``'number'``, ``'switch'`` (on/off: true or false) or ``'choice'`` (one of ``choices``).
        choices: the words a choice parameter takes, in order.
        steps: how many values it takes (0 for a continuous one).
    """

    key: str
    name: str
    unit: str
    minimum: float | None
    maximum: float | None
    default: float | str | bool
    kind: str
    choices: tuple[str, ...] = ()
    steps: int = 0

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        return {
            "key": self.key,
            "name": self.name,
            "unit": self.unit,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "default": self.default,
            "kind": self.kind,
            "choices": list(self.choices),
            "steps": self.steps,
        }


def describe_parameters(plugin: object) -> list[ParameterInfo]:
    """The user-facing parameters of a loaded pedalboard plugin (``VST3Plugin``/``AudioUnitPlugin``), in its order.

    Reads the parameters only (their ranges, defaults and value lists); sets nothing.
    """
    infos = []
    for key, parameter in plugin.parameters.items():
        if key in HIDDEN_PARAMETERS:
            continue
        low, high, _step = parameter.range
        steps = int(parameter.num_steps) if 0 < parameter.num_steps < MANY_STEPS else 0
        values = list(parameter.valid_values or [])
        if parameter.is_boolean or (steps == 2 and low == 0 and high == 1):
            kind, choices = "switch", ()
            default: float | str | bool = parameter.default_raw_value >= 0.5
        elif low is None or any(isinstance(v, str) for v in values):
            kind, choices = "choice", tuple(str(v) for v in values)
            index = min(len(choices) - 1, math.floor(parameter.default_raw_value * len(choices))) if choices else 0
            default = choices[index] if choices else ""
        else:
            kind, choices = "number", ()
            default = _rounded(low + parameter.default_raw_value * (high - low), high - low)
        infos.append(
            ParameterInfo(
                key=key,
                name=str(parameter.name),
                unit=str(parameter.label or "").strip(),
                minimum=None if kind == "choice" else float(low if low is not None else 0.0),
                maximum=None if kind == "choice" else float(high if high is not None else 1.0),
                default=default,
                kind=kind,
                choices=choices,
                steps=steps,
            )
        )
    return infos


def _rounded(value: float, span: float) -> float:
    """A value computed from a float32 raw value (7 significant digits of the range), rounded to what it holds:
    ZamEQ2's 0 dB default (range -50..20) reads 1.19e-06 otherwise."""
    digits = max(0, 6 - math.ceil(math.log10(span))) if span > 0 else 6
    return float(f"{round(value, digits):.6g}") + 0.0  # + 0.0: no -0.0
