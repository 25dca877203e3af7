"""Catalogs: every session under a folder, in every variant, as independent and idempotent jobs.

A job is one render: one session in one variant. It runs anywhere stemhost is installed and the
stems can be read (a worker of a Dask cluster on a shared filesystem): :func:`run_job` renders,
or skips an output whose manifest entry still matches its inputs (see :mod:`stemhost.packs.export`).
Failures are results, not exceptions, so one corrupt stem fails one job only. The catalog's
manifest, ``catalog.json`` in the output folder, lists every output and every failure.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from stemhost import __version__
from stemhost.engine.cache import file_sha256
from stemhost.engine.compile import input_paths
from stemhost.errors import OutputError, StemhostError, StemhostWarning
from stemhost.ownership import check_outputs, commit_replace, temporary_folder, write_json_atomic
from stemhost.packs.export import (
    PackEntry,
    check_kept_target,
    inputs_digest,
    is_up_to_date,
    render_variant,
    song_name,
)
from stemhost.render.driver import RenderOptions
from stemhost.render.outputs import make_output_folder, output_format
from stemhost.session.model import Session
from stemhost.session.variants import Variant, check_variants_change_mix, parse_variants

MANIFEST = "catalog.json"
SESSION_FILE = "session.json"


@dataclass(frozen=True)
class Job:
    """One render of a catalog: everything a worker needs, and nothing it must look up elsewhere.

    Attributes:
        song: the song's folder relative to the catalog ("." for the catalog's own session).
        session: the session with presets applied (variants are applied on the worker).
        session_path: the session file (stems are found from its folder).
        variant: what to render.
        out: the catalog's output folder.
        file: the output file, relative to it.
        options: output settings.
        done: the manifest's entry for this output from an earlier run, if any.
        force: render even what is up to date, and replace a file of the output's name that no run made.
    """

    song: str
    session: Session
    session_path: Path
    variant: Variant
    out: Path
    file: str
    options: RenderOptions
    done: PackEntry | None = None
    force: bool = False


@dataclass(frozen=True)
class JobResult:
    """What became of a job: ``done`` (rendered), ``skipped`` (up to date) or ``failed`` (with the error)."""

    song: str
    variant: str
    file: str  # relative to the output folder
    status: str
    entry: PackEntry | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()  # what the render warned of on its worker, where nobody sees warnings

    def to_json(self) -> dict:
        data = {"song": self.song, "variant": self.variant, "file": self.file, "status": self.status}
        if self.entry is not None:
            data.update({k: v for k, v in asdict(self.entry).items() if k not in ("file", "variant")})
        if self.error is not None:
            data["error"] = self.error
        if self.warnings:
            data["warnings"] = list(self.warnings)
        return data


def find_sessions(catalog: Path) -> list[Path]:
    """Every session.json under a folder, in a stable order."""
    if not catalog.is_dir():
        raise OutputError(f"{str(catalog)!r}: not a folder; give the folder that holds the songs' session.json files")
    found = sorted(catalog.rglob(SESSION_FILE))
    if not found:
        raise OutputError(f"{str(catalog)!r}: no {SESSION_FILE} in it or below it; `stemhost init FOLDER` makes one")
    return found


def output_file(song: str, name: str, variant: str, extension: str) -> str:
    """Where a variant of a song goes, relative to the output folder: the song's folder, mirrored."""
    return str(Path(song) / f"{name}-{variant}{extension}")


def run_job(job: Job) -> JobResult:
    """Render one job, or skip it when its output is up to date; never raises for a bad song.

    The job's warnings (a stem padded, a loudness target missed) come back in the result: a worker's own
    warnings reach no one.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", StemhostWarning)
        result = _run_job(job)
    said = tuple(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, StemhostWarning)))
    return replace(result, warnings=said)


def _run_job(job: Job) -> JobResult:
    output = job.out / job.file
    try:
        played = job.variant.apply(job.session)
        digest = inputs_digest(played, job.session_path, job.options, output.suffix.lower())
        if is_up_to_date(job.done, digest, output) and not job.force:
            check_kept_target(played, job.done, job.options, output)
            return JobResult(job.song, job.variant.name, job.file, "skipped", job.done)
        check_outputs([(output, f"-o {str(job.out)!r}: {job.file!r}")], input_paths(job.session, job.session_path))
        output.parent.mkdir(parents=True, exist_ok=True)
        if _unproven(job, output):
            entry = _render_over_unproven(job, played, digest, output)
        else:
            entry = render_variant(played, job.session_path, job.variant.name, digest, output, job.options)
        return JobResult(job.song, job.variant.name, job.file, "done", replace(entry, file=job.file))
    except StemhostError as exc:
        return JobResult(job.song, job.variant.name, job.file, "failed", error=str(exc))
    except Exception as exc:  # a bug, reported with the job rather than stopping the catalog
        return JobResult(job.song, job.variant.name, job.file, "failed", error=f"internal error: {exc!r}")


def _unproven(job: Job, output: Path) -> bool:
    """An output file no earlier run listed as it is now (a job can finish after its batch stopped listening)."""
    return output.exists() and not job.force and (job.done is None or file_sha256(output) != job.done.sha256)


def _render_over_unproven(job: Job, played: Session, digest: str, output: Path) -> PackEntry:
    """Render beside an unlisted file of the output's name; take its place only when it is the same file."""
    with temporary_folder(output.parent) as work:
        entry = render_variant(played, job.session_path, job.variant.name, digest, work / output.name, job.options)
        if entry.sha256 != file_sha256(output):
            raise OutputError(
                f"-o {str(job.out)!r}: {job.file!r} is already there and no stemhost batch made it (or it changed "
                "since); move it away, or add --force to replace it"
            )
        commit_replace(work / output.name, output)
    return entry


def read_manifest(out: Path) -> dict[str, JobResult]:
    """The outputs an earlier run finished (failures left out), by file relative to the output folder."""
    path = out / MANIFEST
    if not path.is_file():
        return {}
    try:
        finished = {}
        for o in json.loads(path.read_text(encoding="utf-8"))["outputs"]:
            if not _inside(o["file"]):
                raise ValueError(o["file"])
            if o["status"] in ("done", "skipped"):
                entry = PackEntry(**{k: o[k] for k in PackEntry.__dataclass_fields__})
                finished[o["file"]] = JobResult(o["song"], o["variant"], o["file"], o["status"], entry)
        return finished
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"{path}: not a stemhost catalog manifest; move it away or choose another folder") from exc


def _inside(file: object) -> bool:
    """A catalog entry's file: a relative path that stays inside the output folder (no .., not absolute)."""
    parts = file.split("/") if isinstance(file, str) else [""]
    return all(part not in ("", ".", "..") and "\0" not in part and "\\" not in part for part in parts)


def write_manifest(out: Path, results: list[JobResult]) -> None:
    """catalog.json: every output and failure, songs in order."""
    ordered = sorted(results, key=lambda r: (r.song, r.file))
    write_json_atomic(out / MANIFEST, {"stemhost": __version__, "outputs": [r.to_json() for r in ordered]})


def plan_jobs(
    sessions: list[tuple[str, Path, Session, list[Variant]]],
    out: Path,
    extension: str,
    options: RenderOptions,
    earlier: dict[str, JobResult],
    force: bool = False,
) -> list[Job]:
    """One job per song and variant, each with the earlier run's manifest entry for its output (see read_manifest)."""
    jobs = []
    for song, path, session, variants in sessions:
        name = song_name(session, path)
        for variant in variants:
            file = output_file(song, name, variant.name, extension)
            done = earlier.get(file)
            jobs.append(Job(song, session, path, variant, out, file, options, done and done.entry, force))
    return jobs


@dataclass(frozen=True)
class CatalogPlan:
    """What a catalog run will do, before anything renders.

    Attributes:
        out: the output folder.
        jobs: one per song and variant.
        songs: how many songs were planned.
        unplanned: songs that failed before any job (their session or presets do not load).
        earlier: the outputs an earlier run finished (see :func:`read_manifest`).
    """

    out: Path
    jobs: list[Job]
    songs: int
    unplanned: list[JobResult]
    earlier: dict[str, JobResult]


def plan_catalog(
    catalog: Path,
    out: Path,
    variants: str,
    extension: str,
    options: RenderOptions,
    load: Callable[[Path], Session],
    force: bool = False,
) -> CatalogPlan:
    """Find every session under catalog and plan a job for each song and variant.

    Args:
        catalog: the folder holding the songs.
        out: the output folder; made if missing.
        variants: the variant list, as for export (e.g. "full,karaoke").
        extension: the files' format, e.g. ".flac".
        options: output settings; each job renders on one DSP thread (the cluster runs jobs side by side).
        load: reads a session file and applies presets and overrides; a StemhostError fails that song alone.
        force: render everything again, even what is up to date.
    """
    output_format(Path(f"x{extension}"), options.bit_depth, options.mp3_mode)
    parse_variants(variants, None)  # a bad list fails once, before any song is read
    songs, unplanned = [], []
    for path in find_sessions(catalog):
        song = str(path.parent.relative_to(catalog))
        try:
            session = load(path)
            planned = parse_variants(variants, session)
            check_variants_change_mix(planned, session, path)  # the song fails before any of it renders
            songs.append((song, path, session, planned))
        except StemhostError as exc:
            unplanned.append(JobResult(song, "*", str(Path(song) / SESSION_FILE), "failed", error=str(exc)))
    make_output_folder(out, "-o")
    earlier = read_manifest(out)
    jobs = plan_jobs(songs, out, extension, replace(options, workers=1), earlier, force)
    return CatalogPlan(out, jobs, len(songs), unplanned, earlier)


def count_statuses(results: list[JobResult]) -> dict[str, int]:
    """How many results are done, skipped and failed."""
    return {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
