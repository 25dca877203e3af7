"""Running a catalog's jobs on Dask distributed: a local cluster of worker processes, or an existing one.

Both paths submit the same :func:`stemhost.packs.catalog.run_job` through a ``distributed.Client``. Dask
re-runs a job whose worker dies (up to its ``allowed-failures``), and every output is written to a
temporary file and renamed, so a killed worker never leaves a half-written file under a final name.
A cluster given by address is only connected to, never shut down.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from stemhost.errors import ClusterError
from stemhost.ownership import remove_leftovers
from stemhost.packs.catalog import CatalogPlan, Job, JobResult, run_job, write_manifest

SCHEDULER_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx|inproc)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}")
MANIFEST_EVERY_S = 2.0  # catalog.json is rewritten at most this often while jobs finish, and at the end


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int | None) -> Iterator:
    """A client of the cluster at ``scheduler``, or of a local cluster of ``workers`` processes (one per core)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if not SCHEDULER_ADDRESS.fullmatch(scheduler):  # distributed's own parsing sometimes asserts instead of raising
            raise ClusterError(
                f"--scheduler {scheduler!r}: not a scheduler address (PROTOCOL://HOST:PORT expected); "
                "give one such as tcp://host:8786"
            )
        try:
            client = Client(scheduler, timeout="10s")
        except ValueError as exc:  # distributed parses the address first: "missing port number", "invalid address"
            raise ClusterError(
                f"--scheduler {scheduler!r}: not a scheduler address ({exc}); give one such as tcp://host:8786"
            ) from exc
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"--scheduler {scheduler!r}: cannot reach a Dask scheduler there ({exc}); "
                "start one with `dask scheduler` or check the address"
            ) from exc
        with client:  # closes the connection only; the cluster keeps running
            yield client
        return
    count = workers or os.cpu_count() or 1
    with (
        LocalCluster(
            n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_jobs(
    jobs: list[Job],
    out: Path,
    earlier: dict[str, JobResult],
    scheduler: str | None = None,
    workers: int | None = None,
    on_result: Callable[[JobResult], None] | None = None,
    failures: Sequence[JobResult] = (),
) -> list[JobResult]:
    """Run every job on the cluster, keeping ``out/catalog.json`` up to date as they finish.

    Outputs an earlier run listed that are not among these jobs stay listed while their files exist;
    failures found before any job ran (a song that cannot be planned) are listed too. On Ctrl-C the
    jobs still queued are cancelled and the manifest lists what finished. ``earlier`` is the manifest
    as read before planning (:func:`~stemhost.packs.catalog.read_manifest`).
    """
    from distributed import as_completed

    planned = {job.file for job in jobs}
    kept = [r for file, r in earlier.items() if file not in planned and (out / file).is_file()]
    kept += failures
    results: list[JobResult] = []
    with dask_client(scheduler, workers) as client:
        futures = {
            client.submit(run_job, job, pure=False, key=f"stemhost-{job.file}-{time.time_ns()}"): job for job in jobs
        }
        written = time.monotonic()
        try:
            for future in as_completed(futures):
                results.append(_result(future, futures[future]))
                if on_result is not None:
                    on_result(results[-1])
                if time.monotonic() - written > MANIFEST_EVERY_S:
                    write_manifest(out, kept + results)
                    written = time.monotonic()
        finally:
            client.cancel([f for f in futures if not f.done()])
            write_manifest(out, kept + results)
    return results


def run_catalog(
    plan: CatalogPlan,
    scheduler: str | None = None,
    workers: int | None = None,
    on_result: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run a planned catalog on Dask (see :func:`run_jobs`); the results include the songs that failed planning."""
    results = run_jobs(plan.jobs, plan.out, plan.earlier, scheduler, workers, on_result, plan.unplanned)
    remove_leftovers()  # what workers killed on this machine during the run left
    return results + plan.unplanned


def _result(future, job: Job) -> JobResult:
    """The job's result; a job Dask itself gave up on (its workers kept dying) is a failure like any other."""
    try:
        return future.result()
    except Exception as exc:
        return JobResult(job.song, job.variant.name, job.file, "failed", error=f"{type(exc).__name__}: {exc}")
