"""Render jobs of the web app: packs of variants made by :func:`stemhost.packs.export.export_pack`, one at a time.

A job renders what ``stemhost export SESSION --variants V -o DIR --format F [--loudness L] [--true-peak T]
[--master M]`` renders, byte for byte, into ``FOLDER/renders/<song>/<settings>/`` (one pack folder per output
setting, so jobs with different settings never meet in one pack). Once the files are done (state "done"), the
job makes the mix report of its first file (``report_state`` "making", then "ready"): that variant is rendered
again with the report's meters into a temporary folder, since the report's stem table is measured while
rendering; the page is kept in memory. For a 5-minute song the report takes several times the pack's render
(meters, read-back analysis, drawing), so it never holds back the downloads. Bad inputs are refused by :meth:`RenderJobs.start`
before a job exists; a job that fails later says why in one line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from stemhost.errors import OutputError, SessionError, StemhostError
from stemhost.formats import OUTPUT_CHOICES
from stemhost.limits import MAX_RENDER_JOB_FILES
from stemhost.packs.export import PackEntry, export_pack
from stemhost.render.driver import RenderOptions
from stemhost.session.model import Session
from stemhost.session.variants import Variant
from stemhost.web.songs import NotFound, background_priority

log = logging.getLogger("stemhost")
JOB_ID = r"^[0-9a-f]{16}$"
PUBLISH_EVERY_S = 0.1  # progress messages: at most 10 a second
REPORT_FILE = "report.html"


class RequestError(StemhostError, ValueError):
    """A render request refused before it starts; ``field`` names the request field at fault."""

    def __init__(self, message: str, field: str | None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(eq=False)
class Job:
    """One render job. Written by the job thread after start: state, progress, files, error, report."""

    id: str
    song: str
    session: Session  # presets and settings applied, as the CLI's prepared_session makes it
    session_path: Path
    variants: list[Variant]
    fmt: str
    folder: Path
    settings: dict
    state: str = "queued"
    progress: float = 0.0
    files: list[PackEntry] = field(default_factory=list)
    error: str | None = None
    report: bytes | None = None
    report_state: str | None = None  # after the pack: "making", then "ready" or "failed"
    published: float = field(default=-math.inf, repr=False)  # when the last message went out (monotonic s)

    def as_dict(self) -> dict:
        """The job as ``GET /api/renders/{id}`` shows it."""
        files = [
            {
                "name": e.file,
                "url": f"/api/renders/{self.id}/files/{e.file}",
                "variant": e.variant,
                "loudness_lufs": e.loudness_lufs,
                "duration_s": e.duration_s,
            }
            for e in self.files
        ]
        report = f"/api/renders/{self.id}/report" if self.report is not None else None
        return {"id": self.id, "song": self.song, "state": self.state, "progress": round(self.progress, 4),
                "files": files, "error": self.error, "report_url": report, "report_state": self.report_state, **self.settings}  # fmt: skip


def prepared_session(
    path: Path, master: str | None, loudness: float | None, true_peak: float | None, mix: dict | None
) -> Session:
    """The session as ``stemhost export`` prepares it (``cli.arguments.prepared_session``): the mastering
    preset, then the mixer's mix (stems', buses' and master's faders, pans, mutes, solos, key and tempo), then
    the loudness target; each refusal names its request field."""
    from stemhost.session.files import load_session, load_session_data
    from stemhost.session.presets import apply_preset, bundled_presets, load_preset, override_preset

    session = load_session(path)
    if master is not None:
        if master not in bundled_presets():
            raise RequestError(
                f"master: no bundled preset {master!r}; use one of {', '.join(bundled_presets())}", "master"
            )
        preset, label = load_preset(master)
        session = apply_preset(session, preset, label)
    if mix is not None:
        session = load_session_data(with_mix(session.model_dump(mode="json"), mix), path)
    try:
        overrides = override_preset(session, loudness=loudness, true_peak=true_peak)
        return apply_preset(session, overrides, "command line", strict=True)
    except SessionError as exc:  # worded for the request's fields, not the CLI's options
        message = str(exc).replace("--true-peak", "true_peak").replace("--loudness", "loudness")
        field = "true_peak" if message.startswith("true_peak") else "loudness"
        raise RequestError(message.replace("--master", "master"), field) from exc


def with_mix(data: dict, mix: dict) -> dict:
    """Session JSON with a mixer state's strips (``GET /api/state``'s stems, buses, master) and wanted key and tempo."""
    for kind, fields in (("stems", ("gain_db", "pan", "mute", "solo")), ("buses", ("gain_db", "mute", "solo"))):
        strips = {s.get("name"): s for s in mix.get(kind) or []}
        for entry in data[kind]:
            entry.update({k: strips[entry["name"]][k] for k in fields if k in strips.get(entry["name"], {})})
    data["master"].update({k: v for k, v in (mix.get("master") or {}).items() if k in ("gain_db", "mute")})
    for name in ("key_shift", "tempo"):
        wanted = mix.get(f"{name}_wanted", mix.get(name))
        if wanted is not None:
            data[name] = wanted
    return data


def settings_folder(
    fmt: str, loudness: float | None, true_peak: float | None, master: str | None, mix: dict | None
) -> str:
    """The pack folder's name for these output settings, e.g. ``wav``, ``flac_streaming``, ``wav_-14LUFS_-1dBTP``."""
    parts = [fmt, *([master] if master else []), *([f"{loudness:g}LUFS"] if loudness is not None else [])]
    parts += [f"{true_peak:g}dBTP"] if true_peak is not None else []
    if mix is not None:
        parts.append("mix-" + hashlib.sha256(json.dumps(mix, sort_keys=True).encode()).hexdigest()[:8])
    return "_".join(parts)


def render_options() -> RenderOptions:
    """``stemhost export``'s options when none are given (``cli.arguments.render_options``)."""
    from stemhost.engine.plugin_folders import plugin_folders

    return RenderOptions(plugin_folders=tuple(plugin_folders()))


class RenderJobs:
    """Render jobs in order, run one at a time on one background thread.

    Args:
        folder: the served folder; packs go to ``folder/renders/<song id>/<settings>/``.
        library: the :class:`~stemhost.web.songs.Library` of that folder.
        publish: called (from the job thread) with ``{"type": "render", "job": {...}}`` on each change.
    """

    def __init__(self, folder: Path, library, publish: Callable[[dict], None] | None = None) -> None:
        self.folder = folder.resolve()
        self.library = library
        self.publish = publish or (lambda _message: None)
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(
        self,
        song_id: str,
        variants: list[str],
        fmt: str = "wav",
        loudness: float | None = None,
        true_peak: float | None = None,
        master: str | None = None,
        mix: dict | None = None,
    ) -> str:
        """Check a render request and queue it; returns the job's id.

        Raises:
            RequestError: the song, format, variants, mastering preset, loudness or mix is refused.
        """
        from stemhost.session.variants import check_variants_change_mix, parse_variants

        try:
            song = self.library.song(song_id)
        except (NotFound, SessionError) as exc:
            raise RequestError(str(exc), "song") from exc
        if fmt not in OUTPUT_CHOICES:
            raise RequestError(f"format: {fmt!r} is not one of {', '.join(OUTPUT_CHOICES)}", "format")
        try:
            session = prepared_session(song.session_path, master, loudness, true_peak, mix)
        except RequestError:
            raise
        except SessionError as exc:
            raise RequestError(str(exc), "use_mix" if mix is not None else "song") from exc
        try:
            spec = ",".join(variants)
            parsed = parse_variants(spec, session)
            check_variants_change_mix(parsed, session, song.session_path)
        except SessionError as exc:
            raise RequestError(str(exc).replace("--variants", "variants"), "variants") from exc
        if len(parsed) > MAX_RENDER_JOB_FILES:
            raise RequestError(
                f"variants: {spec!r} makes {len(parsed)} files; ask for {MAX_RENDER_JOB_FILES} or fewer", "variants"
            )
        settings = {"variants": variants, "format": fmt, "loudness": loudness, "true_peak": true_peak, "master": master,
                    "use_mix": mix is not None}  # fmt: skip
        pack = self.folder / "renders" / song.id / settings_folder(fmt, loudness, true_peak, master, mix)
        job = Job(secrets.token_hex(8), song.id, session, song.session_path, parsed, fmt, pack, settings)
        with self._lock:
            self._jobs[job.id] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="stemhost-renders", daemon=True)
                self._thread.start()
        self._queue.put(job)
        self._publish(job)
        return job.id

    def jobs(self) -> list[dict]:
        """Every job, oldest first."""
        return [job.as_dict() for job in list(self._jobs.values())]

    def job(self, job_id: str) -> dict:
        return self._job(job_id).as_dict()

    def file(self, job_id: str, name: str) -> Path:
        """A file the job wrote, by the name its listing gives (nothing else is ever served)."""
        job = self._job(job_id)
        if name not in {e.file for e in job.files}:
            listed = ", ".join(e.file for e in job.files) or "none yet"
            raise NotFound(f"job {job_id} wrote no file {name[:200]!r}; its files: {listed}", "name")
        path = job.folder / name
        if path.is_symlink() or not path.is_file():
            raise NotFound(f"{name!r} is no longer in {str(job.folder)!r}", "name")
        return path

    def report(self, job_id: str) -> bytes:
        """The job's mix report: one self-contained HTML page."""
        job = self._job(job_id)
        if job.report is None:
            raise NotFound(f"job {job_id} has no report{'' if job.state == 'done' else ' yet'}", "id")
        return job.report

    def close(self) -> None:
        """Stop the job thread after the job it is running."""
        self._queue.put(None)

    def _job(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"no render job {job_id[:40]!r}", "id")
        return job

    def _run(self) -> None:
        background_priority()
        while (job := self._queue.get()) is not None:
            job.state = "running"
            self._publish(job, force=True)
            try:
                self._render(job)
                job.state, job.progress, job.report_state = "done", 1.0, "making"
            except StemhostError as exc:
                job.state, job.error = "failed", str(exc).splitlines()[0]
            except Exception as exc:  # a bug: one line for the user, the traceback in the log
                log.exception("render job %s failed", job.id)
                job.state, job.error = "failed", f"internal error ({type(exc).__name__}: {exc})".splitlines()[0]
            self._publish(job, force=True)
            if job.state == "done":
                self._report(job)
                self._publish(job, force=True)

    def _render(self, job: Job) -> None:
        """The pack, as ``stemhost export`` makes it."""
        from stemhost.render.outputs import make_output_folder

        def progress(done: float, total: float) -> None:
            if math.isfinite(done / max(total, 1e-9)):
                job.progress = min(1.0, max(job.progress, done / max(total, 1e-9)))
            self._publish(job)

        def listed(entry: PackEntry, _rendered: bool) -> None:
            job.files = [*job.files, entry]
            self._publish(job, force=True)

        for part in (job.folder, *job.folder.parents[: len(job.folder.relative_to(self.folder).parts) - 1]):
            if part.is_symlink():  # it would lead the pack out of FOLDER
                raise OutputError(f"{str(part)!r} is a symbolic link; stemhost serve writes only into FOLDER")
        make_output_folder(job.folder, "renders")
        export_pack(job.session, job.session_path, job.variants, job.folder, f".{job.fmt}", render_options(),
                    False, progress, listed)  # fmt: skip

    def _report(self, job: Job) -> None:
        """The mix report of the job's first file, as ``stemhost render --report`` makes it: the variant is rendered
        again with the report's stem meters into a temporary folder (the same bytes), then the page is kept."""
        from stemhost.ownership import temporary_folder
        from stemhost.render.driver import render_session

        first = job.files[0]
        try:
            with temporary_folder(job.folder) as tmp:
                played, options = job.variants[0].apply(job.session), replace(render_options(), decode_once=True)
                render_session(played, job.session_path, tmp / first.file, options, report=tmp / REPORT_FILE)
                job.report, job.report_state = (tmp / REPORT_FILE).read_bytes(), "ready"
        except Exception as exc:  # the files are made: a report that fails is noted, not the job's failure
            log.warning("render job %s: no mix report (%s)", job.id, exc, exc_info=not isinstance(exc, StemhostError))
            job.report_state = "failed"

    def _publish(self, job: Job, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - job.published >= PUBLISH_EVERY_S:
            job.published = now
            try:
                self.publish({"type": "render", "job": job.as_dict()})
            except Exception:  # a broken listener must not stop the render
                log.exception("publishing render job %s", job.id)
