"""Cross-check of the analytic counts against fvcore's FlopCountAnalysis on the compiled module.

The torch module names equal the IR paths, so fvcore's `by_module()` maps onto spec names directly.
Conv and fc MACs must agree exactly. fvcore also counts some ops archc counts as 0 MACs (batch
norm, adaptive pooling) and cannot count others (max pool, add, ...): both are reported, not hidden.
Aux heads do not run in eval mode, so each head is traced on its own with its input shape.
"""
from __future__ import annotations

import logging
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator, Optional

from archc.ir.graph import Model, OpNode

CHECKED_CATEGORIES = ("conv", "linear")  # the ops whose MACs must equal exactly


@contextmanager
def torch_threads(n: Optional[int] = 1) -> Iterator[None]:
    """Run torch on `n` threads inside the block (None: leave the count as it is), restored after. One
    thread: the same float results on every machine, and no OpenMP oversubscription on a busy one (a
    2-thread forward on a loaded 2-core VM ran 20x slower)."""
    import torch

    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _trace(module: Any, input_shape: tuple) -> tuple[dict[str, int], Counter, dict[str, int]]:
    import torch
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(module, torch.zeros(1, *input_shape))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        by_module = dict(analysis.by_module())
        unsupported = Counter(analysis.unsupported_ops())
        by_operator = dict(analysis.by_operator())
    finally:
        logger.setLevel(level)
    return by_module, unsupported, by_operator


def fvcore_crosscheck(model: Model, seed: int = 0) -> dict[str, Any]:
    """Per conv/fc op: analytic MACs vs fvcore; totals; fvcore's extra and unsupported ops. (`seed` is kept for
    callers; the module is traced with zero weights, which counting does not look at.)"""
    import warnings

    import torch

    from archc.backends.torch_backend import build_module

    with torch_threads(1), torch.no_grad():
        # counting needs shapes, not weights: storage filled with zeros instead of the spec's random init
        net = build_module(model).to_empty(device="cpu").eval()
        for tensor in list(net.parameters()) + list(net.buffers()):
            tensor.zero_()
    with torch.no_grad(), warnings.catch_warnings(), torch_threads(1):
        warnings.simplefilter("ignore")
        by_module, unsupported, by_operator = _trace(net, model.input_shape)
        for aux in model.aux_heads:
            sub, sub_unsupported, sub_ops = _trace(net.get_submodule(aux.name), aux.head.in_shape)
            by_module.update({f"{aux.name}.{k}" if k else aux.name: v for k, v in sub.items()})
            unsupported.update(sub_unsupported)
            for key, value in sub_ops.items():
                by_operator[key] = by_operator.get(key, 0) + value
    ops: list[OpNode] = list(model.body.ops()) + [op for a in model.aux_heads for op in a.head.ops()]
    rows = []
    mismatches = []
    checked_analytic = checked_fvcore = 0
    for op in ops:
        if op.op.category not in CHECKED_CATEGORIES:
            continue
        analytic = op.cost.macs
        counted = int(by_module.get(op.path, 0))
        rows.append({"path": op.path, "kind": op.kind, "analytic_macs": analytic, "fvcore_macs": counted,
                     "equal": analytic == counted})
        checked_analytic += analytic
        checked_fvcore += counted
        if analytic != counted:
            mismatches.append(op.path)
    analytic_total = sum(op.cost.macs for op in ops)
    fvcore_total = int(by_module.get("", 0)) + sum(int(by_module.get(a.name, 0)) for a in model.aux_heads)
    counted_categories = set(CHECKED_CATEGORIES)
    extra = {k: int(v) for k, v in sorted(by_operator.items()) if k not in ("conv", "linear", "addmm", "matmul")
             and v}
    return {
        "tool": "fvcore.nn.FlopCountAnalysis (1 fvcore flop = 1 MAC)",
        "checked_categories": sorted(counted_categories),
        "ops_checked": len(rows),
        "all_equal": not mismatches,
        "mismatches": mismatches,
        "conv_linear_macs": {"analytic": checked_analytic, "fvcore": checked_fvcore},
        "total_macs": {"analytic": analytic_total, "fvcore": fvcore_total},
        "fvcore_only": extra,  # ops fvcore counts and archc counts as 0 MACs
        "unsupported": dict(sorted(unsupported.items())),  # ops fvcore skipped (counted as 0 by fvcore)
        "ops": rows,
    }
