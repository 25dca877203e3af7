"""``stemhost cache``: show or clear the cache of key-shifted and stretched stems."""

from __future__ import annotations

import argparse


def cache(args: argparse.Namespace) -> int:
    from stemhost.engine.cache import StemCache

    stems = StemCache.default()
    if args.action == "clear":
        cleared = stems.clear()
        count = f"{cleared.entries} stem{'s' if cleared.entries != 1 else ''}"
        print(f"cleared {stems.folder}: {count} removed, {cleared.bytes / 2**20:.1f} MiB freed")
    else:
        entries = len(stems.entries())
        print(f"{stems.folder}: {entries} stem{'s' if entries != 1 else ''}, {stems.size_bytes() / 2**20:.1f} MiB")
    return 0
