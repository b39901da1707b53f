"""Test loss and error of a net on the held-out part of the probe's data: eval mode (batch-norm running
statistics), no gradients, the net's mode restored afterwards, so training is not changed by it."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from archc.probe.data import ProbeData


def evaluate(net: nn.Module, data: ProbeData, images: torch.Tensor, labels: torch.Tensor, batch: int,
             dtype: torch.dtype, autocast: Callable[[], AbstractContextManager], channels_last: bool = False,
             rank: int = 0, world: int = 1) -> tuple[float, float]:
    """(mean cross-entropy, error rate in 0..1) of `net`'s class scores on every image of `images` (uint8,
    (N, C, H, W), already on the net's device; `data` normalises them). Under DDP (`world` > 1) each process
    scores images rank, rank + world, ... and the sums are all-reduced, so every process gets the whole
    set's figures. The batch-norm running statistics and the weights are left as they were."""
    from archc.probe.collectives import all_reduce_sum

    was_training = net.training
    sums = torch.zeros(3, dtype=torch.float64, device=images.device)
    share = torch.arange(rank, images.shape[0], world, device=images.device)
    net.eval()
    try:
        with torch.no_grad(), autocast():
            for start in range(0, share.numel(), batch):
                idx = share[start:start + batch]
                x = data.normalize(images[idx]).to(dtype)
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                y = labels[idx]
                out = net(x)
                logits = (out[0] if isinstance(out, tuple) else out).float()
                sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
                sums[1] += (logits.argmax(1) != y).sum()
                sums[2] += idx.numel()
    finally:
        net.train(was_training)
    if world > 1:
        all_reduce_sum(sums)
    count = max(1.0, float(sums[2]))
    return float(sums[0]) / count, float(sums[1]) / count
