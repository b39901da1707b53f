"""Inception modules written as `{branches: [[items], ...]}`, where an item may itself be `branches:`.

Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception Architecture for Computer Vision", Fig. 7)
splits a branch again: after a 1x1 reduction, a 1x3 and a 3x1 conv read the same tensor and their
outputs are concatenated, inside the branch. That lowers to the IR's existing node types: a ConcatNode
(role "concat", named `concat<n>` in its branch) among the items of the branch's SeqNode, its
sub-branches SeqNodes named `branch1..k` like a module's. Shapes: every (sub-)branch reads the same
C x H x W input; their outputs must share H x W; the concatenation has the sum of their channels.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archc.ir.graph import ConcatNode, Node, Role
from archc.ir.lower import Namer, _fmt, _join
from archc.ops import LayerContext, Shape

if TYPE_CHECKING:
    from archc.ir.lower import Lowerer



def branch_items(lw: "Lowerer", items: list[Any], prefix: str, x: Shape, spec_path: tuple,
                 ctx: LayerContext) -> list[Node]:
    """The nodes of one branch: each item a layer (`<kind><n>`) or a nested `branches:` (`concat<n>`).

    Raises SpecError located at the item (see `concat` for the shape rule)."""
    namer = Namer(lw, prefix)
    out: list[Node] = []
    for i, item in enumerate(items):
        sp = spec_path + (i,)
        if item.branches is not None:
            name = namer.name(None, "concat", sp + ("branches",))
            path = _join(prefix, name)
            subs = [branch_items(lw, sub, _join(path, f"branch{j + 1}"), x, sp + ("branches", j), ctx)
                    for j, sub in enumerate(item.branches)]
            node: Node = concat(lw, name, prefix, x, subs, sp + ("branches",), Role.CONCAT, {"kind": "concat"})
        else:
            name = namer.name(item.params.name, item.kind, sp + (item.kind, "name"))
            node = lw.layer(item.kind, item.params, name, prefix, x, sp, ctx)
        out.append(node)
        x = node.out_shape
    return out


def concat(lw: "Lowerer", name: str, prefix: str, x: Shape, branches: list[list[Node]], spec_path: tuple,
           role: Role, meta: dict) -> ConcatNode:
    """Parallel branches on input `x` (C x H x W), concatenated on channels: out (sum C_i, H, W).

    Raises SpecError at `spec_path` when the branches end in different H x W (or in flat vectors), and
    when the first op of a branch would overwrite the shared input in place."""
    path = _join(prefix, name)
    seqs = []
    for i, items in enumerate(branches):
        if len(branches) > 1:
            lw.refuse_inplace_on_shared_input(items, "the other branches")
        seqs.append(lw.seq(f"branch{i + 1}", path, x, items, spec_path, Role.BRANCH))
    shapes = [s.out_shape for s in seqs]
    if any(len(s) != 3 for s in shapes) or len({s[1:] for s in shapes}) != 1:
        raise lw.error(spec_path, "inception branches must keep the same spatial size to concatenate",
                       expected="equal H x W on every branch", got=", ".join(_fmt(s) for s in shapes))
    y = (sum(s[0] for s in shapes), *shapes[0][1:])
    return ConcatNode(name=name, path=path, in_shape=x, out_shape=y, spec_path=spec_path, role=role,
                      meta=meta, branches=seqs)
