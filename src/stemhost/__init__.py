"""stemhost: a multitrack backing-track host built on pedalboard.

The public API, usable as a library as pedalboard is::

    from pathlib import Path
    import stemhost

    song = Path("songs/silver-sand/session.json")
    session = stemhost.load_session(song)
    session = stemhost.apply_preset(session, *stemhost.load_preset("karaoke"))
    session = session.model_copy(update={"key_shift": -2.0})  # any field of the session format
    result = stemhost.render_session(session, song, Path("out/karaoke.wav"), stemhost.RenderOptions(bit_depth="24"))
    print(f"{result.duration_s:.1f} s at {result.loudness_lufs:.1f} LUFS")
    analysis = stemhost.analyze_session(session, song)  # key, tempo, stem levels, the lead vocal's range

Names load on first use, so ``import stemhost`` (and the session layer) stays free of audio libraries.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

from stemhost.errors import (  # noqa: E402
    AudioFileError,
    ClusterError,
    DeviceError,
    OutputError,
    SessionError,
    StemhostError,
    StemhostWarning,
)

_LAZY = {  # public name → the module that defines it
    "SessionAnalysis": "stemhost.analysis",
    "PlayOptions": "stemhost.live.play",
    "Player": "stemhost.live.player",
    "Preset": "stemhost.session.presets",
    "RenderOptions": "stemhost.render.driver",
    "RenderResult": "stemhost.render.driver",
    "Session": "stemhost.session.model",
    "analyze_session": "stemhost.analysis",
    "apply_preset": "stemhost.session.presets",
    "export_pack": "stemhost.packs.export",
    "load_preset": "stemhost.session.presets",
    "load_session": "stemhost.session.files",
    "play_headless": "stemhost.live.play",
    "render_session": "stemhost.render.driver",
}

__all__ = [  # sorted; a test checks every name resolves
    "AudioFileError",
    "ClusterError",
    "DeviceError",
    "OutputError",
    "PlayOptions",
    "Player",
    "Preset",
    "RenderOptions",
    "RenderResult",
    "Session",
    "SessionAnalysis",
    "SessionError",
    "StemhostError",
    "StemhostWarning",
    "__version__",
    "analyze_session",
    "apply_preset",
    "export_pack",
    "load_preset",
    "load_session",
    "play_headless",
    "render_session",
]

if TYPE_CHECKING:
    from stemhost.analysis import SessionAnalysis, analyze_session
    from stemhost.live.play import PlayOptions, play_headless
    from stemhost.live.player import Player
    from stemhost.packs.export import export_pack
    from stemhost.render.driver import RenderOptions, RenderResult, render_session
    from stemhost.session.files import load_session
    from stemhost.session.model import Session
    from stemhost.session.presets import Preset, apply_preset, load_preset


def __getattr__(name: str) -> object:
    """Load a public name's module on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module 'stemhost' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
