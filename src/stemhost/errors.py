"""Error and warning types. Each message names the file, the JSON path and the fix."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable


class StemhostError(Exception):
    """Base class of every error stemhost reports to the user."""


class SessionError(StemhostError, ValueError):
    """A session or preset file is malformed, inconsistent or asks for something impossible."""


class AudioFileError(StemhostError, OSError):
    """An audio file is missing, unreadable, empty, not audio, or holds non-finite samples."""


class OutputError(StemhostError, OSError):
    """The output cannot be written where or how it was asked for."""


class DeviceError(StemhostError, RuntimeError):
    """An audio device cannot be opened or has gone away."""


class FitError(StemhostError, ValueError):
    """No key shift puts a melody into the singer's range."""


class ClusterError(StemhostError, RuntimeError):
    """A Dask cluster cannot be reached or used."""


class PluginError(StemhostError, LookupError):
    """A third-party plugin is not installed where stemhost may load it from, or cannot be scanned."""


class StemhostWarning(UserWarning):
    """A soft problem the caller should hear of (a preset entry matching no stem, a file kept); the CLI prints
    each as one ``warning: ...`` line."""


def warn(message: str) -> None:
    """Issue a :class:`StemhostWarning` through :mod:`warnings`, so the caller decides how it is shown."""
    warnings.warn(message, StemhostWarning, stacklevel=3)


def did_you_mean(word: str, choices: Iterable[str], n: int = 1, cutoff: float = 0.6) -> str:
    """``"did you mean 'bass'?"`` for the nearest choices to a mistyped word (case-insensitive), or ``""``.

    A choice equal to the word but for case comes first; otherwise difflib's closest, at most n of them.
    """
    options = list(dict.fromkeys(choices))
    same = [c for c in options if c.lower() == word.lower() and c != word]
    by_lower = {c.lower(): c for c in reversed(options)}
    close = [by_lower[c] for c in difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=cutoff)]
    nearest = list(dict.fromkeys(same + [c for c in close if c != word]))[:n]
    if not nearest:
        return ""
    return f"did you mean {' or '.join(repr(c) for c in nearest)}?"
