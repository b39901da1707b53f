"""Paired, order-alternated timing for the benchmarks: A and B run back to back, A first in even pairs and
B first in odd ones, and the ratio A/B is taken pair by pair. On a shared machine the load drifts between
pairs; a pair's two runs see nearly the same load, so the per-pair ratios (median, min-max) are what to
trust, not a ratio of medians taken at different times.
"""
from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    seconds: float
    max_rss_mib: Optional[float] = None  # a child process's peak resident memory, when it was one


@dataclass
class Paired:
    a: str
    b: str
    a_runs: list[Run] = field(default_factory=list)
    b_runs: list[Run] = field(default_factory=list)

    @property
    def ratios(self) -> list[float]:
        return [x.seconds / y.seconds for x, y in zip(self.a_runs, self.b_runs)]

    @staticmethod
    def _median(runs: list[Run]) -> float:
        return statistics.median(r.seconds for r in runs)

    @staticmethod
    def _rss(runs: list[Run]) -> str:
        values = [r.max_rss_mib for r in runs if r.max_rss_mib is not None]
        return f"{max(values):,.0f} MiB" if values else ""

    def row(self) -> list[str]:
        """A s (median), B s (median), A/B per pair: median (min-max), pairs, A peak memory, B peak memory."""
        r = self.ratios
        return [self.a, f"{self._median(self.a_runs):.3g}", self.b, f"{self._median(self.b_runs):.3g}",
                f"{statistics.median(r):.3f} ({min(r):.3f}-{max(r):.3f})", str(len(r)),
                self._rss(self.a_runs), self._rss(self.b_runs)]


HEADER = ["A", "A s (median)", "B", "B s (median)", "A / B per pair: median (min-max)", "pairs", "A peak RSS",
          "B peak RSS"]


def timed(fn: Callable[[], object]) -> Run:
    start = time.perf_counter()
    fn()
    return Run(time.perf_counter() - start)


def command(args: Sequence[str], cwd: Path = ROOT) -> Callable[[], Run]:
    """A fresh process (what a user waits for): wall time and its peak memory."""
    def run() -> Run:
        start = time.perf_counter()
        proc = subprocess.Popen(list(args), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}")
        return Run(seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux
    return run


def paired(a: str, run_a: Callable[[], Run], b: str, run_b: Callable[[], Run], pairs: int,
           warmup: bool = True) -> Paired:
    """`pairs` pairs of runs, order alternated; one untimed run of each first (file caches, lazy imports)."""
    if warmup:
        run_a()
        run_b()
    result = Paired(a, b)
    for i in range(pairs):
        if i % 2 == 0:
            ra = run_a()
            rb = run_b()
        else:
            rb = run_b()
            ra = run_a()
        result.a_runs.append(ra)
        result.b_runs.append(rb)
    return result


def in_process(fn: Callable[[], object]) -> Callable[[], Run]:
    return lambda: timed(fn)


def table(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def machine() -> str:
    """One line naming the machine: CPU model, cores, load, memory, Python, torch (when importable)."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")) / 2**20
        mem_text = f"{mem:.0f} GiB"
    except (OSError, StopIteration):
        mem_text = "? GiB"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.machine()}, {os.cpu_count()} cores ({cpu}), {mem_text}, load average {load:.1f} at start, "
            f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
