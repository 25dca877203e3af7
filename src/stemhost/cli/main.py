"""The ``stemhost`` command line."""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import warnings
from dataclasses import replace
from pathlib import Path

from stemhost import __version__
from stemhost.errors import OutputError, StemhostError, StemhostWarning
from stemhost.formats import OUTPUT_CHOICES
from stemhost.limits import MAX_BLOCK_SIZE, MAX_DEVICE_BLOCK, MAX_SAMPLE_RATE, MIN_BLOCK_SIZE, MIN_SAMPLE_RATE


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
    from stemhost.engine.cache import cache_dir
    from stemhost.ownership import state_dir

    note = getattr(args, "interrupted", None)
    if note is not None:
        return note
    own = (cache_dir().absolute(), state_dir().absolute())  # stemhost's own folders hold no outputs
    done = list(dict.fromkeys(str(p) for p in paths if not any(p.absolute().is_relative_to(f) for f in own)))
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

    init = _command(commands, "init", "write FOLDER/session.json with every audio file a stem")
    init.add_argument("folder", type=Path, help="the folder holding the stems")
    init.add_argument("--force", action="store_true", help="replace an existing session.json")
    init.set_defaults(run=_init)

    validate = _command(commands, "validate", "check a session (and presets) and print its routing")
    _session_arguments(validate)
    validate.set_defaults(run=_validate)

    render = _command(commands, "render", "render a session to an audio file")
    _session_arguments(render)
    render.add_argument("-o", "--output", type=Path, help="output file: .wav .flac .aiff .ogg .mp3")
    render.add_argument(
        "--stems-out",
        type=Path,
        metavar="DIR",
        help="also write every stem as processed, and every bus, aligned with the master (lossless; WAV unless -o is)",
    )
    _output_arguments(render)
    render.add_argument(
        "--report",
        type=Path,
        metavar="FILE",
        help="write FILE.html (self-contained) or FILE.png: waveform, short-term loudness, spectrum, stem table",
    )
    render.add_argument(
        "--fit", metavar="RANGE", help="render in the key that fits the lead melody into RANGE (e.g. A2-E4, or alto)"
    )
    render.set_defaults(run=_render, parser=render)

    export = _command(commands, "export", "render a pack of variants: karaoke, minus-one, keys")
    _session_arguments(export)
    export.add_argument(
        "--variants",
        required=True,
        metavar="LIST",
        help="comma-separated: full, karaoke, instrumental, acapella, minus-one, solo:ROLE, keys=A..B, "
        "any bundled preset; combine with *, e.g. karaoke*keys=-2..+2",
    )
    export.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="the pack's folder")
    export.add_argument("--format", default="wav", choices=OUTPUT_CHOICES, help="file format (default wav)")
    export.add_argument("--force", action="store_true", help="replace another pack in the folder; render everything")
    _output_arguments(export)
    export.set_defaults(run=_export, interrupted="finished files are in manifest.json; run it again to carry on")

    batch = _command(commands, "batch", "render every session under a folder, in variants, on Dask")
    batch.add_argument("catalog", type=Path, help="the folder holding the songs (every session.json below it)")
    batch.add_argument("--variants", default="full", metavar="LIST", help="as for export (default: full)")
    batch.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="where the renders go")
    batch.add_argument("--format", default="wav", choices=OUTPUT_CHOICES, help="file format (default wav)")
    batch.add_argument("--preset", action="append", default=[], help="a preset laid over every song (repeatable)")
    cluster = batch.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=_positive_int, help="local worker processes (default: one per core)")
    cluster.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler, e.g. tcp://host:8786")
    batch.add_argument("--force", action="store_true", help="render everything again, even what is up to date")
    _output_arguments(batch, threads=False)
    batch.set_defaults(run=_batch, interrupted="finished renders are in catalog.json; run it again to carry on")

    devices = _command(commands, "devices", "list the audio output devices, the default marked")
    devices.set_defaults(run=_devices)

    play = _command(commands, "play", "play a session live, with a mixer in the terminal")
    _session_arguments(play)
    play.add_argument("--device", help="output device: a name (or part of one) or a number from `stemhost devices`")
    play.add_argument(
        "--blocksize",
        type=_int_between(1, MAX_DEVICE_BLOCK, "frames"),
        default=256,
        help=f"frames per audio callback, 1 to {MAX_DEVICE_BLOCK} (default 256)",
    )
    play.add_argument("--start", type=_clock, default=0.0, metavar="TIME", help="start here: seconds or m:ss")
    play.add_argument("--duration", type=_clock, metavar="TIME", help="stop after this long: seconds or m:ss")
    play.add_argument("--no-ui", action="store_true", help="play without the mixer; print xruns and latency at the end")
    play.add_argument("--save-as", type=Path, metavar="FILE", help="`w` in the mixer writes the mix here")
    play.set_defaults(run=_play)

    presets = _command(commands, "presets", "list the bundled presets")
    presets.set_defaults(run=_presets)

    schema = _command(commands, "schema", "print the JSON Schema of the session format")
    schema.set_defaults(run=_schema)

    analyze = _command(commands, "analyze", "measure key, tempo, stem levels and the lead vocal's range")
    _session_arguments(analyze)
    analyze.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the figures as JSON to FILE (- for stdout)"
    )
    analyze.set_defaults(run=_analyze)

    fit = _command(commands, "fit", "choose the key that fits the lead melody to a singer's range")
    _session_arguments(fit)
    target = fit.add_mutually_exclusive_group(required=True)
    target.add_argument(
        "--range", metavar="LOW-HIGH", help="the singer's range in scientific pitch notation, e.g. A2-E4"
    )
    target.add_argument("--voice", help=f"a voice type: {', '.join(_voices())}")
    fit.add_argument("--apply", action="store_true", help="write the chosen key_shift into the session file")
    fit.set_defaults(run=_fit)

    cache = _command(commands, "cache", "show or clear the cache of key-shifted and stretched stems")
    cache.add_argument("action", nargs="?", choices=["clear"], help="clear: empty the cache")
    cache.set_defaults(run=_cache)
    return parser


def _command(commands: argparse._SubParsersAction, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose one-line summary is also the first line of its own --help."""
    return commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")


def _output_arguments(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    """How rendered files are made: format details, rate, tail, mastering, and (with threads) block size and threads."""
    parser.add_argument("--bit-depth", choices=["16", "24", "32f"], help="WAV, FLAC, AIFF (default 24; 16 is dithered)")
    parser.add_argument(
        "--mp3", choices=["cbr320", "v0", "v2"], help="MP3 encoding: CBR 320 kbps (default), VBR V0 or V2"
    )
    parser.add_argument(
        "--sample-rate",
        type=_int_between(MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, "Hz"),
        help=f"output rate in Hz, {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} (default: the session's)",
    )
    parser.add_argument(
        "--tail",
        type=_seconds,
        metavar="S",
        help="seconds after the longest stem (default: until reverb and delay tails fall below -90 dBFS, at most 30)",
    )
    if threads:
        parser.add_argument(
            "--block-size",
            type=_int_between(MIN_BLOCK_SIZE, MAX_BLOCK_SIZE, "frames"),
            default=65536,
            help=f"frames per block, {MIN_BLOCK_SIZE} to {MAX_BLOCK_SIZE} (default 65536; any gives the same output)",
        )
        parser.add_argument("--workers", type=_positive_int, help="DSP threads (default: one per core)")
    parser.add_argument(
        "--master", metavar="PRESET", help="a mastering preset: streaming, apple, broadcast, podcast or club"
    )
    parser.add_argument("--loudness", type=_number, metavar="LUFS", help="normalise to this integrated loudness")
    parser.add_argument("--true-peak", type=_number, metavar="DBTP", help="true-peak ceiling (default -1)")


def _render_options(args: argparse.Namespace):
    from stemhost.render.driver import RenderOptions

    threads = {"block_size": args.block_size, "workers": args.workers} if hasattr(args, "block_size") else {}
    return RenderOptions(
        tail_s=args.tail, bit_depth=args.bit_depth, sample_rate=args.sample_rate, mp3_mode=args.mp3, **threads
    )


def _session_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("session", type=Path, help="the session.json file")
    parser.add_argument(
        "--preset", action="append", default=[], help="a bundled preset name or a preset file (repeatable)"
    )
    parser.add_argument("--mute", action="append", default=[], metavar="STEM", help="mute a stem, by name or role")
    parser.add_argument("--solo", action="append", default=[], metavar="STEM", help="solo a stem, by name or role")
    parser.add_argument("--gain", action="append", default=[], metavar="STEM=DB", help="set a stem's fader in dB")
    parser.add_argument("--pan", action="append", default=[], metavar="STEM=P", help="set a stem's pan, -1 to +1")
    parser.add_argument(
        "--key", type=_number, metavar="SEMITONES", help="move every pitched stem, e.g. -3 or +1.5 (-12 to +12)"
    )
    parser.add_argument("--tempo", type=_number, metavar="FACTOR", help="playback speed, 0.5 to 2.0 (1.0 = original)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _int_between(low: int, high: int, unit: str):
    """An argparse type: a whole number from low to high."""

    def parse(text: str) -> int:
        value = _positive_int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} must lie between {low} and {high} {unit}")
        return value

    return parse


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _clock(text: str) -> float:
    """Seconds, or m:ss(.fff)."""
    minutes, _, seconds = text.rpartition(":")
    try:
        value = float(seconds) + 60.0 * (int(minutes) if minutes else 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time; write seconds (65) or m:ss (1:05)") from None
    if not (0 <= value < 86400) or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text!r} must lie between 0 and 24 hours")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (0 <= value <= 3600) or math.isnan(value):
        raise argparse.ArgumentTypeError(f"{text!r} must lie between 0 and 3600 seconds")
    return value


def _check_output(args: argparse.Namespace, session, path: Path, what: str, session_too: bool = True) -> None:
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


def _prepared_session(args: argparse.Namespace, path: Path | None = None):
    """The session (args.session, or path) with presets and command-line overrides applied."""
    from stemhost.session.files import load_session
    from stemhost.session.presets import apply_preset, load_preset, override_preset

    session = load_session(path or args.session)
    for name in [*args.preset, *([args.master] if getattr(args, "master", None) else [])]:
        preset, label = load_preset(name)
        session = apply_preset(session, preset, label)
    loudness = (getattr(args, "loudness", None), getattr(args, "true_peak", None))
    mix = [getattr(args, name, None) or [] for name in ("mute", "solo", "gain", "pan")]
    transport = (getattr(args, "key", None), getattr(args, "tempo", None))
    overrides = override_preset(session, *mix, *transport, *loudness)
    return apply_preset(session, overrides, "command line", strict=True)


def _init(args: argparse.Namespace) -> int:
    from stemhost.session.files import init_session

    path, session = init_session(args.folder, args.force)
    for stem in session.stems:
        print(f"  {stem.name:<24} {stem.role:<15} {stem.file}")
    print(f"wrote {path} ({len(session.stems)} stems)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from stemhost.engine.compile import compile_graph
    from stemhost.render.driver import DEFAULT_BLOCK_SIZE
    from stemhost.session.routing import render_tree

    session = _prepared_session(args)
    # builds every plugin, so everything is checked; key and tempo are not rendered here
    graph = compile_graph(session, args.session, DEFAULT_BLOCK_SIZE, workers=1, stretch=False)
    graph.close()
    print(render_tree(session))
    for stem in graph.stems:
        info = stem.source.info
        note = "" if info.sample_rate == graph.sample_rate else f", resampled to {graph.sample_rate} Hz"
        channels = "mono" if info.channels == 1 else "stereo"
        print(f"  {stem.name}: {info.frames / info.sample_rate:.2f} s, {info.sample_rate} Hz, {channels}{note}")
    print(
        f"ok: {args.session} ({len(session.stems)} stems, {len(session.buses)} buses, "
        f"{graph.sample_rate} Hz, latency {graph.latency} frames)"
    )
    return 0


def _render(args: argparse.Namespace) -> int:
    from stemhost.cli.progress import render_progress
    from stemhost.cli.summary import print_summary
    from stemhost.render.driver import render_session

    if args.output is None and args.stems_out is None:
        args.parser.error("give -o FILE, --stems-out DIR, or both")
    session = _prepared_session(args)
    if args.output is None and args.report is not None:
        raise OutputError("render: --report describes the -o file; add -o FILE")
    if args.output is None and session.master.loudness is not None:
        raise OutputError("render: a loudness target masters the -o file; add -o FILE (stems are written pre-master)")
    if args.fit:
        choice, _ = _fitted(session, args.session, args.fit)
        session = session.model_copy(update={"key_shift": float(choice.shift)})
        print(f"fitted: key shift {choice.shift:+d} puts the melody at {_span(choice)}")
    options = _render_options(args)
    label = (args.output or args.stems_out).name
    with render_progress(label) as progress:
        result = render_session(session, args.session, args.output, options, progress, args.stems_out, args.report)
    print_summary(result, args.stems_out)
    if args.report is not None:
        print(f"wrote {args.report}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from stemhost.cli.progress import render_progress
    from stemhost.packs.export import export_pack
    from stemhost.session.variants import parse_variants
    from stemhost.units import format_time

    session = _prepared_session(args)
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
            session, args.session, variants, args.output, f".{args.format}", _render_options(args), args.force,
            progress, report,
        )  # fmt: skip
    print(
        f"wrote {counts[True]} file{'s' if counts[True] != 1 else ''} into {args.output} "
        f"({counts[False]} up to date), listed in {args.output / 'manifest.json'}"
    )
    return 0


def _batch(args: argparse.Namespace) -> int:
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
            session = _prepared_session(args, path)
            songs.append((song, path, session, parse_variants(args.variants, session)))
        except StemhostError as exc:  # a song that cannot even be planned fails alone
            failed.append(JobResult(song, "*", str(Path(song) / "session.json"), "failed", error=str(exc)))
    make_output_folder(args.output, "-o")
    options = replace(_render_options(args), workers=1)  # one DSP thread per job: the cluster runs jobs side by side
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


def _devices(_args: argparse.Namespace) -> int:
    from stemhost.live.devices import NO_DEVICE_HELP, output_devices

    devices = output_devices()
    for d in devices:
        mark = "*" if d.default else " "
        print(f"{mark} {d.index:>3}  {d.name}  ({d.host_api}, {d.channels} out, {d.sample_rate} Hz)")
    if not devices:
        print(f"no output device; {NO_DEVICE_HELP}")
    return 0


def _play(args: argparse.Namespace) -> int:
    from stemhost.live.play import PlayOptions, play_headless

    session = _prepared_session(args)
    options = PlayOptions(args.device, args.blocksize, args.start, args.duration)
    if args.no_ui:
        return play_headless(session, args.session, options)
    from stemhost.live.mixer import run_mixer

    if args.save_as is not None:
        _check_output(args, session, args.save_as, f"--save-as {str(args.save_as)!r}", session_too=False)
    return run_mixer(session, args.session, options, args.save_as or args.session)


def _presets(_args: argparse.Namespace) -> int:
    from stemhost.session.presets import bundled_presets, load_preset

    for name in bundled_presets():
        preset, _ = load_preset(name)
        print(f"{name:<16} {preset.description}")
    return 0


def _schema(_args: argparse.Namespace) -> int:
    from stemhost.session.model import session_schema

    print(json.dumps(session_schema(), indent=2))
    return 0


def _voices() -> list[str]:
    from stemhost.session.notes import VOICE_RANGES

    return [f"{name} ({low}-{high})" for name, (low, high) in VOICE_RANGES.items()]


def _analyze(args: argparse.Namespace) -> int:
    from stemhost.analysis import analyze_session
    from stemhost.analysis.text import report_lines

    session = _prepared_session(args)
    to_file = args.json is not None and str(args.json) != "-"
    if to_file:
        _check_output(args, session, args.json, f"--json {str(args.json)!r}")
    analysis = analyze_session(session, args.session)
    figures = analysis.to_dict()
    if args.json is not None and not to_file:
        print(json.dumps(figures, indent=2))
        return 0
    print("\n".join(report_lines(analysis, session.key_shift, session.tempo)))
    if to_file:
        from stemhost.ownership import write_json_atomic

        write_json_atomic(args.json, figures, f"--json {str(args.json)!r}")
        print(f"wrote {args.json}")
    return 0


def _fitted(session, session_path: Path, spec: str):
    """Analyse the lead vocal and choose the key shift that fits it into a range or voice type."""
    from stemhost.analysis import analyze_session
    from stemhost.analysis.fit import fit_key, singer_range
    from stemhost.errors import SessionError

    low, high, described = singer_range(spec)
    if not any(stem.role == "lead_vocal" for stem in session.stems):
        raise SessionError(
            f"{session_path.name}: no stem has the role 'lead_vocal'; fit moves the lead melody into a range, "
            "so set the lead vocal stem's role"
        )
    analysis = analyze_session(session, session_path)
    vocal = analysis.lead_vocal
    if vocal is None:
        names = ", ".join(analysis.lead_vocal_stems)
        raise SessionError(f"{session_path.name}: the lead_vocal stem ({names}) holds no sung note to fit")
    print(f"singer: {described}")
    print(
        f"melody: {_note_span(vocal.low_midi, vocal.high_midi)} (tessitura {_note_span(vocal.tessitura_low_midi, vocal.tessitura_high_midi)})"
    )
    tessitura = (vocal.tessitura_low_midi, vocal.tessitura_high_midi)
    return fit_key(vocal.low_midi, vocal.high_midi, tessitura, low, high), analysis.key


def _note_span(low: float, high: float) -> str:
    from stemhost.session.notes import note_name

    return f"{note_name(low)}-{note_name(high)}"


def _span(choice) -> str:
    return _note_span(choice.low_midi, choice.high_midi)


def _fit(args: argparse.Namespace) -> int:
    from stemhost.session.notes import transpose_key

    session = _prepared_session(args)
    choice, key = _fitted(session, args.session, args.range or args.voice)
    new_key = f", new key {transpose_key(key.tonic, key.mode, choice.shift)} (from {key.name})" if key else ""
    verdict = "fits" if choice.fits else "does not fit; the closest shift is"
    print(f"{verdict} key shift {choice.shift:+d}{new_key}")
    print(f"new melody range: {_span(choice)}")
    print(f"room: {choice.room_low:+.1f} semitones below, {choice.room_high:+.1f} above (negative: beyond the range)")
    if args.apply and choice.fits:
        from stemhost.session.files import set_key_shift

        set_key_shift(args.session, choice.shift)
        print(f"wrote key_shift {choice.shift:+d} into {args.session}")
    elif args.apply:
        print(f"not applied: no shift fits; set key_shift {choice.shift:+d} by hand to take the closest")
    return 0


def _cache(args: argparse.Namespace) -> int:
    from stemhost.engine.cache import StemCache

    cache = StemCache.default()
    if args.action == "clear":
        cleared = cache.clear()
        count = f"{cleared.entries} stem{'s' if cleared.entries != 1 else ''}"
        print(f"cleared {cache.folder}: {count} removed, {cleared.bytes / 2**20:.1f} MiB freed")
    else:
        entries = len(cache.entries())
        print(f"{cache.folder}: {entries} stem{'s' if entries != 1 else ''}, {cache.size_bytes() / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
