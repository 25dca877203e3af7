"""Analyses kept in the cache: a song is analysed once for as long as its stems and the analysis code stay the same.

The key of a stored analysis is a hash of what the analysis depends on: each stem's name, role, pitched flag
and file content (sha256), the sources of ``stemhost.analysis`` and librosa's version. A changed stem, a
changed role or a new stemhost analyses again. Records are plain JSON (never pickles): a cache folder
someone else filled can at worst make stemhost analyse again.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import types
import typing
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

from stemhost.analysis import SessionAnalysis, analyze_session
from stemhost.engine.cache import StemCache, source_hash
from stemhost.engine.compile import stem_path
from stemhost.errors import OutputError, warn
from stemhost.session.model import Session


def cached_analysis(
    session: Session,
    session_path: Path,
    progress: Callable[[str], None] | None = None,
    cache: StemCache | None = None,
) -> SessionAnalysis:
    """``analyze_session``'s result, from the cache when the same stems were analysed by the same code.

    A cache that cannot be read or written costs a warning, not the analysis.
    """
    cache = cache or StemCache.default()
    key = analysis_key(session, session_path)
    if key is None:  # a stem cannot be read: the analysis says which and why
        return analyze_session(session, session_path, progress)
    try:
        found = _read(cache, key)
    except OutputError as exc:
        warn(f"the analysis is not kept for next time: {exc}")
        return analyze_session(session, session_path, progress)
    if found is not None:
        return found
    analysis = analyze_session(session, session_path, progress)  # none kept, or one this code cannot read: replaced
    try:
        cache.put_record(key, to_plain(analysis))
    except OutputError as exc:
        warn(f"the analysis is not kept for next time: {exc}")
    return analysis


def stored_analysis(session: Session, session_path: Path, cache: StemCache | None = None) -> SessionAnalysis | None:
    """The cached analysis of these stems by this code, or None when there is none (nothing is analysed)."""
    cache = cache or StemCache.default()
    key = analysis_key(session, session_path)
    try:
        return None if key is None else _read(cache, key)
    except OutputError:
        return None


def _read(cache: StemCache, key: str) -> SessionAnalysis | None:
    """The analysis kept under a key; None when there is none or it is a record this code cannot read.

    Raises:
        OutputError: the cache folder cannot be used.
    """
    stored = cache.record(key)
    if stored is None:
        return None
    try:
        return from_plain(SessionAnalysis, stored)
    except (TypeError, ValueError, KeyError):
        return None


def analysis_key(session: Session, session_path: Path) -> str | None:
    """32 hex digits naming an analysis of these stems by this code; None when a stem file cannot be read."""
    digest = hashlib.sha256(_code_version().encode())
    for i, stem in enumerate(session.stems):
        path = stem_path(session_path, stem.file, f"{session_path.name}: stems[{i}].file")
        try:
            content = source_hash(path)
        except OSError:
            return None
        digest.update(json.dumps([stem.name, stem.role, stem.is_pitched, content]).encode())
    return digest.hexdigest()[:32]


@functools.cache
def _code_version() -> str:
    package = Path(__file__).parent
    digest = hashlib.sha256(metadata.version("librosa").encode())
    for source in sorted(package.glob("*.py")):
        digest.update(source.name.encode() + source.read_bytes())
    return digest.hexdigest()


def to_plain(value: object) -> object:
    """A dataclass tree as JSON-ready dicts, lists and numbers (dict keys as strings)."""
    if isinstance(value, np.generic):
        return value.item()
    if dataclasses.is_dataclass(value):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def from_plain(kind: object, value: object) -> typing.Any:
    """The inverse of ``to_plain`` for a type: dataclasses, tuples, dicts, ``X | None``, numbers and strings.

    Raises:
        TypeError, ValueError, KeyError: the value does not have the type's shape.
    """
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise TypeError(f"{kind.__name__}: an object expected")
        hints = typing.get_type_hints(kind)
        known = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{name: from_plain(hints[name], item) for name, item in value.items() if name in known})
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return from_plain(inner, value)
    if origin is tuple:
        return tuple(from_plain(args[0], item) for item in _list(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise TypeError("an object expected")
        return {from_plain(args[0], k): from_plain(args[1], v) for k, v in value.items()}
    if kind in (int, float, str, bool):
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, str):
            return int(value)  # a dict key
        if not isinstance(value, kind) or isinstance(value, bool) != (kind is bool):
            raise TypeError(f"{kind.__name__} expected, got {type(value).__name__}")
        return value
    raise TypeError(f"cannot read {kind!r}")


def _list(value: object) -> list:
    if not isinstance(value, list):
        raise TypeError("a list expected")
    return value
