"""The IR tree flattened into an explicit networkx DAG of primitive ops, with add/concat/multiply nodes explicit.

Node ids are dotted paths ("stage1.block2.conv1.conv"); "input", "<block>.add", "<module>.concat",
"<gate>.mul", "output" and "<aux>.output" are the structural nodes (plus "<branch>" for a concat's second
and later identity branches, so that parallel identities stay distinct paths; a single identity branch, such
as a dense layer's, is the edge from the concat's input). Node attributes: kind, shape (output shape),
params, macs, weighted (counts as a weighted layer), block (path of the enclosing residual block or
inception module, or ""); a gate's multiply also has `scale` (the id of the op whose output is its scale).
Edge attribute: shape (the tensor shape flowing along it), and shortcut ("identity" / "projection" / "pad")
on the edges that belong to a residual shortcut.

Edges carry feature maps, the routes whose number and lengths the path analyses count (Veit et al. 2016).
A gate (`GateNode`, squeeze-excitation) computes y = x * s(x): its ops (squeeze, excitation) branch off its
input, and its multiply takes the input along an edge. The scale s(x) is one number per channel
(C x 1 x 1), not a feature map, so it enters the multiply as its `scale` attribute, not along an edge: like
the mean and variance a batch norm computes from its input, it modulates the feature map that flows through
without being a route of its own. A gate therefore adds no input -> output path and lengthens none
(SE-ResNet-50 keeps ResNet-50's 2^16 paths and 50 weighted layers on the longest); its ops stay in the DAG,
reachable from the input (each with its own depth), on a side branch that ends in the multiply's `scale`."""
from __future__ import annotations

import networkx as nx

from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, SeqNode

INPUT, OUTPUT = "input", "output"
ADD, CONCAT, MUL = "add", "concat", "mul"  # suffixes of the merge nodes: "<block>.add", "<gate>.mul"


class _Builder:
    def __init__(self) -> None:
        self.g = nx.DiGraph()
        self.out_of: dict[str, str] = {}  # tree path -> DAG id holding its output

    def add_node(self, node_id: str, **attrs) -> None:
        self.g.add_node(node_id, **attrs)

    def edge(self, src: str, dst: str, shape: tuple, **attrs) -> None:
        self.g.add_edge(src, dst, shape=tuple(shape), **attrs)


def _op(node: OpNode, b: _Builder, src: str, block: str) -> str:
    cost = node.cost
    b.add_node(node.path, kind=node.kind, label=node.label, shape=tuple(node.out_shape), params=cost.params,
               macs=cost.macs, weighted=node.op.weighted, block=block, category=node.op.category)
    b.edge(src, node.path, node.in_shape)
    b.out_of[node.path] = node.path
    return node.path


def _seq(node: SeqNode, b: _Builder, src: str, block: str) -> str:
    for child in node.items:
        src = _lower(child, b, src, block)
    b.out_of[node.path] = src
    return src


def _residual(node: ResidualNode, b: _Builder, src: str, block: str) -> str:
    x = src
    body_out = src
    for child in node.body:
        body_out = _lower(child, b, body_out, node.path)
    add = f"{node.path}.{ADD}"
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


def _concat(node: ConcatNode, b: _Builder, src: str, block: str) -> str:
    cat = f"{node.path}.{CONCAT}"
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


def _gate(node: GateNode, b: _Builder, src: str, block: str) -> str:
    scale = src
    for child in node.gate:
        scale = _lower(child, b, scale, block)
    mul = f"{node.path}.{MUL}"
    b.add_node(mul, kind="mul", label="×", shape=tuple(node.out_shape), params=0, macs=0, weighted=False,
               block=block, category="merge", scale=scale)
    b.edge(src, mul, node.in_shape)
    b.out_of[node.path] = mul
    return mul


# how each IR node type enters the DAG: (node, builder, id of the DAG node feeding it, enclosing block) -> id of
# the DAG node holding its output (a new structure: one entry here)
_lower: NodeRules[str] = NodeRules("DAG", {
    OpNode: _op, SeqNode: _seq, ResidualNode: _residual, ConcatNode: _concat, GateNode: _gate})


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
