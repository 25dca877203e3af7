"""``stemhost plugins``: list the third-party plugins in the plugin folders, and ``plugins show NAME``'s parameters."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from stemhost.cli.arguments import add_command
from stemhost.cli.plugin_edit import add_edit_arguments
from stemhost.engine.plugin_scan import SCAN_TIMEOUT_S
from stemhost.errors import PluginError


def add_plugins_command(commands: argparse._SubParsersAction) -> None:
    """``plugins [--json] [--rescan] [--plugin-path DIR ...] [--timeout S]`` and ``plugins show NAME [...]``."""
    plugins = add_command(commands, "plugins", "list the plugins in the plugin folders (scanned once, then cached)")
    _options(plugins, sub=False)
    plugins.set_defaults(run=list_command)
    actions = plugins.add_subparsers(title="actions", metavar="ACTION")
    show = actions.add_parser("show", help="show a plugin's parameters", description="Show a plugin's parameters.")
    show.add_argument("name", help="a plugin's name or its bundle's (e.g. ZamEQ2 or ZamEQ2.vst3)")
    _options(show, sub=True)
    show.set_defaults(run=show_command)
    edit = actions.add_parser(
        "edit",
        help="open a plugin's editor and write its state into the session",
        description="Open a session's plugin in its own editor window; when it closes, write the plugin's state "
        "into that chain entry.",
    )
    add_edit_arguments(edit)


def _options(parser: argparse.ArgumentParser, sub: bool) -> None:
    """The options of both forms; the sub-command's keep the values given before it (``default=SUPPRESS``)."""
    suppressed = sub
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS if suppressed else False, help="print JSON"
    )
    parser.add_argument(
        "--rescan",
        action="store_true",
        default=argparse.SUPPRESS if suppressed else False,
        help="scan every plugin again, ignoring the cache",
    )
    parser.add_argument(
        "--plugin-path",
        action="append",
        type=Path,
        default=argparse.SUPPRESS if suppressed else [],
        metavar="DIR",
        help="also look in this folder (repeatable; also $STEMHOST_PLUGIN_PATH)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=argparse.SUPPRESS if suppressed else None,
        metavar="SECONDS",
        help=f"how long one plugin may take to load while scanning (default {SCAN_TIMEOUT_S:g})",
    )


def list_command(args: argparse.Namespace) -> int:
    from stemhost.engine.plugin_folders import plugin_folders
    from stemhost.engine.plugin_scan import list_plugins

    folders = plugin_folders(args.plugin_path)
    listing = list_plugins(folders, rescan=args.rescan, **_timeout(args))
    if args.json:
        data = {"folders": [str(f) for f in folders], "plugins": [_summary(p) for p in listing.plugins]}
        print(json.dumps(data, indent=2))
        return 0
    rows = [("name", "vendor", "version", "format", "channels", "latency", "path")]
    rows += [_row(p) for p in listing.plugins]
    scanned = [r for r in rows if len(r) == len(rows[0])]
    widths = [max(len(r[i]) for r in (scanned if i else rows)) for i in range(len(rows[0]))]
    for row in rows:
        if len(row) == 3:  # a failed plugin: name, reason, path
            print(f"{row[0]:<{widths[0]}}  {row[1]}  {row[2]}")
        else:
            print("  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip())
    failed = sum(p.failed for p in listing.plugins)
    print(
        f"{len(listing.plugins)} plugins in {len(folders)} folders"
        + (f", {failed} failed to scan" if failed else "")
        + f"; {listing.scanned} bundles scanned, {listing.cached} from the cache"
    )
    return 0


def show_command(args: argparse.Namespace) -> int:
    from stemhost.engine.plugin_folders import bundles, plugin_folders
    from stemhost.engine.plugin_scan import find_plugins, list_plugins, plugin_kinds

    folders = plugin_folders(args.plugin_path)
    wanted = args.name.lower()
    named = [  # a bundle of that name is scanned alone; a plugin's own name needs the whole listing
        b for kind in plugin_kinds() for b in bundles(folders, kind) if wanted in (b.name.lower(), b.stem.lower())
    ]
    listing = list_plugins(folders, rescan=args.rescan, only=named or None, **_timeout(args))
    plugins = find_plugins(listing.plugins, args.name)
    for plugin in plugins:
        if plugin.failed:
            raise PluginError(f"{plugin.path}: {plugin.name} could not be scanned ({plugin.error})")
    if args.json:
        data = [p.to_dict() for p in plugins]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2))
        return 0
    for number, plugin in enumerate(plugins):
        if number:
            print()
        _print_parameters(plugin)
    return 0


def _timeout(args: argparse.Namespace) -> dict:
    if args.timeout is None:
        return {}
    if not args.timeout > 0:
        raise PluginError(f"--timeout {args.timeout!r}: give a positive number of seconds")
    return {"timeout_s": args.timeout}


def _summary(plugin) -> dict:
    data = plugin.to_dict()
    data.pop("parameters")
    return data


def _row(plugin) -> tuple[str, ...]:
    if plugin.failed:
        return (plugin.name, f"failed: {plugin.error}", plugin.path)
    latency = f"{plugin.latency_samples} frames" if plugin.latency_samples else "0"
    return (plugin.name, plugin.vendor, plugin.version, plugin.format, _channels(plugin), latency, plugin.path)


def _channels(plugin) -> str:
    if set(plugin.channel_counts) == {1, 2}:
        return "mono/stereo"
    if plugin.channels_in == plugin.channels_out:
        return {1: "mono", 2: "stereo"}.get(plugin.channels_in, f"{plugin.channels_in} ch")
    return f"{plugin.channels_in} in, {plugin.channels_out} out"


def _print_parameters(plugin) -> None:
    print(f"{plugin.name} ({plugin.vendor} {plugin.version}, {plugin.format}, {_channels(plugin)}) {plugin.path}")
    if not plugin.parameters:
        print("  no parameters")
        return
    rows = [("key", "unit", "range", "default", "kind")]
    for p in plugin.parameters:
        if p["kind"] == "choice":
            span, kind = ", ".join(p["choices"]), "choice"
        elif p["kind"] == "switch":
            span, kind = "off, on", "switch"
        else:
            span, kind = f"{p['minimum']:g} .. {p['maximum']:g}", "number"
        default = p["default"]
        if isinstance(default, bool):
            default = "on" if default else "off"
        elif isinstance(default, float):
            default = f"{default:g}"
        rows.append((p["key"], p["unit"], span, str(default), kind))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  " + "  ".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip())
