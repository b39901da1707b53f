"""Drawing rules for dense blocks (DenseNet): a running-concatenation spine, not an edge per layer pair.

The paper's picture (Huang et al. 2017, Fig. 1) joins every layer to every later one: L(L+1)/2 edges,
300 for a 24-layer block. archc's IR holds the same connectivity as a chain of concats (layer i
outputs [its input, its k new channels]), and that chain is drawn: the concat nodes form a straight
spine (each names the feature map after it: C0 + k, C0 + 2k, ... channels); each layer's body sits beside
its concat on one row, fed from the spine above, and its edge into the concat says `+k`: 3 edges per
layer at block level, however long the block.

  stage  one node for the block (its layers' recipe, the growth rate, channels in -> out) and one
         for the transition after it (the paper's Fig. 2: dense block, conv + pool, dense block, ...)
  block  the spine; each layer's body one node ("1x1 conv, 128 -> 3x3 conv, 32"), its pre-activation
         BN-relu stated once in the block's title
  layer  the spine; each layer's ops (BN, relu, conv, BN, relu, conv) in a row beside it
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import graphviz

from archc.ir.graph import ConcatNode, Node, OpNode, SeqNode
from archc.ops import Cost
from archc.render import style
from archc.render.style import esc, fmt_shape, html_label

if TYPE_CHECKING:
    from archc.render.draw import Drawer


def lead_op(node: Node, ops: list[OpNode]) -> OpNode:
    """The op a unit is named after: its first, or the conv of a pre-activation unit (BN, act, conv)."""
    if node.meta.get("preact"):
        return next((op for op in ops if op.op.weighted), ops[0])
    return ops[0]


def unit_details(node: Node, ops: list[OpNode], d: "Drawer") -> str:
    """A unit's second line: the ops after its conv ('BN, relu'), or 'BN, relu before' for a pre-activation one."""
    i = ops.index(lead_op(node, ops))
    before, after = ", ".join(d.name(op) for op in ops[:i]), ", ".join(d.name(op) for op in ops[i + 1:])
    if not before:
        return after
    return f"{before} before" + (f"; {after} after" if after else "")


def is_dense_layer(node: Node) -> bool:
    return isinstance(node, ConcatNode) and node.meta.get("kind") == "dense"


def _recipe(layer: ConcatNode, d: "Drawer") -> list[str]:
    """The body's units by their convs: ["1x1 conv, 128", "3x3 conv, 32"] (dropout named too)."""
    body = layer.branches[-1]
    return [d.name(item) for item in body.items
            if not (isinstance(item, OpNode) and item.op.category in ("act", "norm"))]


def _pre_ops(layer: ConcatNode, d: "Drawer") -> str:
    """What comes before each conv of the body ('BN, relu'), from its first unit."""
    body = layer.branches[-1]
    first = body.items[0] if body.items else None
    if not isinstance(first, SeqNode):
        return ""
    names = []
    for op in first.ops():
        if op.op.weighted:
            break
        names.append(d.name(op))
    return ", ".join(names)


def stage_title(stage: SeqNode, layers: list[ConcatNode], d: "Drawer") -> str:
    k = stage.meta.get("growth_rate")
    pre = _pre_ops(layers[-1], d) if layers else ""
    recipe = " → ".join(_recipe(layers[-1], d)) if layers else ""
    each = f" · each layer: {pre} before every conv" if pre and d.opts.unit_details else ""
    return (f"{stage.name} · dense block · {len(layers)} layers, growth rate k = {k}{each}"
            + (f" · {recipe}" if d.level == "layer" and recipe else ""))


def block_label(stage: SeqNode, layers: list[ConcatNode], d: "Drawer") -> str:
    """Stage level: 'Dense block · 6 layers' over the layer recipe, the growth and the channels in -> out."""
    k = stage.meta.get("growth_rate")
    first_in = layers[0].in_shape if layers else stage.in_shape
    last_out = layers[-1].out_shape if layers else stage.in_shape
    pre = _pre_ops(layers[-1], d) if layers else ""
    lines = [f"{pre}, {r}" if pre else r for r in _recipe(layers[-1], d)] if layers else []
    notes = [f"growth k = {k}: {first_in[0]} → {last_out[0]} channels", f"{stage.name} · dense"]
    grey = "" if d.scale is not None else ' COLOR="#555555"'
    return "<" + "<BR/>".join(
        [f"<B>Dense block · {len(layers)} layers</B>"] + [f'<FONT POINT-SIZE="8">{esc(r)}</FONT>' for r in lines]
        + [f'<FONT POINT-SIZE="8"{grey}>{esc(n)}</FONT>' for n in notes + d.annotation(_Costed.of(layers))]) + ">"  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Costed:
    """Some of a stage's children as one thing with a cost (annotations of the layers without the transition)."""

    cost: Cost

    @staticmethod
    def of(nodes: list) -> "_Costed":
        return _Costed(Cost(sum(n.cost.params for n in nodes), sum(n.cost.macs for n in nodes)))


def transition_label(node: SeqNode, d: "Drawer") -> str:
    lines = []
    for item in node.items:
        if isinstance(item, SeqNode):
            pre = ", ".join(d.name(op) for op in item.ops() if not op.op.weighted)
            lines.append(f"{pre}, {d.name(item)}" if pre else d.name(item))
        else:
            lines.append(d.name(item))
    compression = node.meta.get("compression")
    notes = [f"compression {compression:g}: {node.in_shape[0]} → {node.out_shape[0]} channels"]
    return html_label(node.name, lines, notes + d.annotation(node), bold=True,
                      note_colour=None if d.scale is not None else "#555555")


def _one_line(name: str, title: str, notes: list[str], d: "Drawer") -> str:
    """'layer3  1x1 conv, 128 -> 3x3 conv, 32' on one line (the name grey), annotations below: a 24-layer
    ladder stays as short as it can."""
    grey = "" if d.scale is not None else ' COLOR="#555555"'
    head = f'<FONT POINT-SIZE="8"{grey}>{esc(name)}</FONT>  {esc(title)}'
    return "<" + "<BR/>".join([head] + [f'<FONT POINT-SIZE="8"{grey}>{esc(n)}</FONT>' for n in notes]) + ">"


def draw_stage(node: SeqNode, d: "Drawer", g: graphviz.Digraph, src: str) -> str:
    """A dense stage at any level (the transition after the block drawn by `draw_transition`)."""
    from archc.render.draw import emit

    layers = [c for c in node.items if is_dense_layer(c)]
    rest = [c for c in node.items if not is_dense_layer(c)]
    if d.level == "stage":
        out = d.node(g, d.nid(node.path), block_label(node, layers, d), "conv", node.path, penwidth="1.5")
        d.edge(src, out, node.in_shape)
        for layer in layers:
            d.register(layer, out)
        for child in rest:
            out = emit(child, d, g, out)
        d.out_of[node.path] = out
        return out
    with d.cluster(g, node.path, stage_title(node, layers, d), "stage") as sub:
        out = src
        for child in node.items:
            out = emit(child, d, sub, out)
    d.out_of[node.path] = out
    return out


def draw_transition(node: SeqNode, d: "Drawer", g: graphviz.Digraph, src: str) -> str:
    """The transition: one node at stage level, its units (block) or ops (layer) in a small box."""
    from archc.render.draw import _sequence

    if d.level == "stage":
        out = d.node(g, d.nid(node.path), transition_label(node, d), "pool", node.path)
        d.edge(src, out, node.in_shape)
        d.register(node, out)
        return out
    compression = node.meta.get("compression")
    with d.cluster(g, node.path, f"{node.name} · compression {compression:g}", "block") as sub:
        out = _sequence(node.items, d, sub, src)
    d.out_of[node.path] = out
    return out


def draw_layer(node: ConcatNode, d: "Drawer", g: graphviz.Digraph, src: str) -> str:
    """One dense layer: the concat on the spine, fed straight by the layer's input (the spine edge,
    carrying the running feature map) and by the layer's body beside it (`+k`), on the concat's rank."""
    from archc.render.draw import _sequence

    identity, body = node.branches[0], node.branches[-1]
    k = node.out_shape[0] - node.in_shape[0]
    d.dense = True
    cat_id = d.nid(node.path + ".concat")
    # the spine's edges carry no label (one on each short edge between rows would crowd them): each concat
    # node names the feature map after it instead
    d.edge(src, cat_id, label="", **style.DENSE_SPINE)
    with g.subgraph() as row:  # the body beside its concat: one rank per layer
        row.attr(rank="same")
        if d.level == "layer":
            first = len(d.edges)
            out = _sequence(body.items, d, row, src)
            d.edges[first][2].pop("label", None)  # the spine edge says it
        else:
            pre = _pre_ops(node, d)
            title = " → ".join(_recipe(node, d))
            if pre and d.level == "stage":  # a layer alone (--focus at stage level): say everything
                title = f"{pre}, " + title
            label = _one_line(node.name, title, d.annotation(node), d)
            out = d.node(row, d.nid(body.path), label, "conv", body.path)
            d.edge(src, out, label="")
            d.register(body, out)
        # block level: the concat beside the body (one rank per layer); layer level: below the row of ops, so
        # the edge from the spine to the row's first op crosses no other row
        text = f"concat → {fmt_shape(node.out_shape)}" if d.opts.shapes else "concat"
        cat = d.structural(row if d.level != "layer" else g, cat_id, "concat", text,
                           tooltip=f"{node.path}: concat", group=d.nid(node.path.rsplit(".", 1)[0]),
                           **style.DENSE_CONCAT)
    d.out_of[identity.path] = src
    d.out_of[body.path] = out
    d.edge(out, cat, label=f"+{k}", **style.DENSE_GROWTH)
    d.out_of[node.path] = cat
    return cat
