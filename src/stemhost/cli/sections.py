"""``stemhost sections``: list a session's sections, or import them from an Audacity label track."""

from __future__ import annotations

import argparse
from pathlib import Path

from stemhost.cli.arguments import add_command


def add_sections_command(commands: argparse._SubParsersAction) -> None:
    sections = add_command(commands, "sections", "list a session's sections, or import them from a marker file")
    sections.add_argument("session", type=Path, help="the session.json file")
    sections.add_argument(
        "--import",
        dest="labels",
        type=Path,
        metavar="LABELS.txt",
        help="write the session's sections from an Audacity label track (start, end, label per line; tab-separated)",
    )
    sections.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from stemhost.session.files import load_session, set_fields
    from stemhost.units import format_time

    session = load_session(args.session)
    if args.labels is not None:
        from stemhost.engine.compile import probe_stems
        from stemhost.session.markers import read_labels

        length_s = max(info.frames / info.sample_rate for info in probe_stems(session, args.session))
        found = read_labels(args.labels, length_s)
        set_fields(args.session, {"sections": found})
        print(f"wrote {len(found)} section{'s' * (len(found) != 1)} from {args.labels} into {args.session}:")
        session = load_session(args.session)
    elif not session.sections:
        print(f"{args.session}: no sections (import them: stemhost sections {args.session} --import LABELS.txt)")
    for section in session.sections:
        print(f"  {format_time(section.start_s)}  {section.name}")
    return 0
