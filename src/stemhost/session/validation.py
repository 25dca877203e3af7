"""Reading JSON files into models, and turning pydantic's errors into one clear line."""

from __future__ import annotations

import difflib
import json
import reprlib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from stemhost.errors import SessionError, did_you_mean
from stemhost.limits import MAX_JSON_DEPTH

M = TypeVar("M", bound=BaseModel)

_REPR = reprlib.Repr()  # (keyword arguments need Python 3.12)
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 3, 120, 120
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 6
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def read_json(path: Path) -> Any:
    """Parse a JSON file; a syntax error names the line and column."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SessionError(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        inside = sorted(path.glob("*.json"))
        example = path / ("session.json" if not inside or path / "session.json" in inside else inside[0].name)
        raise SessionError(f"{path}: is a folder; give the session file inside it, e.g. {example}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise SessionError(f"{path}: cannot be read ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        comma = _trailing_comma(exc)
        if comma is not None:
            raise SessionError(
                f"{path}: line {comma}: trailing comma on line {comma}; remove it (JSON allows no comma before "
                f"{exc.doc[exc.pos]!r})"
            ) from exc
        raise SessionError(f"{path}: line {exc.lineno}, column {exc.colno}: malformed JSON ({exc.msg})") from exc
    except RecursionError:
        data = None  # nested deeper than Python's parser goes: far beyond the limit below
    except ValueError as exc:  # a number of more than 4,300 digits
        reason = str(exc).split(":")[0]
        raise SessionError(f"{path}: malformed JSON ({reason}); write numbers with at most a few digits") from exc
    if data is None or _depth(data) > MAX_JSON_DEPTH:
        raise SessionError(
            f"{path}: arrays and objects are nested more than {MAX_JSON_DEPTH} deep; "
            "a session or preset needs fewer than 10 levels"
        )
    return data


def _trailing_comma(exc: json.JSONDecodeError) -> int | None:
    """The line of a comma right before a closing bracket, where Python's error names the bracket's line."""
    if exc.pos >= len(exc.doc) or exc.doc[exc.pos] not in "]}":
        return None
    before = exc.doc[: exc.pos].rstrip()
    if not before.endswith(","):
        return None
    return before.count("\n") + 1


def _depth(data: Any) -> int:
    """How deeply arrays and objects nest in parsed JSON (a scalar is 0), without recursion."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        if depth <= MAX_JSON_DEPTH:
            stack.extend((child, depth + 1) for child in children)
    return deepest


def load_model(model: type[M], data: Any, label: str) -> M:
    """Validate data against a model, raising SessionError with the first problem's JSON path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SessionError(describe(exc, model, label)) from exc


def format_path(loc: tuple[str | int, ...]) -> str:
    """('stems', 2, 'chain', 0, 'ratio') → 'stems[2].chain[0].ratio'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def describe(exc: ValidationError, root: type[BaseModel], label: str) -> str:
    """One line for the first error of a ValidationError, with the fix where one is known."""
    errors = exc.errors()
    err = errors[0]
    raw_loc = tuple(err["loc"])
    loc = _strip_tags(root, raw_loc)
    path = format_path(loc)
    kind = err["type"]
    value = err.get("input")
    # A container whose item failed also reports itself as too short: not a problem of its own.
    others = [e for e in errors[1:] if tuple(e["loc"]) != raw_loc[: len(e["loc"])]]
    more = f" (and {len(others)} more problem{'s' if len(others) > 1 else ''})" if others else ""
    where = f"{label}: {path}" if path else label
    if kind == "extra_forbidden":
        parent = _model_at(root, raw_loc[:-1])
        valid = sorted(parent.model_fields) if parent else []
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown field; {hint}valid fields: {', '.join(valid)}"
    elif kind == "union_tag_invalid":
        from stemhost.session.effects import EFFECT_TYPES

        tag = err.get("ctx", {}).get("tag")
        close = difflib.get_close_matches(str(tag), EFFECT_TYPES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        where = f"{where}.type"
        message = f"unknown effect type {tag!r}; {hint}valid types: {', '.join(EFFECT_TYPES)}"
    elif kind == "union_tag_not_found":
        message = "an effect needs a 'type' (a pedalboard class name such as 'Compressor')"
    elif kind == "literal_error" and isinstance(value, str):
        options = typing.get_args(_unwrap(_type_at(root, raw_loc)))
        hint = did_you_mean(value, [str(o) for o in options], n=3, cutoff=0.5)
        message = f"{_lower_first(err['msg'])} (got {_short(value)}){'; ' + hint if hint else ''}"
    elif kind == "missing":
        message = "this field is required"
    elif kind in _RANGE_ERRORS:
        message = f"{_short(value)} is out of range ({_lower_first(err['msg'])})"
    elif kind == "too_long":
        message = _lower_first(err["msg"])  # the value itself may be thousands of stems
    else:
        message = f"{_lower_first(err['msg'])} (got {_short(value)})"
    return f"{where}: {message}{more}"


def _short(value: Any) -> str:
    """A value as it is quoted in messages: repr (control characters escaped), cut short when long or deep."""
    return _REPR.repr(value)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _strip_tags(root: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """Drop the discriminator tags pydantic puts in locations of tagged unions."""
    return tuple(part for i, part in enumerate(loc) if not _is_union(_type_at(root, loc[:i])))


def _is_union(node: Any) -> bool:
    return typing.get_origin(_unwrap(node)) in (typing.Union, types.UnionType)


def _model_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The model class found at a location inside root, or None when it is not a model."""
    node = _unwrap(_type_at(root, loc))
    return node if isinstance(node, type) and issubclass(node, BaseModel) else None


def _type_at(root: type[BaseModel], loc: tuple[str | int, ...]) -> Any:
    """The annotated type at a pydantic error location (tags of tagged unions included), or None."""
    node: Any = root
    for part in loc:
        node = _unwrap(node)
        if isinstance(part, int):
            args = [a for a in typing.get_args(node) if a is not Ellipsis]
            node = args[0] if args else None
        elif _is_union(node):  # a tag: pick the member whose 'type' literal it is
            members = [
                m for m in typing.get_args(node) if typing.get_args(m.model_fields["type"].annotation) == (part,)
            ]
            node = members[0] if members else None
        elif isinstance(node, type) and issubclass(node, BaseModel) and part in node.model_fields:
            node = node.model_fields[part].annotation
        else:
            return None
    return node


def _unwrap(node: Any) -> Any:
    """Strip Annotated and Optional around a type."""
    while True:
        origin = typing.get_origin(node)
        if origin is typing.Annotated:
            node = typing.get_args(node)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(node) if a is not type(None)]
            if len(args) != 1:
                return node
            node = args[0]
        else:
            return node
