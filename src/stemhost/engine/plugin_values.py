"""A chain entry's ``parameter_values``: checked against the plugin's own parameters, then set exactly.

pedalboard's ``plugin.name = value`` snaps a value to 1,001 steps of the parameter's range (−6.0 dB on
some ranges becomes −5.988 dB). Here each value is set through the parameter's normalised ``raw_value``
and read back: for a linear parameter ``(value − min) / (max − min)`` is right at once; for any other
mapping the raw value is found by bisection against the value the plugin reports.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from stemhost.engine.plugin_params import HIDDEN_PARAMETERS, ParameterInfo, describe_parameters
from stemhost.errors import SessionError

BISECTION_STEPS = 40  # halvings of the raw range: beyond the float32 the plugin keeps it in


def check_parameter_values(values: Mapping[str, object], infos: list[ParameterInfo], where: str) -> None:
    """Refuse an unknown or hidden name, a value out of range, or a value of the wrong kind.

    Args:
        values: the entry's ``parameter_values``.
        infos: the plugin's parameters (:func:`describe_parameters`).
        where: the entry's location (``session.json: stems[0].chain[1]``).
    """
    by_key = {info.key: info for info in infos}
    for key, value in values.items():
        field = f"{where}.parameter_values.{key}"
        if key in HIDDEN_PARAMETERS:
            raise SessionError(
                f"{field}: {key!r} is set by the host (block size, rate, latency or program), not by a session; "
                f"remove it"
            )
        info = by_key.get(key)
        if info is None:
            nearest = difflib.get_close_matches(key, list(by_key), n=3, cutoff=0.4)
            hint = f"did you mean {', '.join(repr(n) for n in nearest)}? " if nearest else ""
            raise SessionError(
                f"{field}: the plugin has no parameter {key!r}; {hint}its parameters: {', '.join(by_key) or 'none'}"
            )
        _check_value(value, info, field)


def _check_value(value: object, info: ParameterInfo, field: str) -> None:
    if info.kind == "switch":
        if not isinstance(value, bool):
            raise SessionError(f"{field}: {value!r} is not a switch value; write true or false")
    elif info.kind == "choice":
        if not isinstance(value, str) or value not in info.choices:
            raise SessionError(f"{field}: {value!r} is not one of its choices: {', '.join(map(repr, info.choices))}")
    else:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SessionError(f"{field}: {value!r} is not a number; write a number in {_range(info)}")
        if not info.minimum <= value <= info.maximum:
            raise SessionError(f"{field}: {value!r} lies outside its range, {_range(info)}")


def _range(info: ParameterInfo) -> str:
    unit = f" {info.unit}" if info.unit else ""
    return f"{info.minimum:g} to {info.maximum:g}{unit}"


def apply_parameter_values(plugin: object, values: Mapping[str, object], where: str) -> None:
    """Check every value, then set each one exactly (see the module's notes).

    Raises:
        SessionError: an unknown or hidden name, a value out of range or of the wrong kind.
    """
    infos = describe_parameters(plugin)
    check_parameter_values(values, infos, where)
    by_key = {info.key: info for info in infos}
    for key, value in values.items():
        info, parameter = by_key[key], plugin.parameters[key]
        if info.kind == "switch":
            parameter.raw_value = 1.0 if value else 0.0
        elif info.kind == "choice":
            parameter.raw_value = parameter.get_raw_value_for(value)
        else:
            set_number(plugin, key, float(value), info)


def set_number(plugin: object, key: str, value: float, info: ParameterInfo) -> float:
    """Set a number parameter to ``value`` through its raw value; returns the value the plugin reports.

    Tries the linear mapping first; otherwise bisects the raw value (the reported value rising or
    falling with it), keeping the closest value found. A stepped parameter lands on its nearest step.
    """
    parameter = plugin.parameters[key]

    def read(raw: float) -> float:
        parameter.raw_value = raw
        return float(getattr(plugin, key))

    span = info.maximum - info.minimum
    tolerance = max(abs(value), span) * 1e-7
    guess = (value - info.minimum) / span if span else 0.0
    best = (abs(read(guess) - value), guess)
    if best[0] <= tolerance:
        return float(getattr(plugin, key))
    low, high = 0.0, 1.0
    rising = read(1.0) >= read(0.0)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        got = read(middle)
        best = min(best, (abs(got - value), middle))
        if abs(got - value) <= tolerance:
            break
        if (got < value) == rising:
            low = middle
        else:
            high = middle
    return read(best[1])
