"""Benchmark: stemhost's streaming render against plain pedalboard scripts on one and on two threads.

A synthesized session of 16 stereo stems (48 kHz, 32-bit float WAV), each with an EQ and a
compressor, sending to two reverb buses, with a limiter on the master, is rendered by
``stemhost render --tail 0 --bit-depth 32f`` and by ``scripts/bench_baseline.py`` (whole buffers,
no stemhost), once plain (one thread) and once with ``--threads 2`` (the stems' chains on a
two-thread pool, as a user would write it with concurrent.futures). Two such sessions: a dense one
(every stem sounds all the time) and a sparse one (each stem sounds in about half of its 20-second
sections, digital silence between; ``--no-sparse`` skips it). Each render runs as a child process;
its wall time is taken around the process, its CPU time (user + system) and peak memory
(``ru_maxrss``) come from ``os.wait4``. stemhost's peak memory is also measured for a short and a
long session, to show that it does not grow with the song's length.

stemhost's output must equal the plain script's (within 1e-5, same length): it is a verdict line,
not a remark. The stems are 32-bit float so that both read the same numbers: on 16-bit PCM,
pedalboard's reader (the scripts') divides by 32767 and libsndfile's scale (stemhost's) by 32768,
a difference of ~3e-5 that would hide any real one. Both outputs are 32-bit float too.

The stemhost measured is the one beside this script: renders run ``python -m stemhost.cli.main``
with ``src/`` first on ``PYTHONPATH``, whatever the venv has installed.

More sections follow (see bench_live.py, bench_plugins.py and bench_catalog.py): live playback's time
per block for 8, 16 and 32 stems (the audio callback and the render thread, through JACK's dummy
backend), a sparse session of 64 stems played live, and key and tempo changes while playing
(``--no-live`` skips them); 16 stems through third-party VST3 plugins against a plain script loading
the same ones (``--no-plugins`` skips it); catalog throughput with 1 and 2 local Dask workers
(``--catalog 0 0`` skips it); and the first key change of an 8-stem song, dense and sparse, against
the ``rubberband`` command run on each whole stem (bench_keychange.py; ``--keychange-minutes 0`` skips it).

Targets (on a 2-core machine), as ratios measured in one run:

- dense: CPU time <= 0.7x the plain script's; wall <= 0.65x the two-thread script's (and <= 0.6x the
  plain one's); peak memory <= 0.3x the plain script's; output within 1e-5 of the plain script's;
- sparse: CPU time <= 0.5x the plain script's; wall <= 0.6x the two-thread script's; output within
  1e-5 of the plain script's;
- the first key change (+2) of a sparse 4-minute 8-stem song, nothing cached: <= 0.5x the wall time of
  the ``rubberband`` command with stemhost's options on each whole stem, one per core;
- stemhost's peak for a 10-minute session within 1.2x of its peak for a 1-minute one;
- live: 64 sparse stems play at blocksize 256 with no render underrun (a count, not a ratio).

Usage::

    scripts/bench                 # 5-minute comparison, 1- and 10-minute memory pair
    scripts/bench --quick         # 1-minute comparison, 0.5- and 2-minute memory pair
    scripts/bench --keep /tmp/stemhost-bench --repeat 3
    scripts/bench --quick --repeat 1 --no-live --no-plugins --catalog 0 0   # the renders only

Stems are cached in the work folder (``--keep DIR``; a fresh temporary folder otherwise,
removed at the end). The last line printed is every figure as one JSON object.

SPDX-License-Identifier: GPL-3.0-or-later
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
BASELINE = ROOT / "scripts" / "bench_baseline.py"
# The stemhost beside this script, not whichever the venv has installed: children get src/ first on
# PYTHONPATH (set in main()) and run the CLI as a module; bench_live imports it in this process.
STEMHOST = [sys.executable, "-m", "stemhost.cli.main"]
sys.path.insert(0, str(SRC))

SAMPLE_RATE = 48000
STEMS = 16
LOOP_S = 10.0  # each stem is a 10-second phrase, written over and over to the session's length
SECTION_S = 20.0  # the sparse session's sections: a stem sounds in about half of them (phrases end at zero)
WRITE_FRAMES = 1 << 18
ROLES = (
    "drums",
    "percussion",
    "bass",
    "guitar",
    "keys",
    "piano",
    "synth",
    "strings",
    "brass",
    "pad",
    "lead_vocal",
    "backing_vocals",
    "guitar",
    "keys",
    "synth",
    "fx",
)
SCALE = (0, 2, 4, 5, 7, 9, 11)  # major scale, semitones

TARGET_WALL = 0.6  # stemhost / plain script, dense
TARGET_CPU = 0.7  # stemhost / plain script, dense
TARGET_WALL_THREADS = 0.65  # stemhost / two-thread script, dense
TARGET_SPARSE_CPU = 0.5
TARGET_SPARSE_WALL_THREADS = 0.6
TARGET_MEMORY = 0.3
TARGET_GROWTH = 1.2
TARGET_DIFFERENCE = 1e-5  # max |stemhost - plain script|, both 32-bit float from 32-bit float stems


# ---------------------------------------------------------------- stems and sessions


def synth_phrase(index: int, sample_rate: int = SAMPLE_RATE, seconds: float = LOOP_S) -> np.ndarray:
    """A deterministic, loopable phrase for stem ``index`` as ``(frames, 2)`` float32.

    Drum-like stems (0, 1 and every fifth) are decaying noise bursts over a low thump;
    the others play notes of a major scale with a few harmonics and a plucked envelope,
    each stem in its own register, note length and timbre. Notes end inside the phrase,
    so the loop joins without a click.
    """
    rng = np.random.default_rng(0xBE7C + index)
    frames = round(seconds * sample_rate)
    out = np.zeros((frames, 2), dtype=np.float64)
    percussive = index in (0, 1) or index % 5 == 4
    note_s = (0.25, 0.5, 1.0, 0.125)[index % 4] if not percussive else 0.25
    note_frames = round(note_s * sample_rate)
    t = np.arange(note_frames) / sample_rate
    pans = np.array([1.0 - 0.4 * ((index % 3) == 0), 1.0 - 0.4 * ((index % 3) == 1)])
    for start in range(0, frames - note_frames + 1, note_frames):
        if percussive:
            if rng.random() < 0.2:
                continue  # a rest
            decay = rng.uniform(8.0, 40.0)
            burst = rng.standard_normal((note_frames, 2)) * np.exp(-decay * t)[:, None] * 0.5
            thump = np.sin(2 * np.pi * (45 + 20 * (index % 3)) * t) * np.exp(-12.0 * t) * rng.uniform(0.3, 1.0)
            note = burst + thump[:, None]
        else:
            if rng.random() < 0.1:
                continue
            octave = 2 + index % 4
            semitone = SCALE[rng.integers(len(SCALE))] + 12 * octave
            freq = 440.0 * 2 ** ((semitone - 57) / 12)
            tone = sum(
                np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 2 * np.pi)) / h**1.3 for h in range(1, 2 + index % 5)
            )
            envelope = np.minimum(1.0, t / 0.005) * np.exp(-rng.uniform(1.5, 6.0) * t)
            detune = np.sin(2 * np.pi * freq * 1.003 * t) * 0.3
            note = np.stack([tone + detune, tone - detune], axis=1) * envelope[:, None]
            if rng.random() < 0.15:  # now and then a breathy noise accent
                note += rng.standard_normal((note_frames, 2)) * np.exp(-30.0 * t)[:, None] * 0.2
        fade = np.minimum(1.0, (note_frames - np.arange(note_frames)) / 64.0)  # ends at zero: no click
        out[start : start + note_frames] += note * fade[:, None]
    peak = np.max(np.abs(out)) or 1.0
    level = 10 ** (rng.uniform(-14.0, -8.0) / 20)
    return (out * (level / peak) * pans).astype(np.float32)


def sounding_sections(
    index: int, frames: int, sample_rate: int = SAMPLE_RATE, section_s: float = SECTION_S
) -> np.ndarray:
    """Which of a sparse stem's ``section_s`` sections sound: about half, chosen per stem, at least one."""
    count = max(1, math.ceil(frames / (section_s * sample_rate)))
    rng = np.random.default_rng(0x5EC7 + index)
    sounding = max(1, count // 2 + (index % 2) * (count % 2))  # odd stems take the odd section: half on average
    active = np.zeros(count, dtype=bool)
    active[rng.permutation(count)[:sounding]] = True
    return active


def write_stem(
    path: Path,
    phrase: np.ndarray,
    frames: int,
    sample_rate: int = SAMPLE_RATE,
    sections: np.ndarray | None = None,
    subtype: str = "FLOAT",
    section_s: float = SECTION_S,
) -> None:
    """Write ``frames`` frames of ``phrase`` repeated, in chunks, as WAV; skip a file already right.

    Args:
        sections: for a sparse stem, which ``section_s`` sections sound; the others are written as
            exact zeros (digital silence). Sections start on the phrase's joins, or on its notes' (every
            multiple of 1 s, as ``section_s`` should be), where it is silent.
        subtype: soundfile's subtype; 32-bit float by default, so that every reader reads the same numbers.
    """
    if path.exists():
        try:
            info = soundfile.info(str(path))
            if (info.frames, info.samplerate, info.channels, info.subtype) == (frames, sample_rate, 2, subtype):
                return
        except RuntimeError:
            pass
    part = path.with_name(path.name + ".part")
    section_frames = round(section_s * sample_rate)
    with soundfile.SoundFile(str(part), "w", sample_rate, 2, subtype, format="WAV") as f:
        written = 0
        while written < frames:
            offset = written % len(phrase)
            n = min(WRITE_FRAMES, frames - written, len(phrase) - offset)
            chunk = phrase[offset : offset + n]
            if sections is not None:
                chunk = chunk * sections[(written + np.arange(n)) // section_frames][:, None]
            f.write(chunk)
            written += n
    os.replace(part, path)


def session_data(files: list[str]) -> dict:
    """16 stems, each EQ → compressor and a -12 dB send to one of two reverb buses; a limiter on the master."""
    stems = []
    for i, file in enumerate(files):
        if i % 2 == 0:
            eq = {"type": "HighpassFilter", "cutoff_frequency_hz": 30.0 + 10.0 * i}
        else:
            eq = {"type": "PeakFilter", "cutoff_frequency_hz": 250.0 * (1 + i % 7), "gain_db": 2.0, "q": 1.0}
        compressor = {"type": "Compressor", "threshold_db": -18.0, "ratio": 3.0, "attack_ms": 5.0, "release_ms": 120.0}
        stems.append(
            {
                "name": f"stem{i + 1:02d}",
                "file": file,
                "role": ROLES[i % len(ROLES)],
                "chain": [eq, compressor],
                "sends": [{"bus": "room" if i % 2 else "hall", "level_db": -12.0}],
            }
        )
    reverb = {"type": "Reverb", "wet_level": 1.0, "dry_level": 0.0}
    return {
        "stems": stems,
        "buses": [
            {"name": "room", "chain": [{**reverb, "room_size": 0.35, "damping": 0.6}]},
            {"name": "hall", "chain": [{**reverb, "room_size": 0.85, "damping": 0.4}]},
        ],
        "master": {"chain": [{"type": "Limiter", "threshold_db": -1.0}]},
    }


def prepare(work: Path, minutes: float, phrases: list[np.ndarray], sparse: bool = False) -> Path:
    """Write (or reuse) the stems of a session ``minutes`` long and its session.json; return the session path."""
    folder = work / (f"{minutes:g}min-sparse" if sparse else f"{minutes:g}min")
    folder.mkdir(parents=True, exist_ok=True)
    frames = round(minutes * 60 * SAMPLE_RATE)
    files = []
    for i, phrase in enumerate(phrases):
        name = f"stem{i + 1:02d}.wav"
        sections = sounding_sections(i, frames) if sparse else None
        write_stem(folder / name, phrase, frames, sections=sections)
        files.append(name)
    session = folder / "session.json"
    session.write_text(json.dumps(session_data(files), indent=2) + "\n")
    return session


def warm_cache(session: Path) -> None:
    """Read the stems once so both contenders find them in the page cache."""
    for path in sorted(session.parent.glob("stem*.wav")):
        with open(path, "rb") as f:
            while f.read(1 << 23):
                pass


# ---------------------------------------------------------------- measuring


@dataclass
class Run:
    wall_s: float
    peak_mib: float
    cpu_s: float = 0.0  # user + system CPU seconds of the child and everything it waited for


# Peak memory is the child's ru_maxrss. Linux carries the high-water mark of the memory a process
# had before exec() into its ru_maxrss, and a child forked (or vforked) from this script starts
# with this script's memory: measured directly, every child would show at least this script's
# peak. So a bare interpreter (no site, no numpy, a few MiB) forks and waits for each command.
LAUNCHER = """
import os, sys, time
log, command = sys.argv[1], sys.argv[2:]
out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    try:
        os.execv(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(os.waitstatus_to_exitcode(status), wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def measure(command: list[str], log: Path) -> Run:
    """Run a command as a child process; its wall time, CPU time and peak resident memory (``ru_maxrss``)."""
    launched = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, str(log), *command],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    status, wall, maxrss, cpu = launched.stdout.split()
    if int(status) != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise SystemExit(f"error: {' '.join(command)} exited with {status}:\n{tail}")
    return Run(float(wall), int(maxrss) / 1024.0, float(cpu))  # ru_maxrss is in KiB on Linux


def cpu_busy(seconds: float = 0.5) -> float | None:
    """The share of all cores' time spent busy over a short interval (Linux /proc/stat); None elsewhere."""
    try:

        def snapshot() -> tuple[int, int]:
            with open("/proc/stat") as f:
                ticks = [int(v) for v in f.readline().split()[1:]]
            return ticks[3] + ticks[4], sum(ticks)  # idle + iowait, total

        idle0, total0 = snapshot()
        time.sleep(seconds)
        idle1, total1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


BUSY_LIMIT = 0.1
busy_notes: list[str] = []


def run_logged(label: str, command: list[str], log: Path) -> Run:
    """Measure one run and print it; note when the machine was busy just before (other processes skew both figures)."""
    busy = cpu_busy()
    run = measure(command, log)
    note = ""
    if busy is not None and busy > BUSY_LIMIT:
        note = f"  (CPU {busy:.0%} busy just before: another process is running)"
        busy_notes.append(f"{label}: CPU {busy:.0%} busy")
    print(f"  {label:<28}{run.wall_s:8.2f} s{run.peak_mib:8.0f} MiB{run.cpu_s:8.2f} s CPU{note}")
    return run


def best(runs: list[Run]) -> Run:
    """Best wall time and CPU time of the repeats, and the highest peak memory seen (the conservative figure)."""
    return Run(min(r.wall_s for r in runs), max(r.peak_mib for r in runs), min(r.cpu_s for r in runs))


def stemhost_command(session: Path, out: Path) -> list[str]:
    return [*STEMHOST, "render", str(session), "-o", str(out), "--tail", "0", "--bit-depth", "32f"]


def baseline_command(session: Path, out: Path, threads: int = 1) -> list[str]:
    return [
        sys.executable,
        str(BASELINE),
        *(["--threads", str(threads)] if threads > 1 else []),
        str(session),
        str(out),
    ]


@dataclass
class Comparison:
    """One session rendered by the plain script, the two-thread script and stemhost: best runs and differences."""

    plain: Run
    threads: Run
    stemhost: Run
    difference: float  # max |stemhost - plain|
    same_length: bool
    frames: int
    threads_difference: float  # max |two-thread - plain|: 0 unless the scripts differ

    def output_ok(self) -> bool:
        return self.same_length and self.difference <= TARGET_DIFFERENCE


def compare(name: str, session: Path, repeat: int) -> Comparison:
    """Render ``session`` ``repeat`` times with each contender (interleaved, so drift hits all three)."""
    folder = session.parent
    plain, threads, ours = [], [], []
    for k in range(repeat):
        warm_cache(session)
        plain.append(
            run_logged(
                f"{k + 1}: plain {name}",
                baseline_command(session, folder / "out_baseline.wav"),
                folder / "baseline.log",
            )
        )
        command = baseline_command(session, folder / "out_threads.wav", threads=2)
        threads.append(run_logged(f"{k + 1}: 2 threads {name}", command, folder / "threads.log"))
        command = stemhost_command(session, folder / "out_stemhost.wav")
        ours.append(run_logged(f"{k + 1}: stemhost {name}", command, folder / "stemhost.log"))
    difference, frames_ours, frames_base = max_difference(folder / "out_stemhost.wav", folder / "out_baseline.wav")
    threads_difference, _, _ = max_difference(folder / "out_threads.wav", folder / "out_baseline.wav")
    same = frames_ours == frames_base
    if not same:
        print(f"  {name}: LENGTHS DIFFER: stemhost {frames_ours} frames, plain script {frames_base}")
    return Comparison(best(plain), best(threads), best(ours), difference, same, frames_ours, threads_difference)


def max_difference(a: Path, b: Path) -> tuple[float, int, int]:
    """The largest sample difference between two files, read in chunks; and both lengths in frames."""
    with soundfile.SoundFile(str(a)) as fa, soundfile.SoundFile(str(b)) as fb:
        worst = 0.0
        while True:
            xa = fa.read(WRITE_FRAMES, dtype="float64", always_2d=True)
            xb = fb.read(WRITE_FRAMES, dtype="float64", always_2d=True)
            n = min(len(xa), len(xb))
            if n == 0:
                break
            worst = max(worst, float(np.max(np.abs(xa[:n] - xb[:n]))))
        return worst, fa.frames, fb.frames


# ---------------------------------------------------------------- report


def git_head() -> str:
    """The worktree's commit (with ``+`` when it has uncommitted changes), or ``?``."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return head + ("+" if dirty else "")


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio <= target else "MISS"


def dbfs(value: float) -> str:
    return "-inf dBFS" if value <= 0 else f"{20 * math.log10(value):.1f} dBFS"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the compared session (default 5)")
    parser.add_argument(
        "--memory-minutes",
        type=float,
        nargs=2,
        default=(1.0, 10.0),
        metavar=("SHORT", "LONG"),
        help="lengths of stemhost's memory-growth pair (default 1 10)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="1-minute comparisons, a 0.5/2-minute memory pair, a smaller catalog"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs of each render; the best wall and CPU time count, the highest memory",
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="work folder to keep and reuse (stems are cached)")
    parser.add_argument(
        "--catalog",
        type=int,
        nargs=2,
        default=None,
        metavar=("SONGS", "SECONDS"),
        help="catalog throughput with 1 and 2 local workers: songs and their length (default 8 60; 0 0 skips it)",
    )
    parser.add_argument("--no-live", action="store_true", help="skip the live playback figures")
    parser.add_argument("--no-plugins", action="store_true", help="skip the third-party plugin figures")
    parser.add_argument("--no-sparse", action="store_true", help="skip the sparse session")
    parser.add_argument(
        "--keychange-minutes",
        type=float,
        default=None,
        metavar="MINUTES",
        help="length of the first-key-change song, 8 stems (default 4; 1 with --quick; 0 skips it)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.minutes, args.memory_minutes = 1.0, (0.5, 2.0)
    if args.keychange_minutes is None:
        args.keychange_minutes = 1.0 if args.quick else 4.0
    if args.catalog is None:  # an explicit --catalog (0 0 included) wins over --quick's smaller catalog
        args.catalog = (4, 20) if args.quick else (8, 60)
    if args.repeat < 1 or args.minutes <= 0 or min(args.memory_minutes) <= 0:
        parser.error("--repeat and the lengths must be above 0")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    try:
        import stemhost
    except ImportError as error:
        parser.error(f"stemhost's dependencies are missing from this python ({error}); run scripts/bench")
    if Path(stemhost.__file__).resolve().parent != SRC / "stemhost":
        parser.error(f"this python imports stemhost from {stemhost.__file__}, not from {SRC}")

    work = args.keep or Path(tempfile.mkdtemp(prefix="stemhost-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    cores = os.cpu_count() or 1
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = cores
    import pedalboard

    print(
        f"machine: {cores} cores ({affinity} usable), {platform.machine()}, Python {platform.python_version()}, "
        f"pedalboard {pedalboard.__version__}"
    )
    if cores != 2:
        print(f"note: the targets are set for a 2-core machine; this one has {cores}")
    print(f"work folder: {work}")
    print(f"stemhost: {SRC / 'stemhost'} (git {git_head()})")
    try:
        started = time.perf_counter()
        phrases = [synth_phrase(i) for i in range(STEMS)]
        lengths = sorted({args.minutes, *args.memory_minutes})
        sessions = {m: prepare(work, m, phrases) for m in lengths}
        sparse_session = None if args.no_sparse else prepare(work, args.minutes, phrases, sparse=True)
        phrases_for_catalog = phrases[:8]
        del phrases
        minutes = ", ".join(f"{m:g}" for m in lengths)
        sparse_note = "" if args.no_sparse else f", and a sparse {args.minutes:g} min"
        print(
            f"stems ready: {STEMS} stereo stems of {minutes} min{sparse_note} ({time.perf_counter() - started:.1f} s)"
        )
        print("runs (wall time, peak memory, CPU time):")

        dense = compare(f"{args.minutes:g} min", sessions[args.minutes], args.repeat)
        sparse = (
            None if sparse_session is None else compare(f"sparse {args.minutes:g} min", sparse_session, args.repeat)
        )

        growth: dict[float, list[Run]] = {m: [] for m in args.memory_minutes}
        for k in range(args.repeat):
            for m in args.memory_minutes:
                session = sessions[m]
                warm_cache(session)
                command = stemhost_command(session, session.parent / "out_stemhost.wav")
                growth[m].append(run_logged(f"{k + 1}: stemhost {m:g} min", command, session.parent / "stemhost.log"))
        keychange = {}
        if args.keychange_minutes > 0:
            import bench_keychange

            print(f"first key change (8 stems, {args.keychange_minutes:g} min, nothing cached):")
            keychange = bench_keychange.run(
                work, args.keychange_minutes, phrases_for_catalog, prepare, stemhost_command, run_logged
            )
        live = {}
        if not args.no_live:
            import bench_live

            print("live playback (JACK dummy backend, blocksize 256):")
            live = bench_live.run(work, phrases_for_catalog, write_stem, session_data, sounding_sections)
        plugins = {}
        if not args.no_plugins:
            import bench_plugins

            print("third-party plugins (Debian's zam-plugins):")
            plugins = bench_plugins.run(
                sessions[args.memory_minutes[0]],
                args.repeat,
                run_logged,
                stemhost_command,
                baseline_command,
                max_difference,
            )
        catalog = {}
        if min(args.catalog) > 0:
            import bench_catalog

            print("catalog throughput (stemhost batch, local Dask cluster):")
            catalog = bench_catalog.run(work, STEMHOST, *args.catalog, phrases_for_catalog, write_stem, measure)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    short_m, long_m = args.memory_minutes
    short, long = best(growth[short_m]), best(growth[long_m])
    growth_ratio = long.peak_mib / short.peak_mib
    m = f"{args.minutes:g} min"

    rows = [
        (f"plain script {m}", dense.plain),
        (f"2-thread script {m}", dense.threads),
        (f"stemhost {m}", dense.stemhost),
    ]
    if sparse:
        rows += [
            (f"plain script sparse {m}", sparse.plain),
            (f"2-thread script sparse {m}", sparse.threads),
            (f"stemhost sparse {m}", sparse.stemhost),
        ]
    rows += [(f"stemhost {short_m:g} min", short), (f"stemhost {long_m:g} min", long)]
    print()
    print(f"{'render':<30}{'wall s':>9}{'CPU s':>9}{'cores':>7}{'peak MiB':>10}")
    for label, run in rows:
        cores_busy = run.cpu_s / run.wall_s if run.wall_s > 0 else 0.0
        print(f"{label:<30}{run.wall_s:>9.2f}{run.cpu_s:>9.2f}{cores_busy:>7.2f}{run.peak_mib:>10.1f}")
    print()

    def ratio(a: float, b: float) -> float:
        return a / b if b > 0 else math.inf

    # (key, label, value, target); the output checks are a difference, not a ratio
    checks: list[tuple[str, str, float, float]] = [
        ("cpu", f"dense {m}: CPU, stemhost / plain script", ratio(dense.stemhost.cpu_s, dense.plain.cpu_s), TARGET_CPU),
        (
            "wall_threads",
            f"dense {m}: wall, stemhost / 2-thread script",
            ratio(dense.stemhost.wall_s, dense.threads.wall_s),
            TARGET_WALL_THREADS,
        ),
        (
            "wall",
            f"dense {m}: wall, stemhost / plain script",
            ratio(dense.stemhost.wall_s, dense.plain.wall_s),
            TARGET_WALL,
        ),
        (
            "memory",
            f"dense {m}: peak memory, stemhost / plain script",
            ratio(dense.stemhost.peak_mib, dense.plain.peak_mib),
            TARGET_MEMORY,
        ),
    ]
    if sparse:
        checks += [
            (
                "sparse_cpu",
                f"sparse {m}: CPU, stemhost / plain script",
                ratio(sparse.stemhost.cpu_s, sparse.plain.cpu_s),
                TARGET_SPARSE_CPU,
            ),
            (
                "sparse_wall_threads",
                f"sparse {m}: wall, stemhost / 2-thread script",
                ratio(sparse.stemhost.wall_s, sparse.threads.wall_s),
                TARGET_SPARSE_WALL_THREADS,
            ),
        ]
    if keychange:
        checks.append(
            (
                "keychange_sparse",
                "sparse 8 stems: first key change / rubberband",
                keychange["keychange_sparse_ratio"],
                bench_keychange.TARGET_SPARSE,
            )
        )
    checks.append(("growth", f"peak memory, stemhost {long_m:g} / {short_m:g} min", growth_ratio, TARGET_GROWTH))
    passed = {key: value <= target for key, _, value, target in checks}
    print(f"{'verdict':<52}{'value':>9}{'target':>11}")
    for _key, label, value, target in checks:
        print(f"{label:<52}{value:>8.3f}x{'<= ' + format(target, 'g') + 'x':>11}  {verdict(value, target)}")
    for key, name, comparison in (("output", "dense", dense), ("sparse_output", "sparse", sparse)):
        if comparison is None:
            continue
        passed[key] = comparison.output_ok()
        length = "" if comparison.same_length else " (LENGTHS DIFFER)"
        print(
            f"{name + ' ' + m + ': max |stemhost - plain script|' + length:<52}{comparison.difference:>9.2g}"
            f"{'<= ' + format(TARGET_DIFFERENCE, 'g'):>11}  {'PASS' if passed[key] else 'MISS'}"
        )
    live_sparse = live.get("live", {}).get("sparse")  # bench_live's sparse session: no render underrun
    if live_sparse is not None:
        passed["live_sparse"] = live_sparse["render_underruns"] == 0
        label = f"{live_sparse['stems']} sparse stems live: render underruns"
        underruns = live_sparse["render_underruns"]
        print(f"{label:<52}{underruns:>9}{'= 0':>11}  {'PASS' if passed['live_sparse'] else 'MISS'}")
    print()
    for name, comparison in (("dense", dense), ("sparse", sparse)):
        if comparison is not None:
            print(
                f"sanity: {name}: stemhost differs from the plain script by at most {comparison.difference:.3g} "
                f"({dbfs(comparison.difference)}) over {comparison.frames} frames; the 2-thread script from the plain "
                f"one by {comparison.threads_difference:.3g}"
            )
    print(
        f"machine: {cores} cores ({affinity} usable); best wall and CPU of {args.repeat} run(s), highest peak memory seen"
    )
    if busy_notes:
        print(
            f"warning: another process was using the CPU just before {len(busy_notes)} run(s) "
            f"({'; '.join(busy_notes)}); their figures may be inflated: rerun on an idle machine"
        )
    print(f"verdict: {'PASS' if all(passed.values()) else 'MISS'} ({sum(passed.values())} of {len(passed)} checks)")

    def figures_of(prefix: str, c: Comparison) -> dict:
        return {
            f"{prefix}baseline_wall_s": round(c.plain.wall_s, 3),
            f"{prefix}baseline_cpu_s": round(c.plain.cpu_s, 3),
            f"{prefix}baseline_peak_mib": round(c.plain.peak_mib, 1),
            f"{prefix}threads_wall_s": round(c.threads.wall_s, 3),
            f"{prefix}threads_cpu_s": round(c.threads.cpu_s, 3),
            f"{prefix}threads_peak_mib": round(c.threads.peak_mib, 1),
            f"{prefix}stemhost_wall_s": round(c.stemhost.wall_s, 3),
            f"{prefix}stemhost_cpu_s": round(c.stemhost.cpu_s, 3),
            f"{prefix}stemhost_peak_mib": round(c.stemhost.peak_mib, 1),
            f"{prefix}max_abs_difference": float(f"{c.difference:.3g}"),
            f"{prefix}threads_max_abs_difference": float(f"{c.threads_difference:.3g}"),
            f"{prefix}same_length": c.same_length,
        }

    values = {key: round(value, 3) for key, _, value, _ in checks}
    figures = {
        "cores": cores,
        "repeat": args.repeat,
        "minutes": args.minutes,
        "git": git_head(),
        **figures_of("", dense),
        "wall_ratio": values["wall"],
        "cpu_ratio": values["cpu"],
        "wall_threads_ratio": values["wall_threads"],
        "memory_ratio": values["memory"],
        **(figures_of("sparse_", sparse) if sparse else {}),
        **(
            {"sparse_cpu_ratio": values["sparse_cpu"], "sparse_wall_threads_ratio": values["sparse_wall_threads"]}
            if sparse
            else {}
        ),
        "memory_short_minutes": short_m,
        "memory_long_minutes": long_m,
        "stemhost_short_peak_mib": round(short.peak_mib, 1),
        "stemhost_long_peak_mib": round(long.peak_mib, 1),
        "memory_growth_ratio": round(growth_ratio, 3),
        "busy_runs": len(busy_notes),
        **keychange,
        **catalog,
        **live,
        **plugins,
        "pass": {**passed, "all": all(passed.values())},
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
