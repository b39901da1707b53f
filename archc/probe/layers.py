"""Which weights the probe watches: every conv and fc weight of the IR, with its depth, block and stage."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from archc.ir.graph import Model, Node, OpNode

WEIGHTED_CATEGORIES = ("conv", "linear")
GROUP_ROLES = ("block", "module")  # a residual/plain block, an inception module


@dataclass(frozen=True)
class LayerInfo:
    """One watched weight. `depth` counts main-path conv/fc layers from the input (1-based); a shortcut or
    aux-head layer carries the depth of the main-path layer just before it."""

    param: str  # parameter name in the torch module: "stage2.block3.conv1.conv.weight"
    path: str  # IR path of the op: "stage2.block3.conv1.conv"
    kind: str  # conv | fc
    stage: str  # top-level node ("stem", "stage2", "head") or the aux head's name
    block: str  # enclosing block / inception module, else the top-level node
    role: str  # main | shortcut | aux
    depth: int

    def to_dict(self) -> dict:
        return asdict(self)


def _walk(node: Node, stage: str, block: str, shortcut: bool) -> Iterable[tuple[OpNode, str, str, bool]]:
    if node.role in GROUP_ROLES:
        block = node.path
    shortcut = shortcut or node.role == "shortcut"
    if isinstance(node, OpNode):
        yield node, stage, block, shortcut
        return
    for child in node.children():
        yield from _walk(child, stage, block, shortcut)


def watched_layers(model: Model) -> list[LayerInfo]:
    """Conv and fc weights in forward order (body first, then aux heads)."""
    out: list[LayerInfo] = []
    depth = 0
    for top in model.body.items:
        for op, stage, block, shortcut in _walk(top, top.name, top.path, False):
            if op.op.category not in WEIGHTED_CATEGORIES:
                continue
            if not shortcut:
                depth += 1
            kind = "fc" if op.op.category == "linear" else "conv"
            out.append(LayerInfo(f"{op.path}.weight", op.path, kind, stage, block,
                                 "shortcut" if shortcut else "main", max(depth, 1)))
    for aux in model.aux_heads:
        attach_depth = max((layer.depth for layer in out if layer.path.startswith(aux.attach + ".")
                            or layer.path == aux.attach), default=depth)
        for op, _, _, _ in _walk(aux.head, aux.name, aux.name, False):
            if op.op.category in WEIGHTED_CATEGORIES:
                kind = "fc" if op.op.category == "linear" else "conv"
                out.append(LayerInfo(f"{op.path}.weight", op.path, kind, aux.name, aux.name, "aux", attach_depth))
    return out


def group_norms(layers: Sequence[LayerInfo], norms: Sequence[float], by: str) -> dict[str, float]:
    """L2 norm of the concatenated gradients of each block or stage: sqrt(sum of squared layer norms)."""
    if by not in ("block", "stage"):
        raise ValueError(f"group by 'block' or 'stage', got {by!r}")
    if len(layers) != len(norms):
        raise ValueError(f"{len(norms)} norms for {len(layers)} layers")
    sums: dict[str, float] = {}
    for layer, value in zip(layers, norms):
        key = getattr(layer, by)
        sums[key] = sums.get(key, 0.0) + float(value) ** 2
    return {key: math.sqrt(total) for key, total in sums.items()}


def first_last_ratio(layers: Sequence[LayerInfo], norms: Sequence[float]) -> float:
    """Gradient norm of the first main-path layer over that of the last (the classifier)."""
    main = [value for layer, value in zip(layers, norms) if layer.role == "main"]
    if len(main) < 2:
        return float("nan")
    first, last = float(main[0]), float(main[-1])
    if last == 0:
        return float("nan") if first == 0 else float("inf")  # 0/0: a dead net has no ratio
    return first / last
