"""stemhost: a multitrack backing-track host built on pedalboard."""

from __future__ import annotations

__version__ = "0.1.0"

from stemhost.errors import (  # noqa: E402
    AudioFileError,
    ClusterError,
    DeviceError,
    OutputError,
    SessionError,
    StemhostError,
)

__all__ = [
    "AudioFileError",
    "ClusterError",
    "DeviceError",
    "OutputError",
    "SessionError",
    "StemhostError",
    "__version__",
]
