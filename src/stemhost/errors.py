"""Error and warning types. Each message names the file, the JSON path and the fix."""

from __future__ import annotations

import warnings


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
