"""``stemhost cache``: show, verify or clear the cache of key-shifted and stretched stems and of song analyses."""

from __future__ import annotations

import argparse


def cache(args: argparse.Namespace) -> int:
    from stemhost.engine.cache import StemCache
    from stemhost.engine.cache_limit import cache_max

    stems = StemCache.default()
    if args.action == "clear":
        cleared = stems.clear()
        count = _counted(cleared.entries, cleared.records)
        print(f"cleared {stems.folder}: {count} removed, {cleared.bytes / 2**20:.1f} MiB freed")
    elif args.action == "verify":
        verified = stems.verify()
        for name in verified.damaged:
            print(f"damaged: {stems.folder / name}")
        kept = len(verified.damaged) - verified.removed
        print(
            f"verified {stems.folder}: {verified.entries} entr{'ies' if verified.entries != 1 else 'y'}, "
            f"{len(verified.damaged)} damaged ({verified.removed} removed"
            + (f", {kept} kept: the cache is read-only" if kept else "")
            + ")"
            + (f", {verified.restamped} stamped again (copied or restored)" if verified.restamped else "")
        )
        return 1 if kept else 0
    else:
        count = _counted(len(stems.entries()), len(stems.records()))
        limit = cache_max()
        print(
            f"{stems.folder}: {count}, {stems.size_bytes() / 2**20:.1f} MiB of {limit / 2**20:.0f} MiB (STEMHOST_CACHE_MAX)"
        )
    return 0


def _counted(stems: int, analyses: int) -> str:
    text = f"{stems} stem{'s' if stems != 1 else ''}"
    return text + (f", {analyses} song analys{'es' if analyses != 1 else 'is'}" if analyses else "")
