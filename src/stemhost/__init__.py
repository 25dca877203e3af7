"""stemhost: a multitrack backing-track host built on pedalboard."""

from __future__ import annotations

__version__ = "0.1.0"

from stemhost.errors import AudioFileError, DeviceError, OutputError, SessionError, StemhostError  # noqa: E402

__all__ = ["AudioFileError", "DeviceError", "OutputError", "SessionError", "StemhostError", "__version__"]
