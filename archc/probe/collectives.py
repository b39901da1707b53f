"""Data-parallel training collectives (DDP): the process group, all-reduce, barrier, synchronised batch norm.

Launch with torchrun (`torchrun --nproc-per-node N -m archc probe ...`): every process reads RANK,
WORLD_SIZE and LOCAL_RANK, joins the process group (NCCL on GPUs, gloo on CPU) and trains on its slice
of each global batch (`archc.probe.launch.spawn_local` starts N processes without torchrun).

With `sync_bn` (default) batch-norm statistics are computed over the whole global batch, so the
gradients, and every number the probe records, equal a single-process run with the same batch:
torch's SyncBatchNorm on GPUs, `GlooSyncBatchNorm` below on CPU (torch's needs a GPU)."""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from typing import Any

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
