"""``stemhost show SETLIST``: ``--check`` the set before the show, ``--render`` it into one file; ``schema``."""

from __future__ import annotations

import argparse
import sys

from stemhost.cli.arguments import (
    add_command,
    device_arguments,
    output_arguments,
    plugin_folders,
    plugin_path_argument,
)
from stemhost.units import format_time

SCHEMAS = ("session", "setlist", "singers")


def add_show_command(commands: argparse._SubParsersAction) -> None:
    from pathlib import Path

    show = add_command(commands, "show", "play a setlist live, check it, or render the whole set into one file")
    show.add_argument("setlist", type=Path, help="the setlist.json file")
    what = show.add_mutually_exclusive_group()
    what.add_argument("--check", action="store_true", help="check every song, stem, preset, key and singer")
    what.add_argument(
        "--render",
        type=Path,
        metavar="OUT",
        help="render the set, its count-ins and gaps as played, into OUT (.wav .flac .aiff .ogg .mp3)",
    )
    show.add_argument(
        "--stems-out",
        type=Path,
        metavar="DIR",
        help="with --render: also write DIR/bus-cue.wav (the click and count-ins), frame-aligned with OUT",
    )
    output_arguments(show)
    plugin_path_argument(show)
    device_arguments(show)
    show.add_argument(
        "--no-ui", action="store_true", help="play the show headless: song 1 at once, Ctrl-C stops (default: the view)"
    )
    show.add_argument("--midi", metavar="PORT", help="take MIDI control from this input port (next_song ...)")
    show.add_argument("--midi-map", type=Path, metavar="FILE", help="the MIDI mapping (JSON); needs --midi")
    show.set_defaults(run=run, parser=show)


def run(args: argparse.Namespace) -> int:
    if args.check:
        return check(args)
    if args.render is None:
        return live(args)
    return render(args)


def live(args: argparse.Namespace) -> int:
    """The live show: in the show view, or headless (song after song at once); a summary at the end."""
    import contextlib

    from stemhost.errors import SessionError
    from stemhost.live.devices import find_device
    from stemhost.session.setlists import load_setlist
    from stemhost.show.midi import listening, load_mapping
    from stemhost.show.runner import ShowControl, ShowRunner

    if args.midi_map is not None and args.midi is None:
        raise SessionError("--midi-map: give the MIDI input too (--midi PORT)")
    device = find_device(args.device)
    runner = ShowRunner(load_setlist(args.setlist), device, args.blocksize, plugin_folders=plugin_folders(args))
    rules = []
    if args.midi is not None:
        stems = sorted({stem.name for session, _ in runner.sessions.values() for stem in session.stems})
        rules = load_mapping(args.midi_map, stems, songs=True)
    if not args.no_ui:
        from stemhost.show.view import run_show_view

        run_show_view(runner, device.name, (args.midi, rules) if args.midi else None)
        print("\n".join(runner.summary()))
        return 0
    with listening(args.midi, rules, ShowControl(runner)) if args.midi else contextlib.nullcontext():
        try:
            runner.run()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    print("\n".join(runner.summary()))
    return 0


def check(args: argparse.Namespace) -> int:
    from stemhost.show.check import check_setlist

    found = check_setlist(args.setlist, plugin_folders(args))
    for problem in found.problems:
        print(f"error: {problem}", file=sys.stderr)
    if found.problems:
        songs = len(found.setlist.setlist.songs)
        many = len(found.problems)
        print(f"{args.setlist}: {many} problem{'s' if many > 1 else ''} in {songs} songs", file=sys.stderr)
        return 1
    for song in found.songs:
        count_in = f"count-in {song.count_in_bars} bar{'s' if song.count_in_bars != 1 else ''}"
        tempo = f", tempo {song.tempo:g}" if song.tempo != 1.0 else ""
        singer = f", sung by {song.singer}" if song.singer else ""
        print(
            f"{song.index + 1:>3}. {song.title}: {format_time(song.length_s)}, key {song.key_shift:+g}{tempo}"
            f"{singer}, {count_in}, gap {song.gap_s:g} s, then {song.advance}"
        )
    total = sum(song.length_s for song in found.songs)
    print(f"ok: {args.setlist} ({len(found.songs)} songs, {format_time(total)} of music)")
    return 0


def render(args: argparse.Namespace) -> int:
    from stemhost.cli.arguments import render_options
    from stemhost.cli.progress import render_progress
    from stemhost.cli.summary import print_summary
    from stemhost.show.render import render_show

    def on_song(place, result) -> None:
        start = format_time(place.start_frame / result.sample_rate)
        gap = f", then {place.gap_frames / result.sample_rate:g} s of silence" if place.gap_frames else ""
        clipped = f"; the master clipped {result.clips.samples} samples" if result.clips.samples else ""
        print(
            f"{place.index + 1:>3}. {place.title}: from {start}, "
            f"{format_time(place.frames / result.sample_rate)} ({place.frames} frames){gap}{clipped}"
        )

    with render_progress(args.render.name) as progress:
        shown = render_show(
            args.setlist, args.render, render_options(args), args.stems_out, _mastering(args), progress, on_song
        )
    if shown.cue is not None:
        print(f"wrote {shown.cue} (the cue bus: click and count-ins, aligned with the set)")
    print_summary(shown.result)
    return 0


def _mastering(args: argparse.Namespace):
    """--master and --loudness/--true-peak as a function mastering the joined set, or None."""
    if args.master is None and args.loudness is None and args.true_peak is None:
        return None
    from stemhost.session.presets import apply_preset, load_preset, override_preset

    def master(session):
        if args.master is not None:
            session = apply_preset(session, *load_preset(args.master))
        overrides = override_preset(session, loudness=args.loudness, true_peak=args.true_peak)
        return apply_preset(session, overrides, "command line", strict=True)

    return master


def schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema of the session format (the default), the setlist's or singers.json's."""
    import json

    from stemhost.cli.mix import schema as session_schema

    if args.format == "session":
        return session_schema(args)
    if args.format == "setlist":
        from stemhost.session.setlists import setlist_schema as made
    else:
        from stemhost.session.singers import singers_schema as made
    print(json.dumps(made(), indent=2))
    return 0
