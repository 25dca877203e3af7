"""Loading a third-party plugin a chain entry names: trust first, then the bundle, then its code, state and values.

The order is the point: the bundle is found in (or checked to lie inside) the plugin folders before
anything in it runs (:func:`~stemhost.engine.plugin_folders.resolve_plugin`); its layout and
architecture are checked before its library is opened; its state and parameters are checked and set
before any audio is read. Every failure is one :class:`SessionError` line naming the entry.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import platform
import sys
from collections.abc import Sequence
from pathlib import Path

import pedalboard

from stemhost.engine.plugin_folders import resolve_plugin
from stemhost.engine.plugin_values import apply_parameter_values
from stemhost.errors import SessionError, warn
from stemhost.session.effects import AudioUnitPlugin, ThirdPartyPlugin

VST3_STATE_HEADER = b"VC2!"  # pedalboard (JUCE) writes a VST3 plugin's raw_state in this envelope
LINUX_ARCHITECTURES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def linux_architecture(machine: str | None = None) -> str:
    """The folder a VST3 bundle keeps this machine's library in: ``x86_64-linux``, ``aarch64-linux``, ..."""
    machine = (machine or platform.machine()).lower()
    if machine in ("i386", "i486", "i586", "i686"):
        return "i386-linux"
    return f"{LINUX_ARCHITECTURES.get(machine, machine)}-linux"


def check_bundle(bundle: Path, field: str, platform_name: str = sys.platform) -> None:
    """Refuse a path that is not a VST3 bundle, or a bundle built for another architecture (Linux layout:
    ``NAME.vst3/Contents/<arch>-linux/NAME.so``; on macOS ``Contents/MacOS``). Opens no library."""
    if platform_name == "darwin":
        if not (bundle / "Contents" / "MacOS").is_dir():
            raise SessionError(f"{field}: {str(bundle)!r} is not a plugin bundle (no Contents/MacOS); reinstall it")
        return
    if not platform_name.startswith("linux"):
        return
    contents = bundle / "Contents"
    if not bundle.is_dir() or not contents.is_dir():
        raise SessionError(
            f"{field}: {str(bundle)!r} is not a VST3 bundle (a folder NAME.vst3/Contents/<arch>-linux/NAME.so); "
            f"reinstall the plugin"
        )
    here = linux_architecture()
    if not any((contents / here).glob("*.so")):
        others = sorted(p.name for p in contents.glob("*-linux") if any(p.glob("*.so")))
        built = f"is built for {', '.join(others)}, not {here}" if others else f"holds no {here}/*.so library"
        raise SessionError(f"{field}: {str(bundle)!r} {built}; install the plugin's {here} build")


def decode_state(entry: ThirdPartyPlugin, where: str) -> bytes | None:
    """The entry's ``raw_state`` as bytes, checked to be base64 (and, for VST3, pedalboard's state envelope)."""
    if entry.raw_state is None:
        return None
    field = f"{where}.raw_state"
    try:
        state = base64.b64decode(entry.raw_state.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SessionError(f"{field}: not base64 ({exc}); paste base64 of the plugin's raw_state") from exc
    if entry.type == "VST3Plugin" and not state.startswith(VST3_STATE_HEADER):
        raise SessionError(
            f"{field}: not a VST3 plugin state pedalboard wrote (it starts {state[:4]!r}, not {VST3_STATE_HEADER!r}); "
            f"save it from pedalboard's VST3Plugin.raw_state"
        )
    return state


def load_third_party(
    entry: ThirdPartyPlugin, folders: Sequence[Path], where: str, platform_name: str = sys.platform
) -> pedalboard.Plugin:
    """Load the plugin a chain entry names, with its ``raw_state`` then its ``parameter_values`` applied.

    Args:
        entry: a ``VST3Plugin`` or ``AudioUnitPlugin`` entry.
        folders: the resolved plugin folders (:func:`~stemhost.engine.plugin_folders.plugin_folders`).
        where: the entry's location (``session.json: stems[0].chain[1]``).

    Raises:
        SessionError: outside the folders, not found, not a bundle, another architecture, a plugin name the
            bundle does not hold, failing to load, an instrument, a bad state or a bad parameter value.
    """
    if isinstance(entry, AudioUnitPlugin) and platform_name != "darwin":
        raise SessionError(
            f"{where}: AudioUnitPlugin: Audio Units exist on macOS only; use the plugin's VST3 build (VST3Plugin)"
        )
    state = decode_state(entry, where)
    bundle = resolve_plugin(entry.path_to_plugin_file, entry.type, folders, where)  # trust: before any code runs
    field = f"{where}.path_to_plugin_file"
    check_bundle(bundle, field, platform_name)
    check_scanned(bundle, entry.type, folders, field)  # its code runs in a child process first: a crash stays there
    kind = getattr(pedalboard, entry.type)
    try:
        names = list(kind.get_plugin_names_for_file(str(bundle)))
    except (ImportError, RuntimeError, ValueError) as exc:
        raise SessionError(f"{field}: {str(bundle)!r} cannot be loaded ({exc}); reinstall the plugin") from exc
    name = _plugin_name(entry, names, where)
    try:
        plugin = kind(str(bundle), plugin_name=name)
    except (ImportError, RuntimeError, ValueError) as exc:
        raise SessionError(f"{field}: {str(bundle)!r} failed to start ({exc}); reinstall or update it") from exc
    if plugin.is_instrument and not plugin.is_effect:
        raise SessionError(f"{field}: {plugin.name!r} is an instrument, not an effect; a chain takes effects only")
    if state is not None:
        try:
            plugin.raw_state = state
        except (RuntimeError, ValueError) as exc:
            raise SessionError(f"{where}.raw_state: {plugin.name!r} rejected it ({exc}); save it again") from exc
    apply_parameter_values(plugin, entry.parameter_values, where)
    return plugin


def check_scanned(bundle: Path, kind: str, folders: Sequence[Path], field: str) -> None:
    """Refuse a bundle that crashed when scanned in a separate process (scanned now if it never was; cached).

    A plugin that aborts while loading would take stemhost down with it; one that took too long to scan
    (Debian's ZamVerb takes minutes) is loaded anyway, after a warning.
    """
    from stemhost.engine.plugin_scan import list_plugins

    scanned = list_plugins(folders, only=[bundle]).plugins
    failures = [p.error for p in scanned if p.failed]
    if failures and len(failures) == len(scanned):
        reason = failures[0]
        if reason.startswith("did not load within"):
            warn(f"{field}: {bundle.name} {reason} when scanned; loading it anyway, which may take as long")
            return
        raise SessionError(
            f"{field}: {bundle.name} failed when scanned in a separate process ({reason}); stemhost does not load "
            "it. Update or remove the plugin, then run `stemhost plugins --rescan`"
        )


def _plugin_name(entry: ThirdPartyPlugin, names: list[str], where: str) -> str | None:
    """The plugin of the bundle to load: the entry's ``plugin_name``, which must be one the bundle holds."""
    field = f"{where}.plugin_name"
    listed = ", ".join(repr(n) for n in names)
    if entry.plugin_name is None:
        if len(names) > 1:
            raise SessionError(f"{field}: the bundle holds {len(names)} plugins ({listed}); name one")
        return None
    if entry.plugin_name not in names:
        nearest = difflib.get_close_matches(entry.plugin_name, names, n=1, cutoff=0.5)
        hint = f"did you mean {nearest[0]!r}? " if nearest else ""
        raise SessionError(f"{field}: the bundle holds no plugin {entry.plugin_name!r}; {hint}it holds {listed}")
    return entry.plugin_name
