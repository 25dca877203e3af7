"""What the commands share: argument groups, argument types, and the session and options they turn into."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from stemhost.errors import OutputError
from stemhost.limits import MAX_BLOCK_SIZE, MAX_SAMPLE_RATE, MIN_BLOCK_SIZE, MIN_SAMPLE_RATE


def add_command(commands: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary is also the first line of its own --help."""
    return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


def session_arguments(parser: argparse.ArgumentParser) -> None:
    """The session file, presets and the mix and transport overrides."""
    parser.add_argument("session", type=Path, help="the session.json file")
    parser.add_argument(
        "--preset", action="append", default=[], help="a bundled preset name or a preset file (repeatable)"
    )
    parser.add_argument("--mute", action="append", default=[], metavar="STEM", help="mute a stem, by name or role")
    parser.add_argument("--solo", action="append", default=[], metavar="STEM", help="solo a stem, by name or role")
    parser.add_argument("--gain", action="append", default=[], metavar="STEM=DB", help="set a stem's fader in dB")
    parser.add_argument("--pan", action="append", default=[], metavar="STEM=P", help="set a stem's pan, -1 to +1")
    from stemhost.cli.song import key_or_semitones

    parser.add_argument(
        "--key",
        type=key_or_semitones,
        metavar="KEY",
        help="move every pitched stem: semitones (-3, +1.5; -12 to +12) or a key (C, 'A minor', Eb: the nearest way, "
        "from the session's key or the song's analysis)",
    )
    way = parser.add_mutually_exclusive_group()
    way.add_argument("--up", dest="direction", action="store_const", const="up", help="--key NAME: go up to it")
    way.add_argument("--down", dest="direction", action="store_const", const="down", help="--key NAME: go down")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--tempo", type=number, metavar="FACTOR", help="playback speed, 0.5 to 2.0 (1.0 = original)")
    speed.add_argument(
        "--bpm", type=number, metavar="BPM", help="play at this tempo (from the session's bpm or the song's analysis)"
    )
    plugin_path_argument(parser)


def plugin_path_argument(parser: argparse.ArgumentParser) -> None:
    """--plugin-path DIR: one more folder third-party plugins may be loaded from."""
    parser.add_argument(
        "--plugin-path",
        action="append",
        default=[],
        type=Path,
        metavar="DIR",
        help="also load VST3/AU plugins from DIR (repeatable; besides the OS's plugin folders and "
        "$STEMHOST_PLUGIN_PATH); a session may load plugins from these folders only",
    )


def device_arguments(parser: argparse.ArgumentParser) -> None:
    """--device and --blocksize: where and in what blocks live audio plays (``play``, ``serve``)."""
    from stemhost.limits import MAX_DEVICE_BLOCK

    parser.add_argument("--device", help="output device: a name (or part of one) or a number from `stemhost devices`")
    parser.add_argument(
        "--blocksize",
        type=int_between(1, MAX_DEVICE_BLOCK, "frames"),
        default=256,
        help=f"frames per audio callback, 1 to {MAX_DEVICE_BLOCK} (default 256)",
    )


def plugin_folders(args: argparse.Namespace) -> tuple[Path, ...]:
    """Every folder plugins may come from: the OS's, $STEMHOST_PLUGIN_PATH's and --plugin-path's, resolved."""
    from stemhost.engine.plugin_folders import plugin_folders as folders

    return tuple(folders(getattr(args, "plugin_path", [])))


def output_arguments(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    """How rendered files are made: format details, rate, tail, mastering, and (with threads) block size and threads."""
    parser.add_argument("--bit-depth", choices=["16", "24", "32f"], help="WAV, FLAC, AIFF (default 24; 16 is dithered)")
    parser.add_argument(
        "--mp3", choices=["cbr320", "v0", "v2"], help="MP3 encoding: CBR 320 kbps (default), VBR V0 or V2"
    )
    parser.add_argument(
        "--sample-rate",
        type=int_between(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, "Hz"),
        help=f"output rate in Hz, {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} (default: the session's)",
    )
    parser.add_argument(
        "--tail",
        type=seconds,
        metavar="S",
        help="seconds after the longest stem (default: until reverb and delay tails fall below -90 dBFS, at most 30)",
    )
    if threads:
        parser.add_argument(
            "--block-size",
            type=int_between(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE, "frames"),
            default=65536,
            help=f"frames per block, {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} (default 65536; any gives the same output)",
        )
        parser.add_argument("--workers", type=positive_int, help="DSP threads (default: one per core)")
    parser.add_argument(
        "--master", metavar="PRESET", help="a mastering preset: streaming, apple, broadcast, podcast or club"
    )
    parser.add_argument("--loudness", type=number, metavar="LUFS", help="normalise to this integrated loudness")
    parser.add_argument("--true-peak", type=number, metavar="DBTP", help="true-peak ceiling (default -1)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="a loudness target missed by more than 0.5 LU is an error and writes no file (default: a warning)",
    )


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def int_between(low: int, high: int, unit: str):
    """An argparse type: a whole number from low to high."""

    def parse(text: str) -> int:
        value = positive_int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must lie between {low} and {high} {unit}")
        return value

    return parse


class TypedNumber(float):
    """A number that remembers how it was typed, so an error echoes ``+30`` rather than ``30``."""

    typed: str


def number(text: str) -> float:
    """A finite number, remembering its text (``TypedNumber.typed``) for messages."""
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    typed = TypedNumber(value)
    typed.typed = text.strip()
    return typed


def clock(text: str) -> float:
    """Seconds, or m:ss(.fff)."""
    minutes, _, seconds = text.rpartition(":")
    try:
        value = float(seconds) + 60.0 * (int(minutes) if minutes else 0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time; write seconds (65) or m:ss (1:05)") from exc
    if not (0 <= value < 86400) or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text!r} must lie between 0 and 24 hours")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if not (0 <= value <= 3600) or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text!r} must lie between 0 and 3600 seconds")
    return value


def prepared_session(args: argparse.Namespace, path: Path | None = None):
    """The session (args.session, or path) with presets and command-line overrides applied."""
    from stemhost.session.files import load_session
    from stemhost.session.presets import apply_preset, load_preset, override_preset

    session = load_session(path or args.session)
    for name in [*args.preset, *([args.master] if getattr(args, "master", None) else [])]:
        preset, label = load_preset(name)
        session = apply_preset(session, preset, label)
    loudness = (getattr(args, "loudness", None), getattr(args, "true_peak", None))
    mix = [getattr(args, name, None) or [] for name in ("mute", "solo", "gain", "pan")]
    from stemhost.cli.song import transport as wanted

    transport = wanted(args, session, path or args.session)
    overrides = override_preset(session, *mix, *transport, *loudness)
    return apply_preset(session, overrides, "command line", strict=True)


def render_options(args: argparse.Namespace):
    """The RenderOptions of output_arguments (block size and threads only where the command has them)."""
    from stemhost.render.driver import RenderOptions

    threads = {"block_size": args.block_size, "workers": args.workers} if hasattr(args, "block_size") else {}
    return RenderOptions(
        tail_s=args.tail,
        bit_depth=args.bit_depth,
        sample_rate=args.sample_rate,
        mp3_mode=args.mp3,
        strict=args.strict,
        plugin_folders=plugin_folders(args),
        **threads,
    )


def check_output(args: argparse.Namespace, session, path: Path, what: str, session_too: bool = True) -> None:
    """Refuse an output file that is one of the command's inputs (stems, impulse responses, presets, the session)."""
    from stemhost.engine.compile import input_paths
    from stemhost.ownership import check_outputs

    inputs = input_paths(session, args.session)
    if not session_too:  # a mix saved into its own session file
        inputs.pop(args.session.resolve(), None)
    inputs |= {Path(p): "a preset this command reads" for p in args.preset if Path(p).is_file()}
    if not path.parent.is_dir():
        raise OutputError(f"{what}: the folder {str(path.parent)!r} does not exist; create it first")
    check_outputs([(path, what)], inputs)
