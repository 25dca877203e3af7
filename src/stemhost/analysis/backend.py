"""Lazy access to librosa, with numba's compiled code cached on disk.

librosa compiles its numba kernels on first use (measured: about 40 s for pYIN's). Numba can keep the
compiled code on disk, where ``NUMBA_CACHE_DIR`` says; numba reads that variable when it is first
imported, so it is set here before librosa (and with it numba) is imported. Nothing here runs at import
time: ``stemhost render`` never loads librosa.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import ModuleType

from stemhost.steps import Steps


def numba_cache_dir() -> Path:
    """Where numba keeps compiled code: ``$NUMBA_CACHE_DIR``, else ``<user cache>/stemhost/numba``.

    The user cache folder is platformdirs' (``$XDG_CACHE_HOME`` or ``~/.cache`` on Linux).
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return Path(os.environ["NUMBA_CACHE_DIR"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("stemhost")) / "numba"


def load_librosa() -> ModuleType:
    """Import librosa, pointing numba's on-disk cache at a user folder first.

    When numba is already imported (by the caller) its cache setting stays as it was. An unwritable
    cache folder only costs the compile time on every run.
    """
    if "numba" not in sys.modules and not os.environ.get("NUMBA_CACHE_DIR"):
        folder = numba_cache_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass
        else:
            os.environ["NUMBA_CACHE_DIR"] = str(folder)
    if "librosa" in sys.modules:
        return sys.modules["librosa"]
    with Steps("loading the analysis libraries (compiling on first use, up to a minute)"):
        import librosa

        _warm_up(librosa)
    return librosa


def _warm_up(librosa: ModuleType) -> None:
    """Run the numba-compiled code the analysis uses once on half a second of noise, so that it is compiled (or
    read from numba's cache) inside the step that says so, not silently in the middle of the first stem."""
    import numpy as np

    sr = 22050
    y = (0.1 * np.random.default_rng(0).standard_normal(sr // 2)).astype(np.float32)
    librosa.pyin(y, fmin=80.0, fmax=1000.0, sr=sr, frame_length=2048)
    librosa.estimate_tuning(y=y, sr=sr, bins_per_octave=12)
    onsets = librosa.onset.onset_strength(y=y, sr=sr)
    librosa.onset.onset_detect(onset_envelope=onsets, sr=sr)
