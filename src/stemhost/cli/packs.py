"""Commands that make many files: ``export`` (a pack of variants) and ``batch`` (a catalog on Dask)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from stemhost.cli.arguments import prepared_session, render_options
from stemhost.errors import StemhostError


def export(args: argparse.Namespace) -> int:
    from stemhost.cli.progress import render_progress
    from stemhost.packs.export import export_pack
    from stemhost.session.variants import parse_variants
    from stemhost.units import format_time

    session = prepared_session(args)
    variants = parse_variants(args.variants, session)
    counts = {True: 0, False: 0}

    def report(entry, rendered: bool) -> None:
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
            progress, report,
        )  # fmt: skip
    print(
        f"wrote {counts[True]} file{'s' if counts[True] != 1 else ''} into {args.output} "
        f"({counts[False]} up to date), listed in {args.output / 'manifest.json'}"
    )
    return 0


def batch(args: argparse.Namespace) -> int:
    from stemhost.cli.progress import batch_progress
    from stemhost.ownership import remove_leftovers
    from stemhost.packs.batch import run_jobs
    from stemhost.packs.catalog import JobResult, find_sessions, plan_jobs, read_manifest
    from stemhost.render.outputs import make_output_folder, output_format
    from stemhost.session.variants import parse_variants

    extension = f".{args.format}"
    output_format(Path(f"x{extension}"), args.bit_depth, args.mp3)
    parse_variants(args.variants, None)  # a bad list fails once, before any song is read
    songs, failed = [], []
    for path in find_sessions(args.catalog):
        song = str(path.parent.relative_to(args.catalog))
        try:
            session = prepared_session(args, path)
            songs.append((song, path, session, parse_variants(args.variants, session)))
        except StemhostError as exc:  # a song that cannot even be planned fails alone
            failed.append(JobResult(song, "*", str(Path(song) / "session.json"), "failed", error=str(exc)))
    make_output_folder(args.output, "-o")
    options = replace(render_options(args), workers=1)  # one DSP thread per job: the cluster runs jobs side by side
    earlier = read_manifest(args.output)  # what an earlier run finished
    jobs = plan_jobs(songs, args.output, extension, options, earlier, args.force)
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else "a local Dask cluster"
    print(f"{len(jobs)} renders of {len(songs)} songs on {where}", file=sys.stderr)
    with batch_progress(jobs) as advance:
        results = run_jobs(jobs, args.output, earlier, args.scheduler, args.workers, advance, failed)
    remove_leftovers()  # what workers killed on this machine during the run left
    results += failed
    counts = {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
    for result in (r for r in results if r.status == "failed"):
        print(f"failed: {result.file}: {result.error}", file=sys.stderr)
    print(
        f"done {counts['done']}, skipped {counts['skipped']}, failed {counts['failed']}; "
        f"listed in {args.output / 'catalog.json'}"
    )
    return 1 if counts["failed"] else 0
