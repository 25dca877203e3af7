"""Commands that make many files: ``export`` (a pack of variants) and ``batch`` (a catalog on Dask)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stemhost.cli.arguments import prepared_session, render_options


def export(args: argparse.Namespace) -> int:
    from stemhost.cli.progress import render_progress
    from stemhost.packs.export import export_pack
    from stemhost.session.variants import parse_variants
    from stemhost.units import format_time

    session = prepared_session(args)
    variants = parse_variants(args.variants, session)
    counts = {True: 0, False: 0}

    def print_entry(entry, rendered: bool) -> None:
        counts[rendered] += 1
        loudness = "silent" if entry.loudness_lufs is None else f"{entry.loudness_lufs:.1f} LUFS"
        what = "wrote" if rendered else "up to date"
        print(
            f"  {what:<10} {entry.file}  (key {entry.key:+g}, tempo {entry.tempo:g}, "
            f"{format_time(entry.duration_s)}, {loudness})"
        )

    with render_progress(f"{len(variants)} variants") as progress:
        export_pack(
            session, args.session, variants, args.output, f".{args.format}", render_options(args), args.force,
            progress, print_entry,
        )  # fmt: skip
    print(
        f"wrote {counts[True]} file{'s' if counts[True] != 1 else ''} into {args.output} "
        f"({counts[False]} up to date), listed in {args.output / 'manifest.json'}"
    )
    return 0


def batch(args: argparse.Namespace) -> int:
    from stemhost.cli.progress import batch_progress
    from stemhost.packs.batch import run_catalog
    from stemhost.packs.catalog import MANIFEST, count_statuses, plan_catalog

    def load(path: Path):
        return prepared_session(args, path)

    extension, options = f".{args.format}", render_options(args)
    plan = plan_catalog(args.catalog, args.output, args.variants, extension, options, load, args.force)
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else "a local Dask cluster"
    print(f"{len(plan.jobs)} renders of {plan.songs} songs on {where}", file=sys.stderr)
    with batch_progress(plan.jobs) as advance:
        results = run_catalog(plan, args.scheduler, args.workers, advance)
    for result in results:
        for warning in result.warnings:
            print(f"warning: {result.file}: {warning}", file=sys.stderr)
    for result in (r for r in results if r.status == "failed"):
        print(f"failed: {result.file}: {result.error}", file=sys.stderr)
    counts = count_statuses(results)
    print(
        f"done {counts['done']}, skipped {counts['skipped']}, failed {counts['failed']}; "
        f"listed in {args.output / MANIFEST}"
    )
    return 1 if counts["failed"] else 0
