"""The ``stemhost`` command line: the parser, and ``main``, which runs a command and turns errors, warnings and
signals into one-line messages and exit statuses. Each command lives in its family's module."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from stemhost import __version__
from stemhost.cli import analysis, cache, live, mix, packs, show
from stemhost.cli.arguments import (
    add_command,
    clock,
    device_arguments,
    output_arguments,
    plugin_path_argument,
    positive_int,
    session_arguments,
)
from stemhost.cli.plugins import add_plugins_command
from stemhost.cli.progress import show_steps
from stemhost.cli.sections import add_sections_command
from stemhost.cli.serve import add_serve_command
from stemhost.errors import StemhostError, StemhostWarning
from stemhost.formats import OUTPUT_CHOICES


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP: stop as Ctrl-C does, so every temporary file is removed on the way out."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _stop(signum: int, _frame) -> None:
    raise Stopped(signum)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (1 for errors, 2 for usage errors, 128 + N on signal N)."""
    from stemhost.ownership import remove_leftovers, written

    parser = build_parser()
    args = parser.parse_args(argv)
    handlers, before = {}, len(written())
    if threading.current_thread() is threading.main_thread():
        handlers = {signum: signal.signal(signum, _stop) for signum in (signal.SIGTERM, signal.SIGHUP)}
    notes, steps = _print_notes(), show_steps()
    try:
        with warnings.catch_warnings():
            _print_stemhost_warnings()
            remove_leftovers()  # temporary files of runs that were killed
            return args.run(args)
    except StemhostError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how = f"stopped by {exc.args[0]}" if isinstance(exc, Stopped) else "interrupted"
        print(f"error: {how}; {_what_was_written(args, written()[before:])}", file=sys.stderr)
        return 128 + (exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
    except BrokenPipeError:  # the reader went away (`stemhost schema | head`): stop quietly, as Unix tools do
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug: one line, the traceback with --debug
        if args.debug:
            raise
        print(
            f"error: internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it",
            file=sys.stderr,
        )
        return 1
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        logging.getLogger("stemhost").removeHandler(notes)
        logging.getLogger("stemhost.progress").removeHandler(steps)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit raises no second BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _print_notes() -> logging.Handler:
    """Print what the library notes on the ``stemhost`` logger (playing, stopped) as lines on stderr, and its
    progress notes (``stemhost.progress``) when stderr is a terminal; steps are :class:`cli.progress.StepsHandler`'s."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(
        lambda record: (
            not hasattr(record, "step")  # steps are cli.progress's
            and (not record.name.startswith("stemhost.progress") or sys.stderr.isatty())
        )
    )
    logger = logging.getLogger("stemhost")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return handler


def _print_stemhost_warnings() -> None:
    """Print every StemhostWarning, each time, as one ``warning: ...`` line on stderr; others as Python does."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, StemhostWarning):
            print(f"warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.simplefilter("always", StemhostWarning)
    warnings.showwarning = show


def _what_was_written(args: argparse.Namespace, paths: list[Path]) -> str:
    """The truth about the files of an interrupted command: the command's own note, or the outputs it finished."""
    note = getattr(args, "interrupted", None)
    if note is not None:
        return note
    done = list(dict.fromkeys(str(p) for p in paths))
    if not done:
        return "nothing was written"
    return f"only {', '.join(done)} {'was' if len(done) == 1 else 'were'} written; nothing else"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stemhost",
        description="Mix, process and render the stems of a song: sessions, presets, buses and effects.",
    )
    parser.add_argument("--version", action="version", version=f"stemhost {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.set_defaults(run=lambda _args: parser.print_help() or 2)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    init = add_command(commands, "init", "write FOLDER/session.json with every audio file a stem")
    init.add_argument("folder", type=Path, help="the folder holding the stems")
    init.add_argument("--force", action="store_true", help="replace an existing session.json")
    init.set_defaults(run=mix.init)

    validate = add_command(commands, "validate", "check a session (and presets) and print its routing")
    session_arguments(validate)
    validate.set_defaults(run=mix.validate)

    render = add_command(commands, "render", "render a session to an audio file")
    session_arguments(render)
    render.add_argument("-o", "--output", type=Path, help="output file: .wav .flac .aiff .ogg .mp3")
    render.add_argument(
        "--stems-out",
        type=Path,
        metavar="DIR",
        help="also write every stem as processed, and every bus, aligned with the master (lossless; WAV unless -o is)",
    )
    output_arguments(render)
    render.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write FILE.html (self-contained) or FILE.png: waveform, short-term loudness, spectrum, stem table",
    )
    render.add_argument(
        "--fit", metavar="RANGE", help="render in the key that fits the lead melody into RANGE (e.g. A2-E4, or alto)"
    )
    render.set_defaults(run=mix.render, parser=render)

    export = add_command(commands, "export", "render a pack of variants: karaoke, minus-one, keys")
    session_arguments(export)
    export.add_argument(
        "--variants",
        required=True,
        metavar="LIST",
        help="comma-separated: full, karaoke, instrumental, acapella, minus-one, solo:NAME or solo:ROLE, keys=A..B, "
        "tempo=F,G, any bundled preset; combine with *, e.g. karaoke*keys=-2..+2 or karaoke*tempo=0.8,0.9",
    )
    export.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="the pack's folder")
    export.add_argument("--format", default="wav", choices=OUTPUT_CHOICES, help="file format (default wav)")
    export.add_argument("--force", action="store_true", help="replace another pack in the folder; render everything")
    output_arguments(export)
    export.set_defaults(run=packs.export, interrupted="finished files are in manifest.json; run it again to carry on")

    batch = add_command(commands, "batch", "render every session under a folder, in variants, on Dask")
    batch.add_argument("catalog", type=Path, help="the folder holding the songs (every session.json below it)")
    batch.add_argument("--variants", default="full", metavar="LIST", help="as for export (default: full)")
    batch.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="where the renders go")
    batch.add_argument("--format", default="wav", choices=OUTPUT_CHOICES, help="file format (default wav)")
    batch.add_argument("--preset", action="append", default=[], help="a preset laid over every song (repeatable)")
    cluster = batch.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=positive_int, help="local worker processes (default: one per core)")
    cluster.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    batch.add_argument("--force", action="store_true", help="render everything again, even what is up to date")
    plugin_path_argument(batch)
    output_arguments(batch, threads=False)
    batch.set_defaults(run=packs.batch, interrupted="finished renders are in catalog.json; run it again to carry on")

    devices = add_command(commands, "devices", "list the audio output devices, the default marked")
    devices.set_defaults(run=live.devices)

    play = add_command(commands, "play", "play a session live, with a mixer in the terminal")
    session_arguments(play)
    device_arguments(play)
    play.add_argument("--start", type=clock, default=0.0, metavar="TIME", help="start here: seconds or m:ss")
    play.add_argument("--duration", type=clock, metavar="TIME", help="stop after this long: seconds or m:ss")
    play.add_argument("--no-ui", action="store_true", help="play without the mixer; print xruns and latency at the end")
    play.add_argument("--save-as", type=Path, metavar="FILE", help="`w` in the mixer writes the mix here")
    play.add_argument("--midi", metavar="PORT", help="take MIDI control from this input port (a foot switch)")
    play.add_argument("--midi-map", type=Path, metavar="FILE", help="the MIDI mapping (JSON); needs --midi")
    play.set_defaults(run=live.play)

    presets = add_command(commands, "presets", "list the bundled presets")
    presets.set_defaults(run=mix.presets)

    schema = add_command(commands, "schema", "print the JSON Schema of the session, setlist or singers format")
    schema.add_argument("format", nargs="?", choices=show.SCHEMAS, default="session", help="default: session")
    schema.set_defaults(run=show.schema)

    analyze = add_command(commands, "analyze", "measure key, tempo, stem levels and the lead vocal's range")
    session_arguments(analyze)
    analyze.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE (- for stdout)"
    )
    analyze.add_argument(
        "--apply", action="store_true", help="write the key and tempo found into the session's key and bpm fields"
    )
    analyze.set_defaults(run=analysis.analyze)

    fit = add_command(commands, "fit", "choose the key that fits the lead melody to a singer's range")
    session_arguments(fit)
    target = fit.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--range", metavar="LOW-HIGH", help="the singer's range in scientific pitch notation, e.g. A2-E4"
    )
    target.add_argument("--voice", help=f"a voice type: {', '.join(analysis.voices())}")
    fit.add_argument("--apply", action="store_true", help="write the chosen key_shift into the session file")
    fit.set_defaults(run=analysis.fit)

    stems_cache = add_command(
        commands, "cache", "show, verify or clear the cache (key-shifted and stretched stems, song analyses)"
    )
    stems_cache.add_argument(
        "action",
        nargs="?",
        choices=["clear", "verify"],
        help="clear: empty the cache; verify: hash every entry in full and remove the damaged ones",
    )
    stems_cache.set_defaults(run=cache.cache)

    show.add_show_command(commands)
    add_sections_command(commands)
    add_plugins_command(commands)
    add_serve_command(commands)
    return parser


if __name__ == "__main__":
    sys.exit(main())
