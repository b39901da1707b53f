"""What factorised convolutions in inception modules save against the dense convolutions they replace.

Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision", section 3:
  * stacked: a run of square convs (two 3x3) stands for one conv with the same receptive field,
    kernel K = 1 + sum(k_i - 1) (a 5x5; Fig. 5), the last conv possibly strided (Fig. 10's grid
    reduction: 3x3 then 3x3/2 for a 5x5/2);
  * asymmetric: 1xn then nx1 (or nx1 then 1xn) for one nxn (Fig. 6: 1x7, 7x1 for 7x7);
  * parallel: 1xn and nx1 side by side on one tensor, concatenated (Fig. 7's expanded filter bank, a
    `branches:` item nested in a branch) for one nxn conv to the concatenated width.
Each counterpart is a dense conv (groups 1) from the first conv's input channels to the last conv's
output channels (parallel: the sum of both), producing the same C x H x W output as the factorised
group, so its cost is K*K*C_in*C_out*H*W MACs and K*K*C_in*C_out weights (a bias only where the
factorised output conv has one). Norms and activations are not counted on either side; the paper's
own figures (e.g. 3x3 + 3x3 = 18/25 of a 5x5, "28% saving") hold for equal widths, the rows here use
the network's actual widths. Only conv ops (kind `conv`, groups 1, dilation 1) inside inception
modules (ConcatNodes of role "module") are looked at: a ResNet's two stacked 3x3 are not a 5x5 stand-in.
"""
from __future__ import annotations

from typing import Any, Optional

from archc.ir.graph import ConcatNode, Model, Node, OpNode, Role, SeqNode
from archc.ops import REGISTRY, ConvParams, Cost, pair

DENSE_CONV = "conv"  # the registry op a dense counterpart is, and the only op a factorised group is made of
PASSIVE = ("norm", "act")  # op categories that neither join nor break a chain of convs


def _dense(op: OpNode) -> bool:
    p = op.params
    return op.kind == DENSE_CONV and getattr(p, "groups", 1) == 1 and pair(getattr(p, "dilation", 1)) == (1, 1)


def _kernel(op: OpNode) -> tuple[int, int]:
    return pair(op.params.kernel)  # type: ignore[union-attr]


def _stride(op: OpNode) -> tuple[int, int]:
    return pair(op.params.stride)  # type: ignore[union-attr]


def _unit_conv(item: Node) -> tuple[Optional[OpNode], bool]:
    """(the item's one dense conv or None, whether the item breaks a chain of convs)."""
    ops = list(item.ops())
    weighted = [op for op in ops if op.op.weighted]
    if not weighted:
        return None, not all(op.op.category in PASSIVE for op in ops)
    if len(weighted) == 1 and _dense(weighted[0]):
        return weighted[0], False
    return None, True


def _cost(ops: list[OpNode]) -> Cost:
    params = macs = 0
    for op in ops:
        c = op.cost
        params, macs = params + c.params, macs + c.macs
    return Cost(params, macs)


def _row(kind: str, module: str, branch: str, ops: list[OpNode], kernel: int, stride: tuple[int, int],
         c_in_shape: tuple, out_shape: tuple) -> dict[str, Any]:
    """One factorised group vs its dense K x K counterpart on the same input and output shapes."""
    dense = ConvParams(out=out_shape[0], kernel=kernel, stride=stride, bias=bool(ops[-1].params.bias))  # type: ignore[union-attr]
    opdef = REGISTRY[DENSE_CONV]
    theirs = opdef.cost(dense, tuple(c_in_shape), tuple(out_shape))
    mine = _cost(ops)
    glue = " | " if kind == "parallel" else " + "
    return {"module": module, "branch": branch, "kind": kind, "ops": [op.path for op in ops],
            "factorised": glue.join(f"{_kernel(op)[0]}x{_kernel(op)[1]}" for op in ops),
            "replaces": f"{kernel}x{kernel}" + (f"/{stride[0]}" if stride != (1, 1) else ""),
            "input": list(c_in_shape), "output": list(out_shape),
            "specified": {"params": mine.params, "macs": mine.macs,
                          "formula": " + ".join(op.op.formula(op.params, tuple(op.in_shape), tuple(op.out_shape))
                                                or "" for op in ops)},
            "dense": {"params": theirs.params, "macs": theirs.macs,
                      "formula": opdef.formula(dense, tuple(c_in_shape), tuple(out_shape))},
            "macs_factor": round(theirs.macs / mine.macs, 4) if mine.macs else 0.0}


def _asymmetric(a: OpNode, b: OpNode) -> Optional[int]:
    """n when a, b are 1xn, nx1 (either order, n > 1, stride 1), else None."""
    (ah, aw), (bh, bw) = _kernel(a), _kernel(b)
    if _stride(a) != (1, 1) or _stride(b) != (1, 1):
        return None
    if (ah, aw) == (bw, bh) and min(ah, aw) == 1 and max(ah, aw) > 1:
        return max(ah, aw)
    return None


def _chain_rows(chain: list[OpNode], module: str, branch: str) -> list[dict[str, Any]]:
    """Factorised groups along consecutive convs: asymmetric pairs first, else runs of square convs."""
    rows = []
    i = 0
    while i < len(chain):
        a = chain[i]
        n = _asymmetric(a, chain[i + 1]) if i + 1 < len(chain) else None
        if n is not None:
            b = chain[i + 1]
            rows.append(_row("asymmetric", module, branch, [a, b], n, (1, 1), a.in_shape, b.out_shape))
            i += 2
            continue
        j = i
        while j < len(chain) and _kernel(chain[j])[0] == _kernel(chain[j])[1] > 1:
            j += 1
            if _stride(chain[j - 1]) != (1, 1):  # a strided conv ends the run (its input grid is the run's)
                break
        if j - i >= 2:
            run = chain[i:j]
            k = 1 + sum(_kernel(op)[0] - 1 for op in run)
            rows.append(_row("stacked", module, branch, run, k, _stride(run[-1]), run[0].in_shape, run[-1].out_shape))
        i = max(j, i + 1)
    return rows


def _parallel(node: ConcatNode, module: str) -> Optional[dict[str, Any]]:
    """A nested concat of exactly a 1xn and an nx1 conv (stride 1) on one tensor: one nxn to their width."""
    convs = []
    for sub in node.branches:
        found = [_unit_conv(item) for item in sub.items]
        ops = [op for op, _ in found if op is not None]
        if len(ops) != 1 or any(breaks for _, breaks in found):
            return None
        convs.append(ops[0])
    if len(convs) != 2:
        return None
    n = _asymmetric(*convs)
    return None if n is None else _row("parallel", module, node.path, convs, n, (1, 1), node.in_shape,
                                        node.out_shape)


def _scan(seq: SeqNode, module: str, out: list[dict[str, Any]]) -> None:
    chain: list[OpNode] = []
    for item in seq.items:
        if isinstance(item, ConcatNode):
            out.extend(_chain_rows(chain, module, seq.path))
            chain = []
            row = _parallel(item, module)
            if row is not None:
                out.append(row)
            else:
                for sub in item.branches:
                    _scan(sub, module, out)
            continue
        op, breaks = _unit_conv(item)
        if op is not None:
            chain.append(op)
        elif breaks:
            out.extend(_chain_rows(chain, module, seq.path))
            chain = []
    out.extend(_chain_rows(chain, module, seq.path))


def factorisation_savings(model: Model) -> dict[str, Any]:
    """Every factorised group of convs in the inception modules, with its dense counterpart; totals.

    Returns {"factorisations": [row, ...], "total": {...}, "note": str}; each row gives the module,
    branch, kind (stacked / asymmetric / parallel), the ops, the input and output shapes, params and
    MACs as specified and of the dense conv (with formulas), and macs_factor = dense / specified."""
    rows: list[dict[str, Any]] = []
    for node in model.walk():
        if isinstance(node, ConcatNode) and node.role == Role.MODULE:
            for branch in node.branches:
                _scan(branch, node.path, rows)
    spec = Cost(sum(r["specified"]["params"] for r in rows), sum(r["specified"]["macs"] for r in rows))
    dense = Cost(sum(r["dense"]["params"] for r in rows), sum(r["dense"]["macs"] for r in rows))
    return {"factorisations": rows,
            "total": {"specified": {"params": spec.params, "macs": spec.macs},
                      "dense": {"params": dense.params, "macs": dense.macs},
                      "macs_saved": dense.macs - spec.macs, "params_saved": dense.params - spec.params,
                      "macs_factor": round(dense.macs / spec.macs, 4) if spec.macs else 0.0},
            "note": "dense = one KxK conv (groups 1) with the factorised group's input and output, K the group's "
                    "receptive field; conv weights and MACs only (norms and activations on neither side)"}
