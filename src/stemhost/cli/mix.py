"""Commands on one mix: ``init``, ``validate``, ``render``, ``presets`` and ``schema``."""

from __future__ import annotations

import argparse
import json

from stemhost.cli.arguments import plugin_folders, prepared_session, render_options
from stemhost.errors import OutputError


def init(args: argparse.Namespace) -> int:
    from stemhost.session.files import init_session, lead_vocal_candidates

    path, session, left_out = init_session(args.folder, args.force)
    for stem in session.stems:
        print(f"  {stem.name:<24} {stem.role:<15} {stem.file}")
    for file in left_out:
        print(
            f"left out {file}: a full mix, not a stem (as a stem it would double the band and keep the vocal "
            f'in karaoke); to use it anyway, add {{"name": ..., "file": {json.dumps(file)}}} to stems by hand'
        )
    candidates = lead_vocal_candidates(session)
    if candidates is not None:
        which = f", probably {candidates[0]}" if candidates else ""
        which += f" (or {', '.join(candidates[1:])})" if candidates[1:] else ""
        print(
            'no stem is a lead vocal: karaoke, acapella and fit need one; set "role": "lead_vocal" '
            f"on the stem that holds the melody{which}"
        )
    print(f"wrote {path} ({len(session.stems)} stems)")
    return 0


def validate(args: argparse.Namespace) -> int:
    from stemhost.engine.compile import compile_graph
    from stemhost.render.driver import DEFAULT_BLOCK_SIZE
    from stemhost.session.routing import render_tree

    session = prepared_session(args)
    # builds every plugin, so everything is checked; key and tempo are not rendered here
    graph = compile_graph(
        session, args.session, DEFAULT_BLOCK_SIZE, workers=1, stretch=False, plugin_folders=plugin_folders(args)
    )
    graph.close()
    print(render_tree(session))
    for stem in graph.stems:
        info = stem.source.info
        note = "" if info.sample_rate == graph.sample_rate else f", resampled to {graph.sample_rate} Hz"
        channels = "mono" if info.channels == 1 else "stereo"
        print(f"  {stem.name}: {info.frames / info.sample_rate:.2f} s, {info.sample_rate} Hz, {channels}{note}")
    for line in plugin_lines(graph):
        print(line)
    print(
        f"ok: {args.session} ({len(session.stems)} stems, {len(session.buses)} buses, "
        f"{graph.sample_rate} Hz, latency {graph.latency} frames)"
    )
    return 0


def plugin_lines(graph) -> list[str]:
    """One line per strip with third-party plugins: each plugin, how its channels run, its latency."""
    from stemhost.engine.plugin_stage import PluginStage

    strips = [(f"stem {s.name}", s.chain) for s in graph.stems] + [(f"bus {b.name}", b.chain) for b in graph.buses]
    lines = []
    for strip, chain in [*strips, ("master", graph.master.chain)]:
        plugins = [
            f"{p.name} ({p.mode}, latency {p.latency} frames{', bypassed' if p.bypass else ''})"
            for p in chain.stages
            if isinstance(p, PluginStage)
        ]
        if plugins:
            lines.append(f"  plugins on {strip}: {', '.join(plugins)}")
    return lines


def render(args: argparse.Namespace) -> int:
    from stemhost.cli.analysis import fitted
    from stemhost.cli.progress import render_progress
    from stemhost.cli.summary import print_summary
    from stemhost.render.driver import render_session

    if args.output is None and args.stems_out is None:
        args.parser.error("give -o FILE, --stems-out DIR, or both")
    session = prepared_session(args)
    if args.output is None and args.report is not None:
        raise OutputError("render: --report describes the -o file; add -o FILE")
    if args.output is None and session.master.loudness is not None:
        raise OutputError("render: a loudness target masters the -o file; add -o FILE (stems are written pre-master)")
    if args.fit:
        choice, _ = fitted(session, args.session, args.fit)
        session = session.model_copy(update={"key_shift": float(choice.shift)})
    options = render_options(args)
    label = (args.output or args.stems_out).name
    with render_progress(label) as progress:
        result = render_session(session, args.session, args.output, options, progress, args.stems_out, args.report)
    print_summary(result, args.stems_out)
    if args.report is not None:
        print(f"wrote {args.report}")
    return 0


def presets(_args: argparse.Namespace) -> int:
    from stemhost.session.presets import bundled_presets, load_preset

    for name in bundled_presets():
        preset, _ = load_preset(name)
        print(f"{name:<16} {preset.description}")
    return 0


def schema(_args: argparse.Namespace) -> int:
    from stemhost.session.model import session_schema

    print(json.dumps(session_schema(), indent=2))
    return 0
