"""Where third-party plugins may come from: the user's plugin folders, and nothing else.

A plugin is native code that runs with the user's rights, so a session or preset (perhaps from someone
else) may name only plugins that lie inside the folders the user installs plugins into, once every
symbolic link is resolved: the standard VST3 (and on macOS Audio Unit) folders of the OS, the folders in
``$STEMHOST_PLUGIN_PATH`` (separated by ``os.pathsep``) and those given with ``--plugin-path DIR``. A
bundle beside a downloaded session, a ``../`` path or a link leading out is refused before any of its code
is loaded.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from stemhost.errors import SessionError

PATH_VARIABLE = "STEMHOST_PLUGIN_PATH"
BUNDLE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "VST3Plugin": (".vst3",),
    "AudioUnitPlugin": (".component",),
}
ALLOW_HINT = f"install it into a plugin folder, or allow its folder with --plugin-path DIR or ${PATH_VARIABLE}"


def standard_folders(platform: str = sys.platform) -> list[Path]:
    """The OS's own plugin folders (VST3, and on macOS the Audio Unit ``Components`` folders)."""
    home = Path.home()
    if platform == "darwin":
        return [
            home / "Library/Audio/Plug-Ins/VST3",
            Path("/Library/Audio/Plug-Ins/VST3"),
            home / "Library/Audio/Plug-Ins/Components",
            Path("/Library/Audio/Plug-Ins/Components"),
        ]
    if platform.startswith("win"):
        common = os.environ.get("COMMONPROGRAMFILES", r"C:\Program Files\Common Files")
        return [Path(common) / "VST3"]
    return [home / ".vst3", Path("/usr/lib/vst3"), Path("/usr/local/lib/vst3")]


def plugin_folders(extra: Iterable[Path] = ()) -> list[Path]:
    """Every folder plugins may be loaded from, resolved, without repeats: the OS's, $STEMHOST_PLUGIN_PATH's,
    then ``extra`` (``--plugin-path``). Folders that do not exist are kept (nothing lies inside them)."""
    listed = [*standard_folders()]
    listed += [Path(p) for p in os.environ.get(PATH_VARIABLE, "").split(os.pathsep) if p.strip()]
    listed += [Path(p) for p in extra]
    folders: list[Path] = []
    for folder in listed:
        resolved = Path(os.path.realpath(os.path.expanduser(folder)))
        if resolved not in folders:
            folders.append(resolved)
    return folders


def inside(path: Path, folders: Sequence[Path]) -> bool:
    """Whether a path, every link resolved, lies inside one of the (resolved) folders."""
    real = Path(os.path.realpath(path))
    return any(real != folder and real.is_relative_to(folder) for folder in folders)


def bundles(folders: Sequence[Path], kind: str = "VST3Plugin") -> list[Path]:
    """The plugin bundles inside the folders (searched two levels deep, as hosts do for vendor sub-folders),
    only those that stay inside a folder once links are resolved; sorted by name."""
    suffixes = BUNDLE_SUFFIXES[kind]
    found: dict[Path, Path] = {}
    for folder in folders:
        for pattern in ("*", "*/*"):
            for candidate in folder.glob(pattern):
                if candidate.suffix.lower() in suffixes and inside(candidate, folders):
                    found.setdefault(Path(os.path.realpath(candidate)), candidate)
    return sorted(found.values(), key=lambda p: (p.name.lower(), str(p)))


def resolve_plugin(path_to_plugin_file: str, kind: str, folders: Sequence[Path], where: str) -> Path:
    """The bundle a chain entry names, checked to lie inside the plugin folders.

    Args:
        path_to_plugin_file: a bundle name (``ZamEQ2.vst3``, or ``ZamEQ2``) found in the folders, or an absolute
            path inside one of them.
        kind: ``'VST3Plugin'`` or ``'AudioUnitPlugin'``.
        folders: the resolved plugin folders (:func:`plugin_folders`).
        where: the entry's location for messages (``session.json: stems[0].chain[1]``).

    Raises:
        SessionError: the bundle lies outside every folder, or no folder holds one of that name (with the
            nearest installed names).
    """
    field = f"{where}.path_to_plugin_file"
    given = Path(path_to_plugin_file)
    if given.is_absolute():
        if not inside(given, folders):
            raise SessionError(
                f"{field}: {path_to_plugin_file!r} lies outside the plugin folders "
                f"({', '.join(str(f) for f in folders)}); {ALLOW_HINT}"
            )
        if not given.exists():
            raise SessionError(f"{field}: {path_to_plugin_file!r} does not exist; check the path or reinstall it")
        return given
    if len(given.parts) != 1 or given.name in (".", ".."):
        raise SessionError(
            f"{field}: {path_to_plugin_file!r} is neither a bundle name nor an absolute path; "
            f"write the bundle's name (e.g. 'ZamEQ2.vst3') and keep it in a plugin folder"
        )
    installed = bundles(folders, kind)
    wanted = {given.name.lower(), (given.name + BUNDLE_SUFFIXES[kind][0]).lower()}
    for bundle in installed:
        if bundle.name.lower() in wanted:
            return bundle
    names = [b.name for b in installed]
    nearest = difflib.get_close_matches(given.name, names, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(repr(n) for n in nearest)}? " if nearest else ""
    raise SessionError(
        f"{field}: no plugin folder holds {path_to_plugin_file!r} ({len(names)} installed); {hint}{ALLOW_HINT}"
    )
