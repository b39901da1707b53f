"""The IR tree flattened into an explicit networkx DAG of primitive ops, with add/concat nodes explicit.

Node ids are dotted paths ("stage1.block2.conv1.conv"); "input", "<block>.add", "<module>.concat",
"output" and "<aux>.output" are the structural nodes (plus "<branch>" for a concat's second and later identity
branches, so that parallel identities stay distinct paths; a single identity branch, such as a dense layer's, is
the edge from the concat's input). Node attributes: kind, shape (output shape),
params, macs, weighted (counts as a weighted layer), block (path of the enclosing residual block or
inception module, or ""). Edge attribute: shape (the tensor shape flowing along it), and shortcut
("identity" / "projection" / "pad") on the edges that belong to a residual shortcut."""
from __future__ import annotations

from functools import singledispatch

import networkx as nx

from archc.ir.graph import ConcatNode, Model, Node, OpNode, ResidualNode, SeqNode

INPUT, OUTPUT = "input", "output"


class _Builder:
    def __init__(self) -> None:
        self.g = nx.DiGraph()
        self.out_of: dict[str, str] = {}  # tree path -> DAG id holding its output

    def add_node(self, node_id: str, **attrs) -> None:
        self.g.add_node(node_id, **attrs)

    def edge(self, src: str, dst: str, shape: tuple, **attrs) -> None:
        self.g.add_edge(src, dst, shape=tuple(shape), **attrs)


@singledispatch
def _lower(node: Node, b: _Builder, src: str, block: str) -> str:
    raise TypeError(f"no DAG rule for {type(node).__name__}")


@_lower.register
def _(node: OpNode, b: _Builder, src: str, block: str) -> str:
    cost = node.cost
    b.add_node(node.path, kind=node.kind, label=node.label, shape=tuple(node.out_shape), params=cost.params,
               macs=cost.macs, weighted=node.op.weighted, block=block, category=node.op.category)
    b.edge(src, node.path, node.in_shape)
    b.out_of[node.path] = node.path
    return node.path


@_lower.register
def _(node: SeqNode, b: _Builder, src: str, block: str) -> str:
    for child in node.items:
        src = _lower(child, b, src, block)
    b.out_of[node.path] = src
    return src


@_lower.register
def _(node: ResidualNode, b: _Builder, src: str, block: str) -> str:
    x = src
    body_out = src
    for child in node.body:
        body_out = _lower(child, b, body_out, node.path)
    add = f"{node.path}.add"
    b.add_node(add, kind="add", label="+", shape=tuple(node.out_shape), params=0, macs=0, weighted=False,
               block=node.path, category="merge")
    b.edge(body_out, add, node.out_shape)
    if node.shortcut is None:
        b.edge(x, add, node.in_shape, shortcut="identity")
    else:
        first = len(b.g)
        short_out = _lower(node.shortcut, b, x, node.path)
        for u, v in list(b.g.in_edges(list(b.g.nodes)[first:])):
            b.g.edges[u, v]["shortcut"] = node.shortcut_kind
        b.edge(short_out, add, node.out_shape, shortcut=node.shortcut_kind)
    out = add
    if node.post is not None:
        out = _lower(node.post, b, add, node.path)
    b.out_of[node.path] = out
    return out


@_lower.register
def _(node: ConcatNode, b: _Builder, src: str, block: str) -> str:
    cat = f"{node.path}.concat"
    outs = [_lower(branch, b, src, node.path) for branch in node.branches]
    b.add_node(cat, kind="concat", label="concat", shape=tuple(node.out_shape), params=0, macs=0, weighted=False,
               block=node.path, category="merge")
    for branch, out in zip(node.branches, outs):
        if b.g.has_edge(out, cat):  # a second identity (empty) branch: its own node keeps the paths apart
            b.add_node(branch.path, kind="identity", label="identity", shape=tuple(branch.out_shape), params=0,
                       macs=0, weighted=False, block=node.path, category="merge")
            b.edge(out, branch.path, branch.in_shape)
            out = branch.path
        b.edge(out, cat, branch.out_shape)
    b.out_of[node.path] = cat
    return cat


def to_dag(model: Model) -> nx.DiGraph:
    """The model as a DAG from "input" to "output" (and to "<aux>.output" for each aux head)."""
    b = _Builder()
    b.add_node(INPUT, kind="input", label="input", shape=tuple(model.input_shape), params=0, macs=0,
               weighted=False, block="", category="io")
    last = INPUT
    for child in model.body.items:
        last = _lower(child, b, last, "")
    b.add_node(OUTPUT, kind="output", label="output", shape=tuple(model.body.out_shape), params=0, macs=0,
               weighted=False, block="", category="io")
    b.edge(last, OUTPUT, model.body.out_shape)
    for aux in model.aux_heads:
        out = _lower(aux.head, b, b.out_of[aux.attach], "")
        sink = f"{aux.name}.output"
        b.add_node(sink, kind="output", label=f"{aux.name} output", shape=tuple(aux.head.out_shape), params=0,
                   macs=0, weighted=False, block="", category="io", aux=True)
        b.edge(out, sink, aux.head.out_shape)
    b.g.graph["name"] = model.name
    b.g.graph["outputs"] = [OUTPUT] + [f"{a.name}.output" for a in model.aux_heads]
    return b.g
