"""The machine a probe runs on: its description for reports, and how many torch threads to use on it.

On a CPU, more threads than free cores is far slower than fewer (OpenMP threads spin while they wait for
one another): on a 2-core machine with one other busy process, plain-56 ran at 5.9 steps/s with 2 threads
and 11.6 with 1. So the thread count is chosen from the cores this process may use (its CPU affinity and
cgroup quota), divided among its processes, less the cores other work keeps busy (the 1-minute load)."""
from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from archc.analysis.crosscheck import torch_threads  # noqa: F401 - the one thread-count scope, re-exported
from archc.errors import ArchcError
from archc.probe.config import ProbeConfig
from archc.probe.collectives import DistInfo


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota where one is set."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def busy_cores() -> float:
    """Cores kept busy by other work right now (the 1-minute load average; 0 where unknown)."""
    try:
        return max(0.0, os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def choose_threads(processes: int = 1, requested: Optional[int] = None) -> tuple[int, str]:
    """(torch threads per process, why): `requested` if given; else the usable cores divided among
    `processes`, less the cores other work keeps busy, at least 1 -- never more threads than free cores."""
    if requested is not None:
        return requested, "set with --threads"
    cores = usable_cores()
    busy = busy_cores()
    free = max(1, cores - int(busy + 0.5))
    threads = max(1, min(cores // max(1, processes), free // max(1, processes)))
    why = f"{cores} usable core(s)" + (f" for {processes} processes" if processes > 1 else "")
    if int(busy + 0.5):
        why += f", load {busy:.1f} from other work"
    return threads, why


def machine_info(device: torch.device) -> dict:
    """CPU model, cores, torch threads, torch version, architecture (and the GPU's name on CUDA)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cpu_cores": usable_cores(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "arch": platform.machine()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


@dataclass(frozen=True)
class Setup:
    device: torch.device
    amp: bool  # bf16 autocast
    channels_last: bool
    check_every: int
    dtype: torch.dtype  # of weights, activations and the recorded numbers
    dist: DistInfo


def resolve_setup(config: ProbeConfig, info: DistInfo) -> Setup:
    cuda = torch.cuda.is_available()
    if config.device == "cuda" and not cuda:
        raise ArchcError("--device cuda, but CUDA is not available here", expected="--device auto or cpu")
    kind = "cuda" if config.device == "cuda" or (config.device == "auto" and cuda) else "cpu"
    if config.cuda_graphs and kind != "cuda":
        raise ArchcError("CUDA graphs need a CUDA device",
                         expected="--device cuda, or no --cuda-graphs" if cuda else
                         "no --cuda-graphs (CUDA is not available here)")
    if config.cuda_graphs and info.active:
        raise ArchcError("CUDA graphs are not supported with several processes", expected="--compile instead")
    device = torch.device(f"cuda:{info.local_rank}" if kind == "cuda" else "cpu")
    amp = config.amp == "bf16" or (config.amp == "auto" and kind == "cuda")
    channels_last = config.channels_last if config.channels_last is not None else kind == "cuda"
    check = config.check_every or (1 if kind == "cpu" else config.log_every)
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    amp = amp and dtype == torch.float32  # auto never combines bf16 with float64 (explicit bf16 is refused)
    return Setup(device, amp, channels_last, check, dtype, info)
