"""Analytic complexity from the IR (no forward pass): params, MACs, FLOPs and activations per op,
block, stage and in total.

Conventions (stated in every output):
  * MACs: multiply-accumulates of conv and fc layers (one multiply-add = 1; what fvcore and
    torchvision's "GFLOPS" count). Norms, activations, pools and adds count 0 MACs.
  * FLOPs = 2 x MACs (a multiply and an add each).
  * activations: values produced by the ops for ONE image (the sum of every op's output size);
    memory at 4 bytes per value (float32). This is what a framework keeps for the backward pass
    when nothing is fused or computed in place, an upper bound for training memory per image.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any, Iterable

from archc.ir.graph import Model, Node, OpNode, Role

BYTES_PER_VALUE = 4  # float32
CONVENTION = ("MACs = multiply-accumulates of conv and fc layers (1 multiply-add = 1; what fvcore and torchvision "
              "call FLOPs); FLOPs = 2 x MACs; activations = values output by all ops for one image, memory at "
              f"{BYTES_PER_VALUE} bytes (float32) each")
BLOCK_ROLES = (Role.BLOCK, Role.MODULE)


def numel(shape: Iterable[int]) -> int:
    return math.prod(int(s) for s in shape)


def _totals(ops: Iterable[OpNode]) -> dict[str, int]:
    params = macs = acts = 0
    largest = 0
    for op in ops:
        cost = op.cost
        params += cost.params
        macs += cost.macs
        size = numel(op.out_shape)
        acts += size
        largest = max(largest, size)
    return {"params": params, "macs": macs, "flops": 2 * macs, "activations": acts,
            "activation_bytes": BYTES_PER_VALUE * acts, "largest_activation": largest}


def node_totals(node: Node) -> dict[str, int]:
    """params, macs, flops, activations (count and bytes) of every op under a node."""
    return _totals(node.ops())


def all_ops(model: Model, aux: bool = True) -> list[OpNode]:
    ops = list(model.body.ops())
    if aux:
        for head in model.aux_heads:
            ops.extend(head.head.ops())
    return ops


def op_rows(model: Model, aux: bool = True) -> list[dict[str, Any]]:
    """One row per primitive op, in execution order (aux head ops last)."""
    rows = []
    for op in all_ops(model, aux):
        cost = op.cost
        rows.append({"path": op.path, "kind": op.kind, "category": op.op.category, "label": op.label,
                     "input": list(op.in_shape), "output": list(op.out_shape), "params": cost.params,
                     "macs": cost.macs, "flops": 2 * cost.macs, "activations": numel(op.out_shape)})
    return rows


def stage_label(node: Node) -> str:
    """`residual bottleneck x3`, `inception x2`, `dense x6, k=32 + transition`, `stem` (archc.summary's)."""
    from archc.summary import stage_kind

    return stage_kind(node)


def block_nodes(model: Model) -> list[Node]:
    """Residual/plain blocks and inception modules, in order."""
    return [n for n in model.walk() if n.role in BLOCK_ROLES]


def _row(node: Node, **extra: Any) -> dict[str, Any]:
    row = {"name": node.name, "path": node.path, "input": list(node.in_shape), "output": list(node.out_shape)}
    row.update(extra)
    row.update(node_totals(node))
    return row


def complexity(model: Model, ops: bool = False) -> dict[str, Any]:
    """Totals (without and with aux heads), per stage, per block, per op category (and per op if `ops`)."""
    body_ops = all_ops(model, aux=False)
    total = _totals(body_ops)
    with_aux = _totals(all_ops(model, aux=True))
    stages = []
    for node in model.stages:
        row = _row(node, kind=stage_label(node))
        row["share_macs"] = row["macs"] / total["macs"] if total["macs"] else 0.0
        stages.append(row)
    aux_rows = [_row(a.head, kind=f"aux head on {a.attach} (training only)", loss_weight=a.loss_weight)
                for a in model.aux_heads]
    blocks = []
    for node in block_nodes(model):
        kind = node.meta.get("block") or node.meta.get("kind") or node.role
        extra = {"kind": kind, "stage": node.path.split(".", 1)[0]}
        if "shortcut" in node.meta:
            extra["shortcut"] = node.meta["shortcut"]
        blocks.append(_row(node, **extra))
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: {"params": 0, "macs": 0, "ops": 0})
    for op in body_ops:
        cost = op.cost
        cat = by_category[op.op.category]
        cat["params"] += cost.params
        cat["macs"] += cost.macs
        cat["ops"] += 1
    weighted = sum(1 for op in body_ops if op.op.weighted)
    out: dict[str, Any] = {
        "convention": CONVENTION,
        "input": list(model.input_shape),
        "total": total,
        "total_with_aux": with_aux,
        "weighted_ops": weighted,  # conv/fc ops of the inference network (all branches)
        "stages": stages,
        "aux_heads": aux_rows,
        "blocks": blocks,
        "by_category": {k: dict(v) for k, v in sorted(by_category.items())},
    }
    if ops:
        out["ops"] = op_rows(model)
    return out
