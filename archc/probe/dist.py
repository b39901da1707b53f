"""Data-parallel probes with PyTorch's own engine (DDP).

Launch with torchrun (`torchrun --nproc-per-node N -m archc probe ...`): every process reads RANK,
WORLD_SIZE and LOCAL_RANK, joins the process group (NCCL on GPUs, gloo on CPU) and trains on its slice
of each global batch. `spawn_local` starts N processes on this machine without torchrun (`--nproc N`).

With `sync_bn` (default) batch-norm statistics are computed over the whole global batch, so the
gradients, and every number the probe records, equal a single-process run with the same batch:
torch's SyncBatchNorm on GPUs, `GlooSyncBatchNorm` below on CPU (torch's needs a GPU)."""
from __future__ import annotations

import copy
import os
import pickle
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """The torchrun environment, or a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_process_group(info: DistInfo, device_type: str) -> None:
    """Join the group torchrun describes (no-op for one process or when already joined)."""
    if not info.active or dist.is_initialized():
        return
    backend = "nccl" if device_type == "cuda" else "gloo"
    if device_type == "cuda":
        torch.cuda.set_device(info.local_rank)  # NCCL's own work (barriers) then uses this process's GPU
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world)


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of a sum over processes is the sum of the gradients."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class GlooSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics span all processes (CPU, any backend). Sums and sums of squares
    are summed over processes by a differentiable all-reduce, so the backward pass is exact as well."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        work = torch.promote_types(x.dtype, torch.float32)  # bf16 activations are normalised in float32
        xf = x.to(work)
        xd = x.double()  # E[x^2] - E[x]^2 cancels badly in float32; the sums are cheap in float64
        count = torch.full((1,), x.numel() / c, dtype=xd.dtype, device=x.device)
        stats = _AllReduceSum.apply(torch.cat([xd.sum((0, 2, 3)), (xd * xd).sum((0, 2, 3)), count]))
        n = stats[-1].to(work)
        mean_d = stats[:c] / stats[-1]
        var = (stats[c:2 * c] / stats[-1] - mean_d * mean_d).clamp_min(0).to(work)
        mean = mean_d.to(work)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)  # type: ignore[union-attr,operator]
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)).clamp_min(1), alpha=m)
        y = (xf - mean.view(1, -1, 1, 1)) * torch.rsqrt(var.view(1, -1, 1, 1) + self.eps)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)


def _swap_bn(module: nn.Module, make: Any, match: tuple) -> nn.Module:
    if isinstance(module, match):
        new = make(module)
        new.load_state_dict(module.state_dict())
        new.train(module.training)
        return new
    for name, child in list(module.named_children()):
        module.add_module(name, _swap_bn(child, make, match))
    return module


def _bn_like(cls: type, bn: nn.Module) -> nn.Module:
    device = next((t.device for t in bn.state_dict().values()), torch.device("cpu"))
    return cls(bn.num_features, eps=bn.eps, momentum=bn.momentum, affine=bn.affine,  # type: ignore[arg-type]
               track_running_stats=bn.track_running_stats).to(device)


def convert_sync_bn(module: nn.Module, device_type: str) -> nn.Module:
    """BatchNorm2d -> torch's SyncBatchNorm (CUDA) or GlooSyncBatchNorm (CPU), in place where possible."""
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _swap_bn(module, lambda bn: _bn_like(GlooSyncBatchNorm, bn), (nn.BatchNorm2d,))


def plain_bn_copy(module: nn.Module) -> nn.Module:
    """A deep copy with every sync batch norm turned back into BatchNorm2d (for work done by one process)."""
    return _swap_bn(copy.deepcopy(module), lambda bn: _bn_like(nn.BatchNorm2d, bn),
                    (nn.SyncBatchNorm, GlooSyncBatchNorm))


def ddp_wrap(module: nn.Module, device: torch.device, sync_buffers: bool) -> nn.Module:
    """DistributedDataParallel; buffers re-broadcast before each forward only when asked (not with sync BN)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    newer = "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters  # torch >= 2.14
    option = {"forward_sync_buffers" if newer else "broadcast_buffers": sync_buffers}
    return DDP(module, device_ids=ids, **option)


def all_reduce_sum(tensor: torch.Tensor) -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


class InterruptGuard:
    """Under DDP a Ctrl-C must stop every process at the same step: a process that left mid-step would leave
    the others waiting in a collective. The training loop asks `agreed()` at each check: one all-reduce of
    "was I asked to stop?", so all stop together.

    Asked how: `--nproc` workers ignore SIGINT altogether, so no signal lands inside a collective, and poll
    `stop`, an event their launcher sets. Under torchrun SIGINT is caught and only sets a flag. `raising()` restores the usual KeyboardInterrupt for work one process does
    alone (the path gradients on rank 0)."""

    def __init__(self, active: bool, stop: Optional[Callable[[], bool]] = None) -> None:
        import threading

        self.active = active
        self.stop = stop
        self.catch = active and stop is None and threading.current_thread() is threading.main_thread()
        self.signalled = False
        self._previous: Any = None

    @property
    def requested(self) -> bool:
        return self.signalled or bool(self.stop is not None and self.stop())

    def _handler(self, signum: int, frame: Any) -> None:
        self.signalled = True

    def __enter__(self) -> "InterruptGuard":
        if self.catch:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.catch:
            signal.signal(signal.SIGINT, self._previous)

    def agreed(self, device: torch.device) -> bool:
        """True on every process when any of them was asked to stop (one all-reduce)."""
        if not self.active:
            return False
        flag = torch.tensor([1.0 if self.requested else 0.0], device=device)
        all_reduce_sum(flag)
        return bool(flag.item() > 0)

    def raising(self) -> Any:
        import contextlib

        @contextlib.contextmanager
        def scope() -> Any:
            if self.requested:
                raise KeyboardInterrupt
            if not self.catch:
                yield
                return
            signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                yield
            finally:
                signal.signal(signal.SIGINT, self._handler)
        return scope()


# ---------------------------------------------------------------- local launch without torchrun


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


EXIT_WORKER_ERROR = 3  # a worker stopped on an ArchcError, which it left in error.pkl for the parent


def _worker(rank: int, world: int, port: int, payload_path: str, out_path: str, threads: int, stop: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the launcher decides when to stop, through `stop`
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(threads)
    from archc.errors import ArchcError
    from archc.io import atomic_write_json
    from archc.probe.train import run_probe

    try:
        with open(payload_path, "rb") as handle:
            model, config, data = pickle.load(handle)
        result = run_probe(model, config, data=data, stop=stop.is_set)
        if rank == 0:
            atomic_write_json(out_path, result.to_dict())
    except ArchcError as exc:
        error = Path(out_path).with_name(f"error{rank}.pkl")
        with open(error, "wb") as handle:
            pickle.dump(exc, handle)
        sys.exit(EXIT_WORKER_ERROR)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def spawn_local(model: Any, config: Any, nproc: int, data: Optional[Any] = None) -> Any:
    """Run the probe in `nproc` local processes (gloo on CPU, NCCL on GPUs); return rank 0's ProbeResult."""
    import torch.multiprocessing as mp

    from archc.probe.result import ProbeResult

    if nproc < 2:
        raise ValueError(f"spawn_local needs at least 2 processes, got {nproc}")
    if config.batch % nproc:
        from archc.errors import ArchcError

        raise ArchcError(f"--batch {config.batch} is not divisible by {nproc} processes",
                         expected=f"a multiple of {nproc}")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() and config.device != "cpu" else 0
    if gpus and nproc > gpus:
        raise ValueError(f"{nproc} processes but {gpus} GPU(s): one process per GPU, or --device cpu")
    if data is None:  # made and checked once here, so a bad data source fails before any process starts
        import archc
        from archc.probe.data import load_data

        ir = archc.lower(model)
        data = load_data(config.data, ir.input_shape, ir.classes, config.seed, config.synthetic_size,
                         config.test_fraction)
        data = data.check_against(ir.input_shape, ir.classes, config.batch)
    from archc.probe.hardware import resolve_setup

    resolve_setup(config, DistInfo(0, nproc, 0))  # device and CUDA-graph errors here, not inside a worker
    from archc.probe.hardware import choose_threads

    threads = config.threads or choose_threads(nproc)[0]
    with tempfile.TemporaryDirectory(prefix="archc-ddp-") as tmp:
        payload = Path(tmp) / "payload.pkl"
        with open(payload, "wb") as handle:
            pickle.dump((model, config, data), handle)
        out = Path(tmp) / "result.json"
        stop = mp.get_context("spawn").Event()
        context = mp.start_processes(_worker, args=(nproc, _free_port(), str(payload), str(out), threads, stop),
                                     nprocs=nproc, join=False, start_method="spawn")
        interrupted = False
        try:
            try:
                _join(context)
            except KeyboardInterrupt:  # the workers ignore SIGINT: they stop together at their next check,
                interrupted = True  # and rank 0 writes what was measured
                stop.set()
                _join(context)
        except mp.ProcessExitedException as exc:
            errors = sorted(Path(tmp).glob("error*.pkl"))
            if exc.exit_code == EXIT_WORKER_ERROR and errors:
                with open(errors[0], "rb") as handle:
                    raise pickle.load(handle) from None
            raise
        finally:
            for process in context.processes:  # a second Ctrl-C, or an error: leave no worker behind
                if process.is_alive():
                    process.terminate()
                    process.join(5)
        if not out.exists():
            if interrupted:
                raise KeyboardInterrupt
            raise RuntimeError("the data-parallel workers finished without a result")
        import json

        return ProbeResult.from_dict(json.loads(out.read_text()))


def _join(context: Any) -> None:
    while not context.join(timeout=0.5):
        pass
