"""Worker processes with a time limit: a hostile spec can hang or exhaust its worker, never the server.

Each worker is a separate Python process in a session of its own (so the Graphviz `dot` it starts can be
killed with it), with an address-space limit, that answers one job at a time over a pipe. The server hands a
job to an idle worker and waits at most `time_limit` seconds; a worker that is late (or died) is killed,
with its process group, and replaced by a fresh one. Nothing is shared between jobs but the imports.
"""
from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Optional

import anyio.to_thread

from archc.spec.yamlload import DEFAULT_LIMITS, Limits

READY = "ready"
START_TIMEOUT_S = 60.0
DEFAULT_MEMORY_BYTES = 6 * 2**30  # address space of one worker (torch, for the .py download, needs ~2 GiB)


class WorkerTimeout(Exception):
    """The job ran past the time limit; its worker was killed."""


class WorkerDied(Exception):
    """The worker exited during the job (killed for memory, crashed)."""


@dataclass(frozen=True)
class WorkerSettings:
    limits: Limits = DEFAULT_LIMITS
    memory_bytes: int = DEFAULT_MEMORY_BYTES


def run_job(job: tuple, limits: Limits) -> Any:
    """Dispatch one job tuple (kind, *args) to archc.serve.jobs."""
    from archc.serve import jobs

    kind = job[0]
    if kind == "analyze":
        return jobs.analyze(job[1], limits)
    if kind == "compare":
        return jobs.compare(job[1], job[2], limits)
    if kind == "download":
        return jobs.download(job[1], job[2], limits)
    raise ValueError(f"unknown job {kind!r}")


def _worker_main(job_fd: int, result_fd: int) -> None:
    """The worker process: settings first, then one job at a time until the server closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    jobs_in, results_out = Connection(job_fd, writable=False), Connection(result_fd, readable=False)
    settings: WorkerSettings = jobs_in.recv()
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (settings.memory_bytes, settings.memory_bytes))
    except (ImportError, ValueError, OSError):
        pass
    import archc.serve.jobs  # noqa: F401  (imports paid once, before the first job)

    results_out.send(READY)
    while True:
        try:
            job = jobs_in.recv()
        except (EOFError, OSError):  # the server is gone
            return
        try:
            result: Any = ("ok", run_job(job, settings.limits))
        except MemoryError:
            result = ("error", "out of memory")
        except Exception as exc:  # noqa: BLE001 - reported to the server, which answers 500
            result = ("error", f"{type(exc).__name__}: {exc}")
        try:
            results_out.send(result)
        except (EOFError, OSError):
            return


class Worker:
    """One worker process and the two pipes to it (all calls block: run them in a thread). A plain
    subprocess (`python -m archc.serve.workers`), not multiprocessing: the server's own main module is
    never imported again, whatever script started it."""

    def __init__(self, settings: WorkerSettings) -> None:
        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])  # the archc this server runs
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "archc.serve.workers", str(job_r), str(res_w)], pass_fds=(job_r, res_w),
                stdin=subprocess.DEVNULL, start_new_session=True, env=env)  # own session: killed with its `dot`
        finally:
            os.close(job_r)
            os.close(res_w)
        self.jobs = Connection(job_w, readable=False)
        self.results = Connection(res_r, writable=False)
        self.jobs.send(settings)

    def wait_ready(self, timeout: float = START_TIMEOUT_S) -> None:
        if not self.results.poll(timeout) or self.results.recv() != READY:
            self.kill()
            raise WorkerDied("worker did not start")

    def call(self, job: tuple, time_limit: float) -> Any:
        try:
            self.jobs.send(job)
            if not self.results.poll(time_limit):
                raise WorkerTimeout(f"took longer than {time_limit:g} s")
            status, value = self.results.recv()
        except (EOFError, OSError, BrokenPipeError):
            raise WorkerDied("worker exited during the job (out of memory?)") from None
        if status != "ok":
            raise RuntimeError(value)
        return value

    def kill(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # its session (and group) id is its pid
            except (ProcessLookupError, PermissionError):
                self.process.kill()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.jobs.close()
        self.results.close()


def _fresh(settings: WorkerSettings) -> Worker:
    worker = Worker(settings)
    worker.wait_ready()
    return worker


class WorkerPool:
    """`size` workers; `run(job)` waits for an idle one, gives it the job and at most `time_limit` s."""

    def __init__(self, size: int = 2, time_limit: float = 20.0, settings: WorkerSettings = WorkerSettings()) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.size = size
        self.time_limit = time_limit
        self.settings = settings
        self._idle: Optional[asyncio.Queue[Worker]] = None
        self._all: list[Worker] = []
        self.replaced = 0  # workers killed for a time limit or a crash

    async def start(self) -> None:
        self._idle = asyncio.Queue()
        workers = [Worker(self.settings) for _ in range(self.size)]  # start together, wait together
        for worker in workers:
            await anyio.to_thread.run_sync(worker.wait_ready)
            self._all.append(worker)
            self._idle.put_nowait(worker)

    async def run(self, job: tuple, time_limit: Optional[float] = None) -> Any:
        if self._idle is None:
            raise RuntimeError("the pool is not started")
        limit = self.time_limit if time_limit is None else time_limit
        worker = await self._idle.get()
        try:
            return await anyio.to_thread.run_sync(worker.call, job, limit)
        except (WorkerTimeout, WorkerDied):
            worker = await self._replace(worker)
            raise
        finally:
            self._idle.put_nowait(worker)

    async def _replace(self, worker: Worker) -> Worker:
        await anyio.to_thread.run_sync(worker.kill)
        fresh = await anyio.to_thread.run_sync(_fresh, self.settings)
        self._all = [w for w in self._all if w is not worker] + [fresh]
        self.replaced += 1
        return fresh

    async def close(self) -> None:
        for worker in self._all:
            await anyio.to_thread.run_sync(worker.kill)
        self._all = []
        self._idle = None


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]), int(sys.argv[2]))
