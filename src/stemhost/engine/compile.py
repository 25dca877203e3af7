"""The one bridge from the session model to audio: build a MixGraph from a validated session."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from stemhost.engine.cache import StemCache
from stemhost.engine.chain import AlignedChain
from stemhost.engine.click import ClickSource, has_click, with_click_bus
from stemhost.engine.graph import BusNode, MixGraph, StemNode
from stemhost.engine.mix import mix_levels, route
from stemhost.engine.plugin_folders import plugin_folders as default_plugin_folders
from stemhost.engine.plugins import build_chain
from stemhost.engine.sources import AudioInfo, StemSource, probe
from stemhost.engine.stretch import StretchSettings, cache_key, prepared_source, stem_settings
from stemhost.errors import AudioFileError
from stemhost.limits import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, check_open_files, check_render_memory
from stemhost.session.effects import Convolution
from stemhost.session.grid import lead_in_frames
from stemhost.session.model import MASTER, Session
from stemhost.session.routing import bus_order, check_routing
from stemhost.steps import Steps


def stem_path(session_path: Path, file: str, where: str = "") -> Path:
    """A stem's (or impulse response's) file, relative to the session file's folder unless absolute.

    Args:
        where: the field that names it, for messages (``session.json: stems[0].file``).
    """
    path = session_path.parent / file
    try:
        return path.resolve()
    except (RuntimeError, OSError) as exc:  # Python 3.11 says RuntimeError for a symlink loop, 3.13 OSError ELOOP
        loop = isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP
        fix = (
            "a symbolic link on the way leads back to itself: point it at the audio file" if loop else "check the path"
        )
        raise AudioFileError(f"{where or session_path.name}: {str(path)!r} cannot be followed ({exc}); {fix}") from exc


def input_paths(session: Session, session_path: Path) -> dict[Path, str]:
    """Every file a render reads, with what it is: the session, its stems and its impulse responses."""
    inputs = {session_path.resolve(): "the session file"}
    strips = [(f"stems[{i}]", s.chain) for i, s in enumerate(session.stems)]
    strips += [(f"buses[{i}]", b.chain) for i, b in enumerate(session.buses)] + [("master", session.master.chain)]
    for where, chain in strips:
        for k, effect in enumerate(chain):
            if isinstance(effect, Convolution):
                field = f"{where}.chain[{k}].impulse_response_filename"
                path = stem_path(session_path, effect.impulse_response_filename, f"{session_path.name}: {field}")
                inputs[path] = f"an impulse response the session reads ({where}.chain[{k}])"
    for i, stem in enumerate(session.stems):
        path = stem_path(session_path, stem.file, f"{session_path.name}: stems[{i}].file")
        inputs[path] = f"one of the session's stems (stems[{i}].file)"
    return inputs


def probe_stems(session: Session, session_path: Path) -> list[AudioInfo]:
    """Open every stem's header: missing, unreadable, empty or non-audio files, and rates out of range, fail here."""
    infos = []
    for i, stem in enumerate(session.stems):
        where = f"{session_path.name}: stems[{i}].file"
        info = probe(stem_path(session_path, stem.file, where), where)
        if not MIN_SAMPLE_RATE <= info.sample_rate <= MAX_SAMPLE_RATE:
            raise AudioFileError(
                f"{where}: {str(info.path)!r} says its rate is {info.sample_rate} Hz; stemhost reads "
                f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz: resample the file or repair its header"
            )
        infos.append(info)
    return infos


def session_rate(session: Session, infos: list[AudioInfo]) -> int:
    """The session's sample rate: its own setting, else the highest of its stems."""
    return session.sample_rate or max(info.sample_rate for info in infos)


def prepare_sources(
    session: Session,
    session_path: Path,
    infos: list[AudioInfo],
    cache: StemCache,
    workers: int | None = None,
    decode: bool = False,
) -> list[AudioInfo]:
    """The files the stems are read from: key-shifted and time-stretched versions where needed (cached).

    Stems that need processing go through Rubber Band in parallel threads (pedalboard releases the GIL).
    With decode, compressed stems are decoded into the cache once (see :func:`prepared_source`).
    """
    label = session_path.name
    jobs = [
        (info, stem_settings(session, stem), f"{label}: stems[{i}].file")
        for i, (stem, info) in enumerate(zip(session.stems, infos, strict=True))
    ]
    names = {id(job): stem.name for job, stem in zip(jobs, session.stems, strict=True)}
    todo = [job for job in jobs if not job[1].is_identity and cache.lookup(cache_key(job[0], job[1])) is None]
    waiting = {id(job) for job in todo}
    parts = [(names[id(job)], job[0].frames / job[0].sample_rate) for job in todo]
    many = f"{len(todo)} stem{'s' if len(todo) != 1 else ''}"
    steps = Steps(f"stretching {many} to key {session.key_shift:+g}, tempo {session.tempo:g}", parts, "stretching")

    def prepare(job: tuple[AudioInfo, StretchSettings, str]) -> AudioInfo:
        if id(job) not in waiting:
            return prepared_source(*job, cache, decode)
        steps.start(names[id(job)])
        prepared = prepared_source(*job, cache, decode)
        steps.done(names[id(job)])
        return prepared

    told = steps if todo else contextlib.nullcontext()  # nothing to say when every stem is cached
    with ThreadPoolExecutor(workers or os.cpu_count() or 1, thread_name_prefix="stemhost-stretch") as pool, told:
        return list(pool.map(prepare, jobs))


def compile_graph(
    session: Session,
    session_path: Path,
    block_size: int,
    workers: int | None = None,
    cache: StemCache | None = None,
    stretch: bool = True,
    decode: bool = False,
    plugin_folders: Sequence[Path] | None = None,
) -> MixGraph:
    """Build the mix graph of a session.

    Every effect and plugin is built, and every plugin's parameters checked, before any audio is read.

    Args:
        session: a validated session (presets and overrides already applied).
        session_path: the session file; relative stem and impulse-response paths start from its folder.
        block_size: frames per block.
        workers: DSP threads; by default one per CPU core.
        cache: where shifted and stretched stems are kept; by default the user's cache folder.
        stretch: False reads every stem as it is, ignoring key and tempo (to check a session quickly).
        decode: decode compressed stems into the cache once, for renders that read them many times.
        plugin_folders: the resolved folders third-party plugins may be loaded from
            (:func:`~stemhost.engine.plugin_folders.plugin_folders`); None: the OS's and ``$STEMHOST_PLUGIN_PATH``'s.
    """
    label = session_path.name
    session = with_click_bus(session, label)  # the click's bus, made when the session has none
    check_routing(session, label)
    check_render_memory(len(session.stems), len(session.buses), block_size, label)
    check_open_files(len(session.stems), label)
    originals = probe_stems(session, session_path)  # headers only
    rate = session_rate(session, originals)  # the stems' own rates decide it, not the cache's
    folders = list(plugin_folders) if plugin_folders is not None else default_plugin_folders()
    base = session_path.parent

    def chain(effects: tuple, channels: int, where: str) -> AlignedChain:
        return build_chain(
            effects, channels, base_dir=base, sample_rate=rate, block_size=block_size, folders=folders, where=where
        )

    stem_chains = [chain(stem.chain, info.channels, f"{label}: stems[{i}]") for i, (stem, info) in
                   enumerate(zip(session.stems, originals, strict=True))]  # fmt: skip
    order = bus_order(session, label)
    bus_chains = {
        b.name: chain(b.chain, 2, f"{label}: buses[{i}]") for i, b in enumerate(session.buses) if b.name in order
    }
    master_chain = chain(session.master.chain, 2, f"{label}: master")
    infos = (
        prepare_sources(session, session_path, originals, cache or StemCache.default(), workers, decode)
        if stretch
        else originals
    )
    levels = mix_levels(session, {stem.name: info.channels for stem, info in zip(session.stems, infos, strict=True)})
    timing = session if stretch else session.model_copy(update={"tempo": 1.0})
    lead_in = lead_in_frames(timing, rate) if has_click(session) else 0
    click = None
    if has_click(session):
        until_s = max(info.frames / info.sample_rate for info in originals)
        click = ClickSource(timing, rate, until_s, lead_in)
    stems = []
    for i, (stem, info, node_chain) in enumerate(zip(session.stems, infos, stem_chains, strict=True)):
        source = StemSource(info, rate, stem.name, f"{label}: stems[{i}].file", block_size)
        mix = levels.stems[stem.name]
        stems.append(StemNode(stem.name, source, node_chain, mix.gains, mix.audible, lead_in=lead_in))

    buses = {name: BusNode(name, bus_chains[name], levels.buses[name]) for name in order}
    master = BusNode(MASTER, master_chain, levels.buses[MASTER])
    if click is not None:
        (buses | {MASTER: master})[session.click.bus].takes_click = True
    route(levels, buses | {MASTER: master})
    return MixGraph(stems, list(buses.values()), master, rate, block_size, workers, click, lead_in)
