"""Which weights the probe watches: the parameters each op's registry entry names (`OpDef.watched`: a conv's
and an fc's `weight`, both convs' of a separable conv), with its depth, block and stage."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, Role, SeqNode

GROUP_ROLES = (Role.BLOCK, Role.MODULE)  # a residual/plain block, an inception module


@dataclass(frozen=True)
class LayerInfo:
    """One watched weight. `depth` is the number of weighted (conv/fc) layers on the longest path from the
    input to this layer, itself included (1-based): 1..N along a plain chain or a ResNet's main path; the
    parallel branches of an inception module share depths (GoogLeNet is 22 deep); a projection shortcut's
    conv, an aux head's layers likewise count their own longest path."""

    param: str  # parameter name in the torch module: "stage2.block3.conv1.conv.weight"
    path: str  # IR path of the op: "stage2.block3.conv1.conv"
    kind: str  # conv | fc
    stage: str  # top-level node ("stem", "stage2", "head") or the aux head's name
    block: str  # enclosing block / inception module, else the top-level node
    role: str  # main | shortcut | gate (a squeeze-excitation gate's convs) | aux
    depth: int

    def to_dict(self) -> dict:
        return asdict(self)


Found = Iterator[tuple[OpNode, str, str, str]]  # (op, stage, block, role)


def _walk(node: Node, stage: str, block: str, role: str) -> Found:
    """(op, stage, block, role) of every op under `node`, in forward order; role: main, or the side its
    structure puts it on (a residual shortcut, a gate's squeeze and excitation)."""
    if node.role in GROUP_ROLES:
        block = node.path
    return _LAYERS(node, stage, block, role)


def _op_layers(node: OpNode, stage: str, block: str, role: str) -> Found:
    yield node, stage, block, role


def _child_layers(node: Node, stage: str, block: str, role: str) -> Found:
    for child in node.children():
        yield from _walk(child, stage, block, role)


def _residual_layers(node: ResidualNode, stage: str, block: str, role: str) -> Found:
    for child in node.body:
        yield from _walk(child, stage, block, role)
    if node.shortcut is not None:
        yield from _walk(node.shortcut, stage, block, "shortcut")
    if node.post is not None:
        yield from _walk(node.post, stage, block, role)


def _gate_layers(node: GateNode, stage: str, block: str, role: str) -> Found:
    for child in node.gate:  # its convs compute a per-channel scale, off the main path
        yield from _walk(child, stage, block, "gate")


# the ops of each IR node type and the role the structure gives them (a new structure: one entry here)
_LAYERS: NodeRules[Found] = NodeRules("probe", {
    OpNode: _op_layers, SeqNode: _child_layers, ResidualNode: _residual_layers, ConcatNode: _child_layers,
    GateNode: _gate_layers})


def layer_depths(model: Model) -> dict[str, int]:
    """IR path of every weighted op -> weighted (conv/fc) layers on the longest input path to it, itself
    included. The same dynamic programme over the DAG as the analysis report's depth (archc.analysis.paths)."""
    from archc.analysis.paths import length_dists
    from archc.ir.dag import to_dag

    g = to_dag(model)
    weighted = {v: 1 for v, w in g.nodes(data="weighted") if w}
    dists = length_dists(g, weighted, lambda u, v: 0)
    out = {}
    for v in weighted:
        lengths = dists[v].as_dict()
        if lengths:
            out[v] = max(lengths)
    return out


def _infos(op: OpNode, stage: str, block: str, role: str, depths: dict[str, int]) -> list[LayerInfo]:
    names = op.op.watched(op.params)
    if names and op.path not in depths:
        raise ValueError(f"op {op.kind!r} at {op.path} names watched parameters but is not weighted (registry: "
                         "set weighted = True or watch nothing)")
    kind = "fc" if op.op.category == "linear" else "conv"
    return [LayerInfo(f"{op.path}.{name}", op.path, kind, stage, block, role, depths[op.path]) for name in names]


def watched_layers(model: Model) -> list[LayerInfo]:
    """The watched weights in forward order (body first, then aux heads), as each op's registry entry names them."""
    depths = layer_depths(model)
    out: list[LayerInfo] = []
    for top in model.body.items:
        for op, stage, block, role in _walk(top, top.name, top.path, "main"):
            out += _infos(op, stage, block, role, depths)
    for aux in model.aux_heads:
        for op, _, _, _ in _walk(aux.head, aux.name, aux.name, "main"):
            out += _infos(op, aux.name, aux.name, "aux", depths)
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
