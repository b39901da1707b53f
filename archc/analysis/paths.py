"""Input -> output paths of the network DAG, counted exactly by dynamic programming (never enumerated).

The distribution of path lengths from "input" to a node is a polynomial with exact Python int
coefficients: `dist[v] = sum over predecessors u of shift(dist[u], w(u, v))` (`length_dists`, for
every node). For the outputs, `dist_to` does the same work in time linear in depth: the cut vertices
(nodes every input-output path passes, e.g. each residual block's add) split the DAG into short
segments, each segment's small polynomial comes from the same DP run locally, and the output's
polynomial is their product, multiplied as big integers (Kronecker substitution), never grown node
by node.
Two length measures:
  * weighted layers: the number of conv/fc ops on the path (a projection shortcut's conv counts);
  * blocks: the number of residual blocks / inception modules / plain blocks whose *body* the path
    goes through (Veit et al. 2016: a path through an identity shortcut skips the block).
With n residual blocks there are 2^n paths with Binomial(n, 1/2) lengths in blocks; an inception
module multiplies the count by its number of branches. A dense block of L layers multiplies it by 2^L: in
the paper's view (Huang et al. 2017, every layer fed by all earlier ones) a path from the block's input
to its output is an increasing subset of the layers it passes through; in archc's IR each layer is a
concat of an identity branch and its body, and a path picks one of the two at each layer, the same
subsets. Lengths: Binomial(L, 1/2) in blocks (dense layers), and 2 weighted layers per layer passed
with the bottleneck 1x1 (1 without it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Optional

import networkx as nx

from archc.ir.dag import ADD, CONCAT, INPUT, MUL, to_dag
from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, Role, SeqNode

# Veit et al. 2016, Fig. 6: in ResNet-110 almost all gradient comes from paths 5..17 blocks long
VEIT_WINDOW = (5, 17)


@dataclass
class Dist:
    """Path-length distribution: counts[i] paths of length offset + i (exact ints)."""

    offset: int = 0
    counts: list[int] = field(default_factory=list)

    def shifted(self, by: int) -> "Dist":
        return Dist(self.offset + by, self.counts) if by else self

    def as_dict(self) -> dict[int, int]:
        return {self.offset + i: c for i, c in enumerate(self.counts) if c}

    @property
    def total(self) -> int:
        return sum(self.counts)


def _merge(parts: list[Dist]) -> Dist:
    if not parts:  # every predecessor unreachable from the input
        return Dist(0, [])
    if len(parts) == 1:
        return parts[0]
    lo = min(p.offset for p in parts)
    hi = max(p.offset + len(p.counts) for p in parts)
    counts = [0] * (hi - lo)
    for p in parts:
        base = p.offset - lo
        for i, c in enumerate(p.counts):
            counts[base + i] += c
    return Dist(lo, counts)


def block_bodies(model: Model) -> dict[str, str]:
    """DAG node id -> path of the block whose body holds it (shortcut ops and a block's own merge node excluded;
    a merge node inside a body, such as a gate's multiply, belongs to that body). The outermost block wins."""
    owner: dict[str, str] = {}

    def visit(node: Node, body: Optional[str]) -> None:
        _OWNERSHIP(node, body, owner, visit)

    for node in model.body.items:
        visit(node, None)
    for aux in model.aux_heads:
        visit(aux.head, None)
    return owner


Visit = Callable[[Node, Optional[str]], None]


def _claim(owner: dict[str, str], dag_id: str, body: Optional[str]) -> None:
    if body is not None:
        owner.setdefault(dag_id, body)


def _op_owner(node: OpNode, body: Optional[str], owner: dict[str, str], visit: Visit) -> None:
    _claim(owner, node.path, body)


def _seq_owner(node: SeqNode, body: Optional[str], owner: dict[str, str], visit: Visit) -> None:
    inner = body or (node.path if node.role == Role.BLOCK else None)  # a plain block's items are its body
    for child in node.items:
        visit(child, inner)


def _residual_owner(node: ResidualNode, body: Optional[str], owner: dict[str, str], visit: Visit) -> None:
    for child in node.body:
        visit(child, body or node.path)
    for child in [c for c in (node.shortcut, node.post) if c is not None]:  # not the body: claimed by an outer one
        visit(child, body)
    _claim(owner, f"{node.path}.{ADD}", body)


def _concat_owner(node: ConcatNode, body: Optional[str], owner: dict[str, str], visit: Visit) -> None:
    for branch in node.branches:
        visit(branch, body or node.path)
    _claim(owner, f"{node.path}.{CONCAT}", body)


def _gate_owner(node: GateNode, body: Optional[str], owner: dict[str, str], visit: Visit) -> None:
    for child in node.gate:  # a gate is no block: its ops and its multiply belong to the body it sits in
        visit(child, body)
    _claim(owner, f"{node.path}.{MUL}", body)


# which block body each IR node type's DAG nodes belong to (a new structure: one entry here)
_OWNERSHIP: NodeRules[None] = NodeRules("block body", {
    OpNode: _op_owner, SeqNode: _seq_owner, ResidualNode: _residual_owner, ConcatNode: _concat_owner,
    GateNode: _gate_owner})


def length_dists(g: nx.DiGraph, node_weight: dict[str, int], edge_weight: Any,
                 order: Optional[list[str]] = None) -> dict[str, Dist]:
    """dist[v] for every node v; a path's length is the sum of its node and edge weights."""
    dist: dict[str, Dist] = {}
    for v in order or list(nx.topological_sort(g)):
        preds = list(g.predecessors(v))
        if not preds:
            base = Dist(0, [1]) if v == INPUT else Dist(0, [])
        else:
            base = _merge([dist[u].shifted(edge_weight(u, v)) for u in preds if dist[u].counts])
        dist[v] = base.shifted(node_weight.get(v, 0))
    return dist


def segments(g: nx.DiGraph, target: str, order: Optional[list[str]] = None) -> list[tuple[str, bool]]:
    """The nodes on input -> target paths in topological order, each with True when it is a cut vertex
    (every path passes it); [] when no path exists. A node is a cut vertex exactly when no edge jumps over
    it, from a node before it to a node after it (such an edge starts a path that avoids it; without one,
    every path must step onto it)."""
    order = order or list(nx.topological_sort(g))
    pred, succ = g.pred, g.succ
    if INPUT not in g or target not in g:
        return []
    from_input = {INPUT}
    for v in order:
        if v not in from_input and any(u in from_input for u in pred[v]):
            from_input.add(v)
    to_target = {target}
    for v in reversed(order):
        if v not in to_target and v in from_input and any(w in to_target for w in succ[v]):
            to_target.add(v)
    on = [v for v in order if v in to_target]
    if not on or on[0] != INPUT:
        return []
    pos = {v: i for i, v in enumerate(on)}
    out: list[tuple[str, bool]] = []
    reach = 0  # the furthest position an edge from an earlier node lands on
    for i, v in enumerate(on):
        out.append((v, reach <= i))
        for w in succ[v]:
            j = pos.get(w, 0)
            if j > reach:
                reach = j
    return out


def dist_to(g: nx.DiGraph, target: str, node_weight: dict[str, int], edge_weight: Callable[[str, str], int],
            order: Optional[list[str]] = None, plan: Optional[list[tuple[str, bool]]] = None) -> Dist:
    """Path lengths from "input" to `target` (the same distribution as `length_dists(...)[target]`): the
    per-node DP run locally within each segment between cut vertices (`segments`, or `plan` when given),
    then the product of the segments' polynomials. O(nodes + edges) small-list work plus that product."""
    plan = segments(g, target, order) if plan is None else plan
    if not plan:
        return Dist(0, [])
    pred = g.pred
    factors: list[Dist] = []
    local: dict[str, Dist] = {}
    for v, cut in plan:
        preds = [u for u in pred[v] if u in local]
        base = _merge([local[u].shifted(edge_weight(u, v)) for u in preds]) if preds else Dist(0, [1])
        here = base.shifted(node_weight.get(v, 0))
        if cut:  # its segment ends here, a new one starts
            factors.append(here)
            local = {v: Dist(0, [1])}
        else:
            local[v] = here
    bound = 1  # the number of paths: every coefficient of every partial product is at most this
    for f in factors:
        bound *= f.total
    return _product(factors, bound)


def _trimmed(d: Dist) -> Dist:
    """The same distribution without leading or trailing zero counts."""
    counts = list(d.counts)
    while counts and counts[-1] == 0:
        counts.pop()
    start = next((i for i, c in enumerate(counts) if c), len(counts))
    return Dist(d.offset + start, counts[start:])


def _power(p: list[int], k: int) -> list[int]:
    """Coefficients of p(x)^k, p[0] != 0, by J. C. P. Miller's recurrence: len(p) exact-integer terms per
    coefficient (for p = 1 + x: the binomial row, each entry from the one before)."""
    d = len(p) - 1
    out = [p[0] ** k]
    for m in range(1, k * d + 1):
        acc = sum(((k + 1) * j - m) * p[j] * out[m - j] for j in range(1, min(d, m) + 1) if p[j])
        out.append(acc // (m * p[0]))  # exact
    return out


def _times(a: list[int], b: list[int], width: int) -> list[int]:
    """Product of two polynomials with non-negative coefficients below 2^(8 * width)."""
    if min(len(a), len(b)) <= 16:  # short: plain convolution
        out = [0] * (len(a) + len(b) - 1)
        for j, y in enumerate(b):
            if y:
                for i, x in enumerate(a):
                    out[i + j] += x * y
        return out
    pack = lambda cs: int.from_bytes(b"".join(c.to_bytes(width, "little") for c in cs), "little")  # noqa: E731
    raw = (pack(a) * pack(b)).to_bytes((len(a) + len(b) - 1) * width, "little")
    return [int.from_bytes(raw[i:i + width], "little") for i in range(0, len(raw), width)]


def _product(factors: list[Dist], bound: int) -> Dist:
    """The product of the polynomials, every coefficient of every partial product at most `bound`: equal
    factors are raised to their power by recurrence, distinct ones multiplied (long ones packed into one
    integer each, `width` bytes per coefficient, and multiplied by CPython's big-integer arithmetic)."""
    offset = 0
    groups: dict[tuple[int, ...], int] = {}
    for f in map(_trimmed, factors):
        if not f.counts:
            return Dist(0, [])
        offset += f.offset
        if len(f.counts) > 1 or f.counts[0] != 1:
            groups[tuple(f.counts)] = groups.get(tuple(f.counts), 0) + 1
    width = (bound.bit_length() + 8) // 8
    result = [1]
    for counts, k in sorted(groups.items(), key=lambda item: len(item[0]) * item[1]):
        result = _times(result, _power(list(counts), k), width)
    return Dist(offset, result)


def _stats(d: Dist) -> dict[str, Any]:
    total = d.total
    if not total:
        return {"paths": 0, "min": None, "max": None, "mean": None, "distribution": {}}
    mean = Fraction(sum((d.offset + i) * c for i, c in enumerate(d.counts)), total)
    nonzero = [d.offset + i for i, c in enumerate(d.counts) if c]
    return {"paths": total, "min": nonzero[0], "max": nonzero[-1], "mean": float(mean),
            "distribution": {str(k): v for k, v in d.as_dict().items()}}


def share_in_window(d: Dist, lo: int, hi: int) -> Fraction:
    """Exact share of paths whose length lies in [lo, hi]."""
    total = d.total
    inside = sum(c for i, c in enumerate(d.counts) if lo <= d.offset + i <= hi)
    return Fraction(inside, total) if total else Fraction(0)


@dataclass
class PathResult:
    outputs: list[str]
    layers: dict[str, Dist]  # per output: lengths in weighted layers
    blocks: dict[str, Dist]  # per output: lengths in blocks
    n_blocks: int  # blocks on the main path (residual blocks, inception modules, plain blocks)

    def to_dict(self, window: tuple[int, int] = VEIT_WINDOW) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": "dynamic programming over the DAG in topological order (exact integers)",
            "blocks_on_main_path": self.n_blocks,
            "effective_window": list(window),
            "outputs": {},
        }
        for name in self.outputs:
            share = share_in_window(self.blocks[name], *window)
            out["outputs"][name] = {
                "paths": self.layers[name].total,
                "paths_log2": _log2(self.layers[name].total),
                "layers": _stats(self.layers[name]),
                "blocks": _stats(self.blocks[name]),
                "effective_share": float(share),
            }
        return out


def _log2(n: int) -> float:
    if n <= 0:
        return 0.0
    shift = max(0, n.bit_length() - 60)
    import math

    return shift + math.log2(n >> shift)


def path_counts(model: Model, g: Optional[nx.DiGraph] = None) -> PathResult:
    """Exact path counts and length distributions to every output (main and aux heads)."""
    g = g if g is not None else to_dag(model)
    order = list(nx.topological_sort(g))
    weighted = {v: 1 for v, w in g.nodes(data="weighted") if w}
    outputs = list(g.graph["outputs"])
    plans = {o: segments(g, o, order) for o in outputs}  # the same cut vertices for both length measures
    layers = {o: dist_to(g, o, weighted, lambda u, v: 0, plan=plans[o]) for o in outputs}
    owner = block_bodies(model)

    def enters_block(u: str, v: str) -> int:
        b = owner.get(v)
        return 1 if b is not None and owner.get(u) != b else 0

    blocks = {o: dist_to(g, o, {}, enters_block, plan=plans[o]) for o in outputs}
    n_blocks = max(blocks[outputs[0]].as_dict(), default=0)
    return PathResult(outputs, {o: layers[o] for o in outputs}, {o: blocks[o] for o in outputs}, n_blocks)
