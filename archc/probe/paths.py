"""Path-length gradients of a residual net (Veit, Wilber & Belongie 2016, Sec. 5).

With n residual blocks the net is a collection of 2^n paths; a path of length k runs through k residual
branches and n-k skip connections. To measure the gradient a path of length k carries to the input, the
forward pass runs normally and the backward pass is restricted, at each block, to the residual branch
(k sampled blocks) or to the skip connection (the others). The gate below does exactly that: identity in
the forward pass, a per-sample 0/1 factor on the gradient in the backward pass. In eval mode (batch norm
as a fixed affine map) every sample is independent, so one backward pass measures a different random path
for each sample, and the gradients of all 2^n paths sum to the ordinary input gradient.

Weighting each length's mean magnitude by the number of such paths, C(n, k), gives the distribution of
gradient over path lengths (Veit et al., Fig. 6)."""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import torch
import torch.nn.functional as F
from torch import nn

from archc.backends.modules import Residual
from archc.ir.graph import Model, ResidualNode
from archc.probe.data import BatchOrder, ProbeData

CALIBRATION_BATCHES = 8


class _Gates:
    """Per-sample masks (B, n): 1 = back-propagate through block j's residual branch, 0 = its skip."""

    def __init__(self) -> None:
        self.masks: Optional[torch.Tensor] = None


class _GradGate(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, gates: _Gates, j: int, body: bool) -> torch.Tensor:
        ctx.gates, ctx.j, ctx.body = gates, j, body
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple:
        masks = ctx.gates.masks
        if masks is None:  # no restriction: the ordinary gradient
            return grad, None, None, None
        m = masks[:, ctx.j].to(grad.dtype)
        if not ctx.body:
            m = 1 - m
        return grad * m.view(-1, *([1] * (grad.dim() - 1))), None, None, None


def residual_paths(model: Model) -> list[str]:
    """Module paths of the residual blocks of the body, in forward order."""
    return [node.path for top in model.body.items for node in top.walk() if isinstance(node, ResidualNode)]


class PathGradients:
    """Gated forward of `net` (eval mode recommended) and input gradients for chosen path masks."""

    def __init__(self, net: nn.Module, block_paths: list[str]) -> None:
        self.net = net
        self.blocks = [net.get_submodule(p) for p in block_paths]
        for path, block in zip(block_paths, self.blocks):
            if not isinstance(block, Residual):
                raise ValueError(f"{path} is not a residual block")
        self.n = len(self.blocks)
        self.gates = _Gates()
        self.x0: Optional[torch.Tensor] = None
        self.loss: Optional[torch.Tensor] = None

    @contextmanager
    def _gated(self) -> Iterator[None]:
        def make(block: Residual, j: int) -> Any:
            def forward(x: torch.Tensor) -> torch.Tensor:
                out = x
                for name in block.body_names:
                    out = block._modules[name](out)
                skip = x if block.shortcut is None else block.shortcut(x)
                out = _GradGate.apply(out, self.gates, j, True) + _GradGate.apply(skip, self.gates, j, False)
                return out if block.act is None else block.act(out)
            return forward

        def capture(module: nn.Module, args: tuple) -> tuple:
            self.x0 = args[0].detach().requires_grad_(True)
            return (self.x0, *args[1:])

        handle = self.blocks[0].register_forward_pre_hook(capture)
        for j, block in enumerate(self.blocks):
            block.forward = make(block, j)  # type: ignore[method-assign]
        try:
            yield
        finally:
            handle.remove()
            for block in self.blocks:
                del block.forward

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Run the net once (-> logits); the summed loss keeps each sample's input gradient its own."""
        with torch.enable_grad(), self._gated():
            out = self.net(x)
        logits = out[0] if isinstance(out, tuple) else out
        self.loss = F.cross_entropy(logits.float(), y, reduction="sum")
        return logits.detach()

    def input_grad(self, masks: Optional[torch.Tensor]) -> torch.Tensor:
        """d loss / d (input of the first block) through the paths the masks select (None: all paths)."""
        if self.loss is None or self.x0 is None:
            raise ValueError("call forward() first")
        if masks is not None and masks.shape != (self.x0.shape[0], self.n):
            raise ValueError(f"masks must have shape ({self.x0.shape[0]}, {self.n}), got {tuple(masks.shape)}")
        self.gates.masks = masks
        try:
            (grad,) = torch.autograd.grad(self.loss, self.x0, retain_graph=True)
        finally:
            self.gates.masks = None
        return grad


def random_masks(batch: int, n: int, gen: torch.Generator) -> torch.Tensor:
    """Sample i goes through k_i = (i + offset) mod (n+1) residual branches chosen at random (every length
    is covered when batch > n)."""
    offset = int(torch.randint(0, n + 1, (1,), generator=gen))
    k = (torch.arange(batch) + offset) % (n + 1)
    ranks = torch.rand(batch, n, generator=gen).argsort(1).argsort(1)
    return (ranks < k.unsqueeze(1)).to(torch.float32)


def recalibrate_bn(net: nn.Module, batches: list[torch.Tensor]) -> None:
    """Batch-norm running statistics recomputed as a plain average over `batches` of training data."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    with torch.no_grad():
        for x in batches:
            net(x)


def summarize(n: int, sums: list[float], sq: list[float], counts: list[int]) -> dict:
    mean = [s / c if c else None for s, c in zip(sums, counts)]
    std = [math.sqrt(max(0.0, q / c - (s / c) ** 2)) if c else None for s, q, c in zip(sums, sq, counts)]
    paths = [math.comb(n, k) for k in range(n + 1)]
    fraction = [p / 2 ** n for p in paths]
    raw = [p * m if m is not None else 0.0 for p, m in zip(paths, mean)]
    total = sum(raw)
    weighted = [r / total if total > 0 else 0.0 for r in raw]
    cum, lo, hi = 0.0, None, None
    for k, w in enumerate(weighted):
        cum += w
        if lo is None and cum >= 0.05:
            lo = k
        if hi is None and cum >= 0.95:
            hi = k
    return {
        "blocks": n, "k": list(range(n + 1)), "mean": mean, "std": std, "count": counts,
        "path_fraction": fraction, "weighted": weighted,
        "summary": {
            "mode_k": max(range(n + 1), key=lambda k: weighted[k]) if total > 0 else None,
            "mean_k": sum(k * w for k, w in enumerate(weighted)) if total > 0 else None,
            "range90": [lo, hi],
            "mean_path_length": n / 2,
            "magnitude_ratio_k0_kn": (mean[0] / mean[n]) if mean[0] and mean[n] else None,
        },
    }


def measure_path_gradients(net: nn.Module, model: Model, data: ProbeData, config: Any,
                           device: torch.device) -> tuple[Optional[dict], str]:
    """Path-length gradients of a trained copy of `net` -> (figures, "" ) or (None, why not)."""
    from archc.probe.collectives import plain_bn_copy

    blocks = residual_paths(model)
    if not blocks:
        return None, "not measured, the net has no residual blocks (paths need shortcut connections)"
    n = len(blocks)
    batch = min(config.path_batch, len(data))
    work = plain_bn_copy(net).float()
    order = BatchOrder(len(data), batch, config.seed + 7919, device=device)
    per_epoch = len(data) // batch

    images, labels = data.images.to(device), data.labels.to(device)

    def get(step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = order.indices(step)
        return data.normalize(images[idx]), labels[idx]

    calib = [get(i)[0] for i in range(1, min(CALIBRATION_BATCHES, per_epoch) + 1)]
    recalibrate_bn(work, calib)
    work.eval()
    probe = PathGradients(work, blocks)
    gen = torch.Generator().manual_seed(config.seed + 104_729)
    sums, sq, counts = [0.0] * (n + 1), [0.0] * (n + 1), [0] * (n + 1)
    full = []
    for b in range(config.path_batches):
        x, y = get(len(calib) + 1 + b)
        probe.forward(x, y)
        full.append(probe.input_grad(None).flatten(1).norm(dim=1).mean().item())
        for _ in range(config.path_repeats):
            masks = random_masks(x.shape[0], n, gen)
            mags = probe.input_grad(masks.to(device)).flatten(1).norm(dim=1).double().cpu()
            ks = masks.sum(1).long()
            for k, m in zip(ks.tolist(), mags.tolist()):
                sums[k] += m
                sq[k] += m * m
                counts[k] += 1
    out = summarize(n, sums, sq, counts)
    out["block_paths"] = blocks
    out["full_grad_norm_mean"] = sum(full) / len(full)
    out["settings"] = {"batch": batch, "batches": config.path_batches, "repeats": config.path_repeats,
                       "measurements": sum(counts), "bn": f"eval mode, statistics recalibrated on {len(calib)} batch{'es' if len(calib) != 1 else ''}",
                       "gradient": "L2 norm of d(summed loss)/d(input of the first residual block), per sample"}
    return out, ""

