"""Which plugins are installed, and what each one is: scanned in separate processes, with a timeout, cached.

Scanning a plugin runs its code. Each bundle is therefore scanned in a subprocess of its own
(:mod:`stemhost.engine.plugin_scan_worker`), two at a time: a plugin that crashes (a signal) or does not
load within the timeout is listed as failed with the reason and never takes stemhost down. Results are
kept as records in the stem cache, keyed by the bundle's path, the size and mtime of its binaries, the
scanned format and stemhost's version, so a second listing runs no plugin code and a changed bundle is
scanned again.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import stemhost
from stemhost.engine.plugin_folders import BUNDLE_SUFFIXES, bundles
from stemhost.errors import OutputError, PluginError, warn

SCAN_TIMEOUT_S = 20.0  # a plugin that takes longer to load is listed as failed (ZamVerb takes minutes)
PARALLEL_SCANS = 2
RECORD_VERSION = 1  # part of the cache key: bump when what the worker records changes
FORMATS = {"VST3Plugin": "VST3", "AudioUnitPlugin": "AU"}
WORKER = "stemhost.engine.plugin_scan_worker"

log = logging.getLogger("stemhost.progress")
_running: set[subprocess.Popen] = set()  # scanners alive, killed when the listing is interrupted
_running_lock = threading.Lock()
_stopping = threading.Event()  # the listing was interrupted: a scanner started from now on is killed at once


@dataclass(frozen=True)
class PluginInfo:
    """One installed plugin as scanned (or one that failed to scan).

    Attributes:
        name: the plugin's name (for a failed bundle, the bundle's name without its suffix).
        path: the bundle, as found in a plugin folder.
        format: ``'VST3'`` or ``'AU'``.
        vendor, version, category: what the plugin says (category like ``'Fx|EQ|Mono'``).
        channels_in, channels_out: the channels of its main buses, measured by processing.
        channel_counts: the channel counts (1, 2) it processed.
        latency_samples: the latency it reports, in frames.
        parameters: its user-facing parameters (:meth:`ParameterInfo.to_dict`), hidden ones left out.
        error: why it could not be scanned (``'crashed: SIGABRT'``), or None.
    """

    name: str
    path: str
    format: str
    vendor: str = ""
    version: str = ""
    category: str = ""
    is_instrument: bool = False
    channels_in: int = 0
    channels_out: int = 0
    channel_counts: tuple[int, ...] = ()
    latency_samples: int = 0
    parameters: tuple[dict, ...] = field(default=(), repr=False)
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def bundle_name(self) -> str:
        return Path(self.path).name

    def to_dict(self) -> dict:
        """JSON-ready fields."""
        data = asdict(self)
        data["channel_counts"] = list(self.channel_counts)
        data["parameters"] = list(self.parameters)
        return data


@dataclass(frozen=True)
class Listing:
    """The plugins found in the folders, and how many bundles were scanned now or served from the cache."""

    plugins: list[PluginInfo]
    scanned: int
    cached: int


def plugin_kinds(platform: str = sys.platform) -> list[str]:
    """The plugin formats pedalboard hosts on this OS."""
    return ["VST3Plugin", "AudioUnitPlugin"] if platform == "darwin" else ["VST3Plugin"]


def list_plugins(
    folders: Sequence[Path],
    rescan: bool = False,
    timeout_s: float = SCAN_TIMEOUT_S,
    only: Sequence[Path] | None = None,
) -> Listing:
    """Every plugin in the bundles of the folders (or only the bundles given), from the cache or scanned.

    Args:
        folders: the resolved plugin folders (:func:`plugin_folders.plugin_folders`).
        rescan: scan every bundle again, ignoring (and replacing) cached results.
        timeout_s: how long one bundle may take to scan.
        only: scan just these bundles (found in the folders by the caller).
    """
    from stemhost.engine.cache import StemCache

    found = [(b, kind) for kind in plugin_kinds() for b in (only if only is not None else bundles(folders, kind))]
    found = [(b, kind) for b, kind in found if b.suffix.lower() in BUNDLE_SUFFIXES[kind]]
    cache = StemCache.default()
    results: dict[Path, list[PluginInfo]] = {}
    todo = []
    for bundle, kind in found:
        cached = None if rescan else _cached(cache, bundle, kind)
        if cached is not None:
            results[bundle] = cached
        else:
            todo.append((bundle, kind))
    pool = ThreadPoolExecutor(PARALLEL_SCANS)
    _stopping.clear()
    try:
        scans = pool.map(lambda job: scan_bundle(job[0], job[1], timeout_s), todo)
        for (bundle, kind), plugins in zip(todo, scans, strict=True):
            results[bundle] = plugins
            _keep(cache, bundle, kind, plugins)
    except BaseException:  # Ctrl-C, SIGTERM: stop the scans now rather than after their timeouts
        pool.shutdown(wait=False, cancel_futures=True)
        with _running_lock:  # a scanner started but not yet listed in _running sees _stopping instead
            _stopping.set()
            for process in _running:
                _kill(process)
        raise
    finally:
        pool.shutdown()
    plugins = [p for bundle, _kind in found for p in results[bundle]]
    return Listing(plugins, scanned=len(todo), cached=len(found) - len(todo))


def scan_bundle(bundle: Path, kind: str = "VST3Plugin", timeout_s: float = SCAN_TIMEOUT_S) -> list[PluginInfo]:
    """Scan one bundle in a subprocess; a crash, a hang or a failure becomes one failed :class:`PluginInfo`."""
    log.info("scanning %s", bundle.name)
    failed = PluginInfo(name=bundle.stem, path=str(bundle), format=FORMATS[kind])
    env = dict(os.environ)
    package_root = str(Path(stemhost.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", WORKER, str(bundle), kind]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
        start_new_session=True,  # its own process group: killed whole on a timeout, spared the terminal's Ctrl-C
    )  # fmt: skip
    with _running_lock:
        _running.add(process)
        if _stopping.is_set():  # interrupted while it started
            _kill(process)
    try:
        out, err = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill(process)
        process.communicate()
        return [_replace(failed, error=f"did not load within {timeout_s:g} s")]
    finally:
        if process.poll() is None:  # interrupted (Ctrl-C): leave no scanner behind
            _kill(process)
            process.wait()
        with _running_lock:
            _running.discard(process)
    if process.returncode < 0:
        return [_replace(failed, error=f"crashed: {_signal_name(-process.returncode)}")]
    try:
        records = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
        return [_replace(failed, error=f"scanner exited with status {process.returncode}: {last[0]}")]
    return [_from_record(record, bundle, kind) for record in records] or [_replace(failed, error="holds no plugin")]


def find_plugins(plugins: Sequence[PluginInfo], name: str) -> list[PluginInfo]:
    """The plugins a name means: a plugin's name or its bundle's (with or without the suffix), any case.

    Raises:
        PluginError: nothing has that name (with the nearest names).
    """
    wanted = name.lower()
    matches = [
        p for p in plugins if wanted in (p.name.lower(), p.bundle_name.lower(), Path(p.bundle_name).stem.lower())
    ]
    if matches:
        return matches
    names = sorted({p.name for p in plugins} | {Path(p.bundle_name).stem for p in plugins})
    nearest = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if not nearest:
        nearest = [n for n in names if wanted in n.lower()][:3]
    hint = f"; did you mean {', '.join(repr(n) for n in nearest)}?" if nearest else ""
    raise PluginError(
        f"no plugin named {name!r} in the plugin folders ({len(names)} installed){hint} "
        "(`stemhost plugins` lists them; --plugin-path DIR adds a folder)"
    )


def cache_key(bundle: Path, kind: str) -> str:
    """The cache key of a bundle's scan: its real path, its binaries' sizes and mtimes, the format, stemhost's version."""
    signature = [os.path.realpath(bundle), kind, stemhost.__version__, RECORD_VERSION]
    for binary in _binaries(bundle):
        info = binary.stat()
        signature.append([str(binary), info.st_size, info.st_mtime_ns])
    return hashlib.sha256(json.dumps(signature).encode()).hexdigest()[:32]


def _binaries(bundle: Path) -> list[Path]:
    """A bundle's executable files (a single-file bundle is its own), and its moduleinfo.json if any."""
    if bundle.is_file():
        return [bundle]
    contents = bundle / "Contents"
    folders = [contents / f"{os.uname().machine}-linux"] if hasattr(os, "uname") else []
    folders += [contents / "MacOS", contents / "x86_64-win", contents / "arm64-win"]
    found = [f for folder in folders if folder.is_dir() for f in sorted(folder.iterdir()) if f.is_file()]
    info = [f for f in (contents / "Resources" / "moduleinfo.json", contents / "moduleinfo.json") if f.is_file()]
    return found + info or [bundle]


def _cached(cache, bundle: Path, kind: str) -> list[PluginInfo] | None:
    try:
        record = cache.record(cache_key(bundle, kind))
    except (OutputError, OSError):  # an unusable cache: scan, as if nothing were cached
        return None
    if record is None or not isinstance(record.get("plugins"), list):
        return None
    return [_from_record(r, bundle, kind) for r in record["plugins"]]


def _keep(cache, bundle: Path, kind: str, plugins: list[PluginInfo]) -> None:
    records = [{k: v for k, v in p.to_dict().items() if k not in ("path", "format")} for p in plugins]
    try:
        cache.put_record(cache_key(bundle, kind), {"bundle": str(bundle), "plugins": records})
    except (OutputError, OSError) as exc:
        warn(f"plugin scan of {bundle.name} not cached: {exc}")


def _from_record(record: dict, bundle: Path, kind: str) -> PluginInfo:
    known = {k: v for k, v in record.items() if k in PluginInfo.__dataclass_fields__}
    known.update(path=str(bundle), format=FORMATS[kind])
    known["channel_counts"] = tuple(known.get("channel_counts", ()))
    known["parameters"] = tuple(known.get("parameters", ()))
    return PluginInfo(**known)


def _replace(info: PluginInfo, **changes) -> PluginInfo:
    return PluginInfo(**{**asdict(info), **changes})


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
