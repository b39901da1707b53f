"""What 1x1 bottlenecks save, by counterfactual rewrites.

Inception modules: each module as specified vs the same module without 1x1 reductions (the 3x3
and 5x5 convs directly on the module's input; the pool branch without its 1x1 projection), on the
module's actual input: params and MACs each, and the saving factor; summed over the network.
A reduction is recognised structurally: a branch whose first weighted op is a 1x1 stride-1 conv
followed by a larger conv (or by a concat nested in the branch, Inception-v3's 1x3 | 3x1, whose
sub-branches' first convs then all read the module's input); a projection: a branch that ends in a
1x1 conv after unweighted ops. Factorised convolutions (Inception-v3: two 3x3 for a 5x5, 1xn + nx1
for an nxn) are compared with the dense conv they replace in archc.analysis.factorisation.

Residual (and plain) block stages: every bottleneck block vs a basic block of the same input/output
width (and every basic block vs a bottleneck with a 4x narrower middle), obtained by rewriting the
spec's stage and lowering again; the whole network both ways.

Depthwise factorisations (MobileNet): every depthwise kxk conv followed by a pointwise 1x1 (norms and
activations between them allowed) vs the dense kxk conv from the depthwise conv's input to the
pointwise conv's output channels, with the same window, that the pair replaces; per block, per stage,
and for the network. Howard et al. 2017 (MobileNets, eq. 5) give the MACs ratio 1/C_out + 1/k^2.

Every conv's MACs comes with its formula k*k*C_in*C_out*H*W (C_in per group, H x W of the output).
"""
from __future__ import annotations

from typing import Any, Optional

from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, Role, SeqNode
from archc.ops import Cost

BLOCK_STAGE_KINDS = ("residual", "plain")


# ---------------------------------------------------------------- formulas


def mac_formula(op: OpNode, x: Optional[tuple] = None) -> Optional[str]:
    """'k*k*C_in*C_out*H*W = value' for the ops whose registry entry gives a formula (value from the registry);
    None for others."""
    x = tuple(x if x is not None else op.in_shape)
    rule = op.op.formula(op.params, x, op.out_shape)
    if rule is None:
        return None
    return f"{rule} = {op.op.cost(op.params, x, op.out_shape).macs:,}"


def _cost_on(op: OpNode, x: tuple) -> Cost:
    return op.op.cost(op.params, x, op.out_shape)


def _conv_rows(ops: list[tuple[OpNode, tuple]]) -> list[dict[str, Any]]:
    rows = []
    for op, x in ops:
        if op.op.weighted:
            rows.append({"op": op.path, "label": op.label, "macs": _cost_on(op, x).macs, "formula": mac_formula(op, x)})
    return rows


# ---------------------------------------------------------------- inception modules


def _items_ops(items: list[Node]) -> list[list[OpNode]]:
    return [list(item.ops()) for item in items]


def _first_weighted(ops: list[OpNode]) -> Optional[OpNode]:
    return next((op for op in ops if op.op.weighted), None)


def _window(op: Optional[OpNode]) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
    """(kernel, stride) of a spatial weighted op, as its registry entry states it; None otherwise."""
    return None if op is None else op.op.window(op.params)


def _is_1x1(op: Optional[OpNode]) -> bool:
    return _window(op) == ((1, 1), (1, 1))


def _readers(node: Node) -> list[OpNode]:
    """The weighted ops that read `node`'s input first: its first weighted op, or, for a concat nested in a
    branch (Inception-v3's 1x3 | 3x1 pair), the first weighted op of each of its sub-branches."""
    if isinstance(node, ConcatNode):
        out: list[OpNode] = []
        for sub in node.branches:
            out += next((r for r in map(_readers, sub.items) if r), [])
        return out
    first = _first_weighted(list(node.ops()))
    return [first] if first is not None else []


def _before_reader(op: OpNode, group: list[OpNode], ids: set[int]) -> bool:
    """`op` comes before its unit's first weighted op, and that op reads the module's input: a pre-activation
    unit's BN and ReLU (DenseNet), which then normalise the input instead of the reduction's output."""
    first = _first_weighted(group)
    if first is None or id(first) not in ids:
        return False
    position = {id(o): i for i, o in enumerate(group)}
    return position[id(op)] < position[id(first)]


def naive_branch(branch: SeqNode, x: tuple) -> tuple[str, list[tuple[OpNode, tuple]]]:
    """The branch without its 1x1 reduction / projection: (what was removed, [(op, its input shape)])."""
    groups = _items_ops(branch.items)
    firsts = [_first_weighted(g) for g in groups]
    weighted_items = [i for i, f in enumerate(firsts) if f is not None]
    plan = [(op, tuple(op.in_shape)) for g in groups for op in g]
    if len(weighted_items) >= 2 and weighted_items[0] == 0 and _is_1x1(firsts[0]):
        readers = _readers(branch.items[weighted_items[1]])  # every op that read the reduction's output
        windows = [_window(op) for op in readers]
        if readers and all(w is not None and w[0] != (1, 1) for w in windows):
            ids = {id(op) for op in readers}
            kept = [(op, tuple(x) if id(op) in ids or _before_reader(op, g, ids) else tuple(op.in_shape))
                    for g in groups[1:] for op in g]
            return "1x1 reduction", kept
    if weighted_items and weighted_items[-1] == len(groups) - 1 and len(weighted_items) == 1 \
            and weighted_items[0] > 0 and _is_1x1(firsts[-1]):
        return "1x1 pool projection", [(op, tuple(op.in_shape)) for g in groups[:-1] for op in g]
    return "", plan


def _sum_cost(plan: list[tuple[OpNode, tuple]]) -> Cost:
    params = macs = 0
    for op, x in plan:
        c = _cost_on(op, x)
        params += c.params
        macs += c.macs
    return Cost(params, macs)


def inception_savings(model: Model) -> dict[str, Any]:
    modules = []
    total_spec = total_naive = Cost()
    for node in model.walk():
        if not isinstance(node, ConcatNode) or (node.role != Role.MODULE and node.meta.get("kind") != "dense"):
            continue  # a concat nested in a branch is part of it; a dense layer is a module of its own
        x = tuple(node.in_shape)
        branches = []
        spec_cost = naive_cost = Cost()
        naive_channels = 0
        for branch in node.branches:
            removed, plan = naive_branch(branch, x)
            as_is = [(op, tuple(op.in_shape)) for op in branch.ops()]
            a, b = _sum_cost(as_is), _sum_cost(plan)
            out_c = branch.out_shape[0] if branch.items else x[0]  # removing a reduction keeps the width,
            # also where the branch ends in a nested concat (Inception-v3's 1x3 | 3x1 pair)
            naive_channels += out_c if removed != "1x1 pool projection" else x[0]
            branches.append({"branch": branch.path, "removed": removed or "nothing",
                             "specified": {"params": a.params, "macs": a.macs, "convs": _conv_rows(as_is)},
                             "naive": {"params": b.params, "macs": b.macs, "convs": _conv_rows(plan)}})
            spec_cost = Cost(spec_cost.params + a.params, spec_cost.macs + a.macs)
            naive_cost = Cost(naive_cost.params + b.params, naive_cost.macs + b.macs)
        modules.append({"module": node.path, "kind": node.meta.get("kind", "inception"), "input": list(x),
                        "output_channels": node.out_shape[0],
                        "naive_output_channels": naive_channels,
                        "specified": {"params": spec_cost.params, "macs": spec_cost.macs},
                        "naive": {"params": naive_cost.params, "macs": naive_cost.macs},
                        "macs_factor": _ratio(naive_cost.macs, spec_cost.macs),
                        "params_factor": _ratio(naive_cost.params, spec_cost.params),
                        "branches": branches})
        total_spec = Cost(total_spec.params + spec_cost.params, total_spec.macs + spec_cost.macs)
        total_naive = Cost(total_naive.params + naive_cost.params, total_naive.macs + naive_cost.macs)
    return {"modules": modules,
            "total": {"specified": {"params": total_spec.params, "macs": total_spec.macs},
                      "naive": {"params": total_naive.params, "macs": total_naive.macs},
                      "macs_saved": total_naive.macs - total_spec.macs,
                      "macs_factor": _ratio(total_naive.macs, total_spec.macs),
                      "params_factor": _ratio(total_naive.params, total_spec.params)},
            "title": savings_title({m["kind"] for m in modules}),
            "note": "naive = each module without 1x1 reductions on its actual input; without the pool "
                    "projection the module's output also grows (naive_output_channels), which would raise "
                    "the cost of every later layer too (not included)"
                    + ("; a dense layer without its bottleneck is BN-ReLU-3x3 conv on the layer's whole input "
                       "(DenseNet without B), the same output" if any(m["kind"] == "dense" for m in modules) else "")}


def savings_title(kinds: set[str]) -> str:
    """What the concatenating modules are called: inception modules, dense layers (DenseNet), or both."""
    if kinds == {"dense"}:
        return "Dense layers: the 1x1 bottleneck"
    if kinds <= {"inception"}:
        return "Inception modules: 1x1 reductions"
    return "Inception modules and dense layers: 1x1 reductions"


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


# ---------------------------------------------------------------- residual blocks


# block kind -> (its kind of convs, the counterpart of the same family): a pre-activation block's counterpart
# is a pre-activation block
COUNTERPARTS = {"bottleneck": ("bottleneck", "basic"), "basic": ("basic", "bottleneck"),
                "preact_bottleneck": ("bottleneck", "preact_basic"), "preact_basic": ("basic", "preact_bottleneck")}


def _counterpart(stage: Any, c_out: int) -> Optional[dict[str, Any]]:
    """Spec fields of the other block kind with the same output width, or None."""
    convs, other = COUNTERPARTS.get(stage.block, ("", ""))
    if convs == "bottleneck":
        return {"block": other, "width": c_out, "expansion": 1, "groups": 1, "base_width": 64}
    if convs == "basic" and c_out % 4 == 0:
        return {"block": other, "width": c_out // 4, "expansion": 4, "groups": 1, "base_width": 64,
                "stride_on": "3x3"}
    return None


def _rewrite(model: Model) -> tuple[Optional[Model], list[dict[str, Any]]]:
    """Lower the spec with every basic/bottleneck stage swapped to the other kind (same in/out widths)."""
    from archc.ir.lower import STAGE_KINDS, lower

    spec = model.spec.model_copy(deep=True)
    stage_nodes = [n for n in model.stages if n.role == Role.STAGE]
    swaps = []
    it = iter(stage_nodes)
    for i, item in enumerate(spec.stages):
        if item.kind not in STAGE_KINDS:
            continue
        node = next(it)
        st = item.params
        if item.kind not in BLOCK_STAGE_KINDS or st.block is None:
            continue
        fields = _counterpart(st, node.out_shape[0])
        if fields is None:
            continue
        for key, value in fields.items():
            setattr(st, key, value)
        swaps.append({"stage": node.path, "index": i, "from": node.meta.get("block"), "to": fields["block"],
                      "rewrite": fields})
    if not swaps:
        return None, []
    import dataclasses

    limits = model.spec.limits
    # the counterpart is only counted, never built: the bounds on memory a build needs do not apply to it
    counted_only = dataclasses.replace(limits, max_activation_bytes=2**62, max_total_params=2**62)
    return lower(spec, None, counted_only), swaps


def _blocks(stage: Node) -> list[Node]:
    """A stage's blocks (not a pre-activation stage's shared BN-ReLU unit before them)."""
    return [c for c in stage.children() if c.role == Role.BLOCK]


def _block_summary(node: Node) -> dict[str, Any]:
    c = node.cost
    return {"block": node.meta.get("block"), "params": c.params, "macs": c.macs,
            "convs": _conv_rows([(op, tuple(op.in_shape)) for op in node.ops()])}


def block_savings(model: Model) -> dict[str, Any]:
    from archc.errors import ArchcError

    try:
        other, swaps = _rewrite(model)
    except ArchcError as exc:  # the swapped net is not a valid spec (e.g. a width rule): say so, analyse the rest
        return {"stages": [], "network": None, "note": f"counterpart not computed: {exc.message}"}
    if other is None:
        return {"stages": [], "network": None}
    stages = []
    for swap in swaps:
        mine = model.find(swap["stage"])
        theirs = other.find(swap["stage"])
        blocks = []
        for a, b in zip(_blocks(mine), _blocks(theirs)):
            blocks.append({"block": a.path, "input": list(a.in_shape), "output": list(a.out_shape),
                           "specified": _block_summary(a), "counterpart": _block_summary(b),
                           "macs_factor": _ratio(b.cost.macs, a.cost.macs)})
        a_cost, b_cost = mine.cost, theirs.cost
        stages.append({"stage": swap["stage"], "from": swap["from"], "to": swap["to"], "rewrite": swap["rewrite"],
                       "specified": {"params": a_cost.params, "macs": a_cost.macs},
                       "counterpart": {"params": b_cost.params, "macs": b_cost.macs},
                       "macs_factor": _ratio(b_cost.macs, a_cost.macs), "blocks": blocks})
    a_net, b_net = model.cost, other.cost
    return {"stages": stages,
            "network": {"specified": {"params": a_net.params, "macs": a_net.macs},
                        "counterpart": {"params": b_net.params, "macs": b_net.macs},
                        "macs_factor": _ratio(b_net.macs, a_net.macs),
                        "params_factor": _ratio(b_net.params, a_net.params)},
            "note": "counterpart: bottleneck blocks become basic blocks (3x3, 3x3) with the same input/output "
                    "width; basic blocks become bottlenecks (1x1, 3x3, 1x1) with a 4x narrower middle"}


# ---------------------------------------------------------------- depthwise factorisations


Runs = list[list[OpNode]]


def _runs(node: Node, run: list[OpNode], out: Runs) -> list[OpNode]:
    """Split the tree into runs of ops that execute one after another (an add or a concat ends a run);
    appends finished runs to `out` and returns the run still open after `node`."""
    return _RUNS(node, run, out)


def _op_run(node: OpNode, run: list[OpNode], out: Runs) -> list[OpNode]:
    run.append(node)
    return run


def _seq_run(node: Node, run: list[OpNode], out: Runs) -> list[OpNode]:
    for child in node.children():
        run = _runs(child, run, out)
    return run


def _residual_run(node: ResidualNode, run: list[OpNode], out: Runs) -> list[OpNode]:
    out.append(run)
    for part in ([*node.body], [node.shortcut] if node.shortcut is not None else []):
        inner: list[OpNode] = []
        for child in part:
            inner = _runs(child, inner, out)
        out.append(inner)
    return [node.post] if node.post is not None else []


def _concat_run(node: ConcatNode, run: list[OpNode], out: Runs) -> list[OpNode]:
    out.append(run)
    for branch in node.branches:
        out.append(_runs(branch, [], out))
    return []


def _gate_run(node: GateNode, run: list[OpNode], out: Runs) -> list[OpNode]:
    """The gate's squeeze and excitation are a run of their own, off the feature path, which goes on through
    the multiply: a depthwise conv, a gate, a pointwise 1x1 (MobileNet-V3, EfficientNet) still pair."""
    out.append(_seq_run(node, [], out))
    return run


# how each IR node type splits into runs (a new structure: one entry here)
_RUNS: NodeRules[list[OpNode]] = NodeRules("savings", {
    OpNode: _op_run, SeqNode: _seq_run, ResidualNode: _residual_run, ConcatNode: _concat_run, GateNode: _gate_run})


def _owner(model: Model) -> dict[str, str]:
    """Op path -> the innermost block (or inception module, or top-level item) that holds it."""
    owner: dict[str, str] = {}
    for top in model.stages:
        for node in top.walk():  # walk is outer-first: inner blocks overwrite their stage
            if node is top or node.role in (Role.BLOCK, Role.MODULE):
                for op in node.ops():
                    owner[op.path] = node.path
    return owner


def depthwise_pairs(model: Model) -> list[tuple[OpNode, OpNode, Any]]:
    """(depthwise op, the pointwise 1x1 after it, the dense op's parameters) for every factorisation."""
    runs: list[list[OpNode]] = []
    runs.append(_runs(model.body, [], runs))
    for aux in model.aux_heads:
        runs.append(_runs(aux.head, [], runs))
    pairs = []
    for run in runs:
        weighted = [op for op in run if op.op.weighted]
        for a, b in zip(weighted, weighted[1:]):
            dense = a.op.dense(a.params, tuple(a.in_shape), b.out_shape[0])
            if dense is not None and _is_1x1(b) and b.in_shape[0] == a.out_shape[0]:
                pairs.append((a, b, dense))
    return pairs


def _add(total: dict[str, int], cost: Cost) -> None:
    total["params"] += cost.params
    total["macs"] += cost.macs


def depthwise_savings(model: Model) -> dict[str, Any]:
    """Each depthwise + pointwise pair vs the dense conv it replaces, by block, by stage and in total."""
    owner = _owner(model)
    blocks, stages = [], {}
    total_spec, total_dense = {"params": 0, "macs": 0}, {"params": 0, "macs": 0}
    for a, b, dense in depthwise_pairs(model):
        x = tuple(a.in_shape)
        y = (b.out_shape[0], *a.out_shape[1:])
        spec_rows = _conv_rows([(a, x), (b, tuple(b.in_shape))])
        spec_cost = Cost(a.cost.params + b.cost.params, a.cost.macs + b.cost.macs)
        dense_cost = a.op.cost(dense, x, y)
        formula = a.op.formula(dense, x, y)
        dense_rows = [{"op": a.path, "label": a.op.label(dense, x, y), "macs": dense_cost.macs,
                       "formula": f"{formula} = {dense_cost.macs:,}" if formula else None}]
        stage = owner.get(a.path, a.path).split(".")[0]
        blocks.append({"block": owner.get(a.path, a.path), "stage": stage, "depthwise": a.path, "pointwise": b.path,
                       "input": list(x), "output": list(y),
                       "specified": {"params": spec_cost.params, "macs": spec_cost.macs, "convs": spec_rows},
                       "dense": {"params": dense_cost.params, "macs": dense_cost.macs, "convs": dense_rows},
                       "macs_factor": _ratio(dense_cost.macs, spec_cost.macs),
                       "params_factor": _ratio(dense_cost.params, spec_cost.params)})
        row = stages.setdefault(stage, {"stage": stage, "pairs": 0, "specified": {"params": 0, "macs": 0},
                                        "dense": {"params": 0, "macs": 0}})
        row["pairs"] += 1
        for totals, cost in ((row["specified"], spec_cost), (total_spec, spec_cost), (row["dense"], dense_cost),
                             (total_dense, dense_cost)):
            _add(totals, cost)
    for row in stages.values():
        row["macs_factor"] = _ratio(row["dense"]["macs"], row["specified"]["macs"])
        row["params_factor"] = _ratio(row["dense"]["params"], row["specified"]["params"])
    return {"blocks": blocks, "stages": list(stages.values()),
            "total": {"specified": total_spec, "dense": total_dense,
                      "macs_saved": total_dense["macs"] - total_spec["macs"],
                      "macs_factor": _ratio(total_dense["macs"], total_spec["macs"]),
                      "params_factor": _ratio(total_dense["params"], total_spec["params"]),
                      "network_macs": model.cost.macs},
            "note": "dense = the kxk conv, with the depthwise conv's window, from its input straight to the "
                    "pointwise 1x1's output channels, which the pair (depthwise kxk + pointwise 1x1) factorises; "
                    "conv weights and MACs only (the norm and activation between the two are left out); the MACs "
                    "ratio is 1/C_out + 1/k^2 (Howard et al. 2017, eq. 5)"}


def bottleneck_savings(model: Model) -> dict[str, Any]:
    """1x1 reductions (inception), bottleneck vs basic blocks (residual); where a network has them, what
    Inception-v3's factorised convolutions save (`factorisation`, archc.analysis.factorisation) and what
    depthwise factorisations save (`depthwise`), so reports of other networks keep their exact form."""
    from archc.analysis.factorisation import factorisation_savings

    out = {"inception": inception_savings(model), "residual": block_savings(model)}
    factorised = factorisation_savings(model)
    if factorised["factorisations"]:
        out["factorisation"] = factorised
    depthwise = depthwise_savings(model)
    if depthwise["blocks"]:
        out["depthwise"] = depthwise
    return out
