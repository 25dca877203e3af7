"""Commands that listen to a song: ``analyze`` and ``fit`` (and ``render --fit``'s choice of key)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from stemhost.cli.arguments import check_output, prepared_session
from stemhost.errors import SessionError


def analyze(args: argparse.Namespace) -> int:
    from stemhost.analysis.stored import cached_analysis
    from stemhost.analysis.text import analysis_lines

    session = prepared_session(args)
    to_file = args.json is not None and str(args.json) != "-"
    if to_file:
        check_output(args, session, args.json, f"--json {str(args.json)!r}")
    analysis = cached_analysis(session, args.session)
    figures = analysis.to_dict()
    if args.json is not None and not to_file:
        print(json.dumps(figures, indent=2))
        if args.apply:  # stdout holds the JSON alone
            print(apply_analysis(args.session, analysis), file=sys.stderr)
        return 0
    print("\n".join(analysis_lines(analysis, session.key_shift, session.tempo)))
    if args.apply:
        print(apply_analysis(args.session, analysis))
    if to_file:
        from stemhost.ownership import write_json_atomic

        write_json_atomic(args.json, figures, f"--json {str(args.json)!r}")
        print(f"wrote {args.json}")
    return 0


def apply_analysis(session_path: Path, analysis) -> str:
    """Write the detected key and grid into the session's ``key``, ``bpm``, ``time_signature`` and
    ``first_downbeat_s`` fields (what was not found is left). ``bpm`` is the grid's fitted beat when there is
    a grid, else the tempo estimate."""
    from stemhost.session.files import set_fields

    found = {}
    if analysis.key is not None:
        found["key"] = analysis.key.name
    bpm = analysis.beat_bpm if analysis.beat_bpm is not None else analysis.tempo_bpm
    if bpm is not None:
        found["bpm"] = round(bpm, 2)
    if analysis.time_signature is not None and analysis.first_downbeat_s is not None:
        found["time_signature"] = analysis.time_signature
        found["first_downbeat_s"] = round(analysis.first_downbeat_s, 3)
    if not found:
        raise SessionError(
            f'{session_path}: analyze --apply: no key and no tempo were found in the stems; set "key" and '
            '"bpm" in the session by hand'
        )
    set_fields(session_path, found)
    missed = [name for name in ("key", "bpm") if name not in found]
    if "bpm" in found and "time_signature" not in found:
        missed.append("grid")
    shown = ", ".join(
        f"{name} {value!r}" if isinstance(value, str) else f"{name} {value:g}" for name, value in found.items()
    )
    return f"wrote {shown} into {session_path}" + (f" (no {', no '.join(missed)} found)" if missed else "")


def fit(args: argparse.Namespace) -> int:
    session = prepared_session(args)
    choice, key = fitted(session, args.session, args.range or args.voice)
    if args.apply:
        from stemhost.session.files import set_key_shift

        set_key_shift(args.session, choice.shift)
        print(f"wrote key_shift {choice.shift:+d} into {args.session}")
    return 0


def fitted(session, session_path: Path, spec: str):
    """Analyse the lead vocal (or take its cached analysis), choose the key shift that fits it into a range or
    voice type, and print the choice.

    Returns:
        (the fit_key choice, the song's key or None).

    Raises:
        FitError: no shift fits the melody into the range (the closest is printed first).
    """
    from stemhost.analysis.fit_report import fit_report

    report = fit_report(session, session_path, spec)
    print("\n".join(report.lines))
    report.check()
    return report.choice, report.key


def voices() -> list[str]:
    """The voice types ``fit --voice`` knows, with their ranges."""
    from stemhost.session.notes import VOICE_RANGES

    return [f"{name} ({low}-{high})" for name, (low, high) in VOICE_RANGES.items()]
