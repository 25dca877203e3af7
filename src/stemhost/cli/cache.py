"""``stemhost cache``: show or clear the cache of key-shifted and stretched stems and of song analyses."""

from __future__ import annotations

import argparse


def cache(args: argparse.Namespace) -> int:
    from stemhost.engine.cache import StemCache

    stems = StemCache.default()
    if args.action == "clear":
        cleared = stems.clear()
        count = _counted(cleared.entries, cleared.records)
        print(f"cleared {stems.folder}: {count} removed, {cleared.bytes / 2**20:.1f} MiB freed")
    else:
        count = _counted(len(stems.entries()), len(stems.records()))
        print(f"{stems.folder}: {count}, {stems.size_bytes() / 2**20:.1f} MiB")
    return 0


def _counted(stems: int, analyses: int) -> str:
    text = f"{stems} stem{'s' if stems != 1 else ''}"
    return text + (f", {analyses} song analys{'es' if analyses != 1 else 'is'}" if analyses else "")
