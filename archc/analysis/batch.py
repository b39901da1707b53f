"""Reports for many specs, in parallel worker processes (the analyses that use torch run it on one thread,
so the numbers do not depend on the machine's core count; a worker imports torch only when one runs)."""
from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from archc.analysis.report import ReportOptions, build_report, index_row, write_report


@dataclass(frozen=True)
class Job:
    spec: str  # path of the spec file
    overrides: tuple[str, ...]
    out_dir: Path  # the report folder
    rel_dir: str  # the folder relative to the report root (for the index)


def run_job(job: Job, options: ReportOptions, root: Path) -> tuple[dict[str, Any], dict[str, Any], float]:
    """Lower, analyse, write one report: (report, index row, seconds)."""
    import archc

    started = time.perf_counter()
    model = archc.lower(archc.load(job.spec, job.overrides))
    report = build_report(model, options, root=root)
    write_report(report, job.out_dir, options.diagram_dirs, options.link_root)
    return report, index_row(report, job.rel_dir), time.perf_counter() - started


def _worker_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool, exits 130


def _in_worker(args: tuple[Job, ReportOptions, Path]) -> tuple[dict[str, Any], dict[str, Any], float]:
    return run_job(*args)


def default_workers(n_jobs: int) -> int:
    return max(1, min(n_jobs, os.cpu_count() or 1, 8))


def run_jobs(jobs: list[Job], options: ReportOptions, root: Path, workers: Optional[int] = None,
             echo: Callable[[dict[str, Any], Path, float], None] = lambda r, p, s: None) -> list[dict[str, Any]]:
    """Every job's report; index rows in job order. A probe runs in-process (it may hold a GPU)."""
    workers = default_workers(len(jobs)) if workers is None else max(1, min(workers, len(jobs)))
    rows: list[Optional[dict[str, Any]]] = [None] * len(jobs)
    if workers == 1 or len(jobs) == 1 or options.probe is not None:
        for i, job in enumerate(jobs):
            report, rows[i], seconds = run_job(job, options, root)
            echo(report, job.out_dir, seconds)
        return [r for r in rows if r is not None]
    ctx = multiprocessing.get_context("spawn")  # never fork a process that has started torch threads
    with ctx.Pool(workers, initializer=_worker_init) as pool:  # torch, where needed, on one thread (torch_threads)
        results = pool.imap(_in_worker, [(job, options, root) for job in jobs])
        for i, (report, row, seconds) in enumerate(results):
            rows[i] = row
            echo(report, jobs[i].out_dir, seconds)
    return [r for r in rows if r is not None]
