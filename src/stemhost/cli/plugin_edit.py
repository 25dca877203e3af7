"""``stemhost plugins edit SESSION STRIP INDEX``: open a plugin's editor and keep the sound in the session."""

from __future__ import annotations

import argparse

from stemhost.cli.arguments import plugin_folders
from stemhost.errors import SessionError

PLUGIN_TYPES = ("VST3Plugin", "AudioUnitPlugin")


def add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    """SESSION STRIP INDEX and --plugin-path, for ``plugins edit``."""
    from pathlib import Path

    from stemhost.cli.arguments import plugin_path_argument

    parser.add_argument("session", type=Path, help="the session file to write the plugin's state into")
    parser.add_argument("strip", help="a stem's or bus's name, or master")
    parser.add_argument("index", type=int, help="the plugin's position in that strip's chain, from 0")
    plugin_path_argument(parser)
    parser.set_defaults(run=edit)


def edit(args: argparse.Namespace) -> int:
    from stemhost.engine.plugin_editor import edit_in_child, needs_display
    from stemhost.engine.plugin_folders import resolve_plugin
    from stemhost.session.files import chain_entry_path, load_session, set_plugin_capture
    from stemhost.session.validation import read_json

    load_session(args.session)  # a session that loads, before anything runs
    data = read_json(args.session)
    chain, where = chain_entry_path(data, args.strip, args.index, args.session.name)
    entry = chain[args.index]
    if entry.get("type") not in PLUGIN_TYPES:
        raise SessionError(f"{where}: a {entry.get('type')} has no editor window; give the index of a VST3Plugin entry")
    folders = plugin_folders(args)
    resolve_plugin(entry["path_to_plugin_file"], entry["type"], folders, where)  # the trust rule, before any child
    reason = needs_display()
    if reason:
        raise SessionError(f"{where}: {reason}")
    print(f"opening {entry['path_to_plugin_file']}'s editor; close its window to keep the sound")
    captured = edit_in_child({"entry": entry, "folders": [str(f) for f in folders], "where": where})
    set_plugin_capture(args.session, args.strip, args.index, captured)
    print(f"wrote the plugin's state into {where}")
    return 0
