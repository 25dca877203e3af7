"""Build stemhost's own test plugins (tests/plugins/test_plugins.cpp) into VST3 bundles with Debian's dpf-source.

One g++ command per plugin (DPF's VST3 target; about 2 s each here). The bundles go into
``tests/plugins/build/<key>/`` (git-ignored), where the key is a hash of the sources and the compiler
command, so they are rebuilt only when either changes. A build is made in a temporary folder beside it and
renamed into place in one step: a half-built folder never carries the final name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SOURCES = Path(__file__).resolve().parent / "plugins"
BUILDS = SOURCES / "build"
DPF = Path(os.environ.get("STEMHOST_DPF_PATH", "/usr/share/dpf"))
PLUGINS = {  # bundle name: the macro that selects it in DistrhoPluginInfo.h
    "StemhostGain": "STEMHOST_GAIN",
    "StemhostLatency": "STEMHOST_LATENCY",
    "StemhostMono": "STEMHOST_MONO",
    "StemhostAbort": "STEMHOST_ABORT",
    "StemhostHang": "STEMHOST_HANG",
}
FLAGS = ["-std=gnu++11", "-O2", "-fPIC", "-DPIC", "-DNDEBUG", "-fvisibility=hidden", "-fvisibility-inlines-hidden"]


def missing_tools() -> list[str]:
    """What the build needs and this machine lacks (Debian packages: g++, dpf-source)."""
    missing = [] if shutil.which("g++") else ["g++"]
    return missing + ([] if (DPF / "distrho" / "DistrhoPluginMain.cpp").is_file() else ["dpf-source"])


def compile_command(name: str, output: Path) -> list[str]:
    """The one g++ command that builds a plugin's shared object."""
    return [
        "g++",
        *FLAGS,
        "-shared",
        "-DDISTRHO_PLUGIN_TARGET_VST3",
        f"-D{PLUGINS[name]}",
        f"-I{SOURCES}",
        f"-I{DPF / 'distrho'}",
        str(DPF / "distrho" / "DistrhoPluginMain.cpp"),
        str(SOURCES / "test_plugins.cpp"),
        f"-Wl,--version-script={DPF / 'utils' / 'symbols' / 'vst3.version'}",
        "-Wl,--no-undefined",
        "-o",
        str(output),
        "-lpthread",
        "-ldl",
    ]


def build_key() -> str:
    """A hash of the sources, DPF's version and the compiler command: the build folder's name."""
    digest = hashlib.sha256()
    for source in sorted(SOURCES.glob("*.[ch]*")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    for name in PLUGINS:
        digest.update(" ".join(compile_command(name, Path(name))).encode())
    version = subprocess.run(["g++", "--version"], capture_output=True, text=True).stdout.splitlines()[:1]
    digest.update(repr(version).encode())
    main = DPF / "distrho" / "src" / "DistrhoPluginVST3.cpp"
    digest.update(hashlib.sha256(main.read_bytes()).digest())
    return digest.hexdigest()[:16]


def binary(folder: Path, name: str) -> Path:
    """Where a bundle's shared object lies (Linux, x86-64 or another machine)."""
    return folder / f"{name}.vst3" / "Contents" / f"{os.uname().machine}-linux" / f"{name}.so"


def build_test_plugins() -> Path:
    """The folder holding the five test bundles, built if the sources or the command changed.

    Raises:
        RuntimeError: a build failed (with the compiler's message).
    """
    key = build_key()
    final = BUILDS / key
    if all(binary(final, name).is_file() for name in PLUGINS):
        return final
    BUILDS.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".tmp-", dir=BUILDS))
    try:
        with ThreadPoolExecutor(2) as pool:  # two cores
            list(pool.map(lambda name: _build_one(scratch, name), PLUGINS))
        try:
            scratch.rename(final)
        except OSError:  # another run finished first: keep its build
            if not all(binary(final, name).is_file() for name in PLUGINS):
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for old in BUILDS.iterdir():
        if old.name != key and not old.name.startswith("."):
            shutil.rmtree(old, ignore_errors=True)
    return final


def _build_one(folder: Path, name: str) -> None:
    output = binary(folder, name)
    output.parent.mkdir(parents=True)
    done = subprocess.run(compile_command(name, output), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"building test plugin {name} failed:\n{done.stderr[-4000:]}")
