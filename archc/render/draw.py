"""IR tree -> Graphviz DOT (a `graphviz.Digraph`) at stage, block or layer level.

Levels:
  stage  each residual/plain stage one node ("Bottleneck ×6"), inception modules one node each
         (their branches in columns), stem and head layers as units
  block  each block / inception module a cluster of units (conv = conv + BN + act as one node),
         the residual add explicit, the shortcut drawn by kind, inception branches side by side
  layer  every primitive op of the registry a node (conv, BN, relu, ...)
Node ids are the IR's dotted paths (plus ".add" / ".concat" / ".mul" for the structural nodes), so the
same model always gives the same DOT text. Rules dispatch on the IR node type (one table, `emit`) and on
`role`; op colours come from the registry's `category`."""
from __future__ import annotations

from typing import Callable, Optional

import graphviz

from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, Role, SeqNode
from archc.render import dense, style
from archc.render.collapsed import BLOCK_TITLES, blocks_of, module_label, stage_label
from archc.render.options import ANNOTATIONS, LEVELS, RANKDIRS, DrawOptions  # noqa: F401 (re-exported)
from archc.formats import si
from archc.render.style import esc, fmt_shape, html_label
from archc.text import clean_text

ID_MAX_CHARS = 1_000

GENERIC_WEIGHT = "weight layer"



class Drawer:
    """Walks the IR tree and emits nodes into (nested) clusters; edges are emitted last, at the root,
    so that no node is pulled into a cluster it does not belong to."""

    def __init__(self, model: Model, opts: DrawOptions) -> None:
        self.model = model
        self.opts = opts
        self.level = opts.level
        self.total = model.cost
        self.edges: list[tuple[str, str, dict]] = []
        self.out_of: dict[str, str] = {}  # IR path -> id of the drawn node that holds its output
        self.categories: set[str] = set()
        self.shortcuts: set[str] = set()
        self.dense = False  # a dense block drawn: its spine gets a legend entry
        self.has_aux = False
        self.gates = False  # a gate's multiply was drawn (legend)
        self.edge_style: dict[str, str] = {}  # extra attributes for edges emitted now (shortcut paths)
        self.pending_title: Optional[str] = None  # large layout: a stage's title, put on the edge entering it
        self.scale = style.ValueScale(opts.node_values, opts.value_scale) if opts.node_values else None

    # ------------------------------------------------------------ primitives

    def nid(self, path: str) -> str:
        """The node's DOT id (its path); a path too long for Graphviz (16,384 characters) is shortened
        to its head and a digest of the whole, so ids stay unique."""
        full = self.opts.prefix + path
        if len(full) <= ID_MAX_CHARS:
            return full
        import hashlib

        return f"{full[:ID_MAX_CHARS - 17]}~{hashlib.sha256(full.encode()).hexdigest()[:16]}"

    def annotation(self, node: Node) -> list[str]:
        ann = self.opts.annotate
        if not ann:
            return []
        cost = node.cost
        if cost.params == 0 and cost.macs == 0:
            return []
        share = "share" in ann
        num = (lambda n: f"{n:,}") if self.opts.exact_numbers else si
        lines = []
        if "params" in ann and cost.params:
            pct = f" ({100 * cost.params / self.total.params:.1f}%)" if share and self.total.params else ""
            lines.append(f"{num(cost.params)} params{pct}")
        if ("macs" in ann or (share and "params" not in ann)) and cost.macs:  # BN: params, no MACs
            pct = f" ({100 * cost.macs / self.total.macs:.1f}%)" if share and self.total.macs else ""
            lines.append(f"{num(cost.macs)} MACs{pct}")
        return lines

    def name(self, node: Node) -> str:
        """What a node is called: its registry label ("3x3 conv, 64"), or "weight layer" for a weighted
        layer (or a unit that starts with one) under generic labels."""
        ops = [node] if isinstance(node, OpNode) else list(node.ops())
        if self.opts.generic_labels and ops and dense.lead_op(node, ops).op.weighted:
            return GENERIC_WEIGHT
        if isinstance(node, OpNode):
            return node.label
        return node.meta.get("label") or (ops[0].label if ops else node.name)

    def label(self, title: str, lines: list[str], notes: list[str]) -> str:
        """A node label; annotation notes are grey, or in the text colour over value colours."""
        return html_label(title, lines, notes, note_colour=None if self.scale is not None else "#555555")

    def value_of(self, path: str) -> Optional[float]:
        values = self.opts.node_values
        if not values:
            return None
        if path in values:
            return float(values[path])
        inner = [float(v) for k, v in values.items() if k.startswith(path + ".")]
        return sum(inner) / len(inner) if inner else None

    def node(self, g: graphviz.Digraph, node_id: str, label: str, category: str, path: str,
             **extra: str) -> str:
        attrs = style.category_style(category)
        self.categories.add(category)
        if self.scale is not None:
            value = self.value_of(path)
            if value is None:
                attrs["fillcolor"] = "white"
            else:
                attrs["fillcolor"] = self.scale.colour(value)
                attrs["fontcolor"] = self.scale.text_colour(value)
                extra.setdefault("tooltip", f"{path}: {self.opts.value_label} = {value:.4g}")
        attrs.update(extra)
        attrs.setdefault("tooltip", path)
        attrs["tooltip"] = clean_text(attrs["tooltip"])  # a quoted string: Graphviz's limit, no controls
        g.node(node_id, label, id=node_id, **attrs)
        return node_id

    def structural(self, g: graphviz.Digraph, node_id: str, kind: str, label: Optional[str] = None,
                   **extra: str) -> str:
        attrs = dict(style.STRUCTURAL[kind])
        attrs.update(extra)
        text = label if label is not None else attrs.pop("label", kind)
        attrs.pop("label", None)
        if "tooltip" in attrs:
            attrs["tooltip"] = clean_text(attrs["tooltip"])
        g.node(node_id, text, id=node_id, **attrs)
        return node_id

    def edge(self, src: str, dst: str, shape: Optional[tuple] = None, label: Optional[str] = None,
             **attrs: str) -> None:
        merged = dict(self.edge_style)
        merged.update(attrs)
        text = label if label is not None else (fmt_shape(shape) if shape is not None and self.opts.shapes else "")
        if self.pending_title is not None:
            text = f"{self.pending_title} · {text}" if text else self.pending_title
            self.pending_title = None
        if text:
            merged["label"] = " " + clean_text(text)  # keeps the label clear of its edge
        self.edges.append((src, dst, merged))

    def cluster(self, g: graphviz.Digraph, path: str, label: str, kind: str) -> graphviz.Digraph:
        """A cluster subgraph context (or the graph itself when clusters are off)."""
        if not self.opts.clusters:
            if self.opts.large and kind not in ("block", "module", "gate"):  # no title box: the edge in has it
                self.pending_title = label
            return _NullContext(g)  # type: ignore[return-value]
        sub = g.subgraph(name=f"cluster_{self.nid(path)}")
        text = label if label.startswith("<") else clean_text(label)  # HTML labels are escaped by their maker
        return _ClusterContext(sub, text, style.CLUSTER[kind])  # type: ignore[return-value]

    def register(self, node: Node, drawn_id: str) -> None:
        """Every IR path under `node` maps to `drawn_id` (aux heads attach to collapsed nodes this way)."""
        for inner in node.walk():
            self.out_of.setdefault(inner.path, drawn_id)
        self.out_of[node.path] = drawn_id

    # ------------------------------------------------------------ whole drawings

    def draw_model(self, g: graphviz.Digraph) -> None:
        model = self.model
        src = self.structural(g, self.nid("input"), "io", self.opts.input_label)
        for child in model.body.items:
            src = emit(child, self, g, src)
        out = self.structural(g, self.nid("output"), "io", self.opts.output_label)
        self.edge(src, out, model.body.out_shape)
        for aux in model.aux_heads:
            self.draw_aux(g, aux)

    def draw_aux(self, g: graphviz.Digraph, aux) -> None:
        self.has_aux = True
        attach = self.out_of.get(aux.attach)
        if attach is None:
            return  # the attach point is outside a focused drawing
        if self.level == "stage":
            self.draw_aux_compact(g, aux, attach)
            return
        label = f"{aux.name}: auxiliary classifier on {aux.attach.rsplit('.', 1)[-1]} · training only"
        with g.subgraph(name=f"cluster_{self.nid(aux.name)}") as sub:
            sub.attr(label=label, fontsize="10", **style.AUX_CLUSTER)
            first = len(self.edges)
            src = attach
            for child in aux.head.items:
                src = emit(child, self, sub, src)
            if len(self.edges) > first:  # the edge from the attach point
                s, d, attrs = self.edges[first]
                attrs.update(style.AUX_EDGE)
            sink = self.structural(sub, self.nid(f"{aux.name}.output"), "io",
                                   f"aux loss × {aux.loss_weight:g} (training only)", style="rounded,dashed")
            self.edge(src, sink, aux.head.out_shape)

    def draw_aux_compact(self, g: graphviz.Digraph, aux, attach: str) -> None:
        """Stage level: an aux head is one dashed node listing its layers (keeps GoogLeNet to one page)."""
        layers = [self.name(op) for op in aux.head.ops() if op.op.category != "act"]
        notes = [f"on {aux.attach.rsplit('.', 1)[-1]} · loss × {aux.loss_weight:g} · training only"]
        label = html_label(f"{aux.name}: auxiliary classifier", layers, notes + self.annotation(aux.head),
                           bold=True, note_colour=None if self.scale is not None else "#555555")
        node_id = self.node(g, self.nid(aux.name), label, "aux", aux.head.path, style="rounded,dashed,filled",
                            color=style.AUX_CLUSTER["color"], fillcolor=style.AUX_CLUSTER["bgcolor"])
        self.register(aux.head, node_id)
        self.edge(attach, node_id, aux.head.in_shape, **style.AUX_EDGE)

    def aux_of(self, target: Node):
        """The auxiliary head that `target` is (or lies in), else None."""
        return next((a for a in self.model.aux_heads
                     if target.path == a.head.path or target.path.startswith(a.head.path + ".")), None)

    def draw_focus(self, g: graphviz.Digraph, target: Node) -> None:
        aux = self.aux_of(target)
        if aux is not None:  # an aux head alone keeps its marks: dashed box, training only, loss weight
            self.draw_aux_focus(g, aux, target)
            return
        src = self.structural(g, self.nid("input"), "io", self.opts.input_label)
        out_id = emit(target, self, g, src)
        out = self.structural(g, self.nid("output"), "io", self.opts.output_label)
        self.edge(out_id, out, target.out_shape)

    def draw_aux_focus(self, g: graphviz.Digraph, aux, target: Node) -> None:
        self.has_aux = True
        where = aux.attach.rsplit(".", 1)[-1]
        label = f"{aux.name}: auxiliary classifier on {where} · training only"
        src = self.structural(g, self.nid("input"), "io", f"{where} output")
        with g.subgraph(name=f"cluster_{self.nid(aux.name)}") as sub:
            sub.attr(label=label, fontsize="10", **style.AUX_CLUSTER)
            first = len(self.edges)
            out_id = emit(target, self, sub, src)
            if len(self.edges) > first:
                self.edges[first][2].update(style.AUX_EDGE)
        sink = f"aux loss × {aux.loss_weight:g} (training only)" if target.path == aux.head.path \
            else self.opts.output_label
        out = self.structural(g, self.nid("output"), "io", sink, style="rounded,dashed")
        self.edge(out_id, out, target.out_shape)

    def finish(self, g: graphviz.Digraph) -> None:
        """Emit the edges at the root; a fan-out (inception branches, shortcuts) shows a repeated label once."""
        seen: set[tuple[str, str]] = set()
        for src, dst, attrs in self.edges:
            label = attrs.get("label")
            if label is not None:
                if (src, label) in seen:
                    attrs = {k: v for k, v in attrs.items() if k != "label"}
                seen.add((src, label))
            g.edge(src, dst, **attrs)


class _ClusterContext:
    def __init__(self, cm, label: str, attrs: dict) -> None:
        self.cm, self.label, self.attrs = cm, label, attrs

    def __enter__(self) -> graphviz.Digraph:
        sub = self.cm.__enter__()
        sub.attr(label=self.label, labeljust="l", **self.attrs)
        return sub

    def __exit__(self, *exc: object) -> None:
        self.cm.__exit__(*exc)


class _NullContext:
    def __init__(self, g: graphviz.Digraph) -> None:
        self.g = g

    def __enter__(self) -> graphviz.Digraph:
        return self.g

    def __exit__(self, *exc: object) -> None:
        return None


# ---------------------------------------------------------------- emit rules, by IR node type


def _op(node: OpNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    category = node.op.category
    out = d.node(g, d.nid(node.path), d.label(d.name(node), (), d.annotation(node)), category, node.path)
    d.edge(src, out, node.in_shape)
    d.register(node, out)
    return out


def _sequence(items: list[Node], d: Drawer, g: graphviz.Digraph, src: str) -> str:
    for child in items:
        src = emit(child, d, g, src)
    return src


def unit_label(node: SeqNode, d: Drawer) -> str:
    ops = list(node.ops())
    title = d.name(node)
    details = [dense.unit_details(node, ops, d)] if d.opts.unit_details and len(ops) > 1 else []
    return d.label(title, details, d.annotation(node))


def _unit(node: SeqNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    if d.level == "layer":
        out = _sequence(node.items, d, g, src)
        d.out_of[node.path] = out
        return out
    ops = list(node.ops())
    category = "shortcut" if node.role == Role.SHORTCUT else (dense.lead_op(node, ops).op.category if ops else "other")
    out = d.node(g, d.nid(node.path), unit_label(node, d), category, node.path)
    d.edge(src, out, node.in_shape)
    d.register(node, out)
    return out


def _stage(node: SeqNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    if node.meta.get("kind") == "dense":
        return dense.draw_stage(node, d, g, src)
    blocks = blocks_of(node)
    if d.level == "stage" and blocks:
        out = d.node(g, d.nid(node.path), stage_label(node, d), "conv", node.path, penwidth="1.5")
        d.edge(src, out, node.in_shape)
        d.register(node, out)
        return out
    n = node.meta.get("blocks", len(node.items))
    what = "inception ×%d" % n if node.meta.get("kind") == "inception" else \
        f"{node.meta.get('kind', 'stage')} · {BLOCK_TITLES.get(node.meta.get('block', 'custom'), 'Block')} ×{n}"
    with d.cluster(g, node.path, f"{node.name} · {what}", "stage") as sub:
        out = _sequence(node.items, d, sub, src)
    d.out_of[node.path] = out
    return out


def _plain_block(node: SeqNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    if node.meta.get("block") == "transition":
        return dense.draw_transition(node, d, g, src)
    if d.level == "stage":  # only reached under --focus: draw the block as one unit-like node
        return _unit(node, d, g, src)
    plain = "no shortcut" if node.meta.get("shortcut") == "none" else "plain"  # a residual stage's block without one
    label = f"{node.name} · {node.meta.get('block', 'block')} ({plain})"
    with d.cluster(g, node.path, label, "block") as sub:
        out = _sequence(node.items, d, sub, src)
    d.out_of[node.path] = out
    return out


def _labelled_sequence(kind: str) -> Callable[[SeqNode, Drawer, graphviz.Digraph, str], str]:
    def rule(node: SeqNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
        with d.cluster(g, node.path, node.name, kind) as sub:
            out = _sequence(node.items, d, sub, src)
        d.out_of[node.path] = out
        return out

    return rule


def _plain_sequence(node: SeqNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    out = _sequence(node.items, d, g, src)
    d.out_of[node.path] = out
    return out


SEQ_RULES: dict[Role, Callable[[SeqNode, Drawer, graphviz.Digraph, str], str]] = {
    Role.UNIT: _unit,
    Role.SHORTCUT: _unit,
    Role.STAGE: _stage,
    Role.BLOCK: _plain_block,
    Role.STEM: _labelled_sequence("part"),
    Role.HEAD: _labelled_sequence("part"),
}


def _seq(node: SeqNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    return SEQ_RULES.get(node.role, _plain_sequence)(node, d, g, src)


def _residual(node: ResidualNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    kind = node.shortcut_kind
    d.shortcuts.add(kind)
    edge_attrs, name, _ = style.SHORTCUTS.get(kind, style.SHORTCUTS["identity"])
    title = f"{node.name} · {node.meta.get('block', 'residual')}"
    with d.cluster(g, node.path, title, "block") as sub:
        body_out = _sequence(node.body, d, sub, src)
        fold_post = node.post is not None and d.level != "layer"
        add_extra = {}
        if fold_post and d.opts.unit_details:  # the post-add activation written inside the add circle
            add_extra = {"label": f'<<FONT POINT-SIZE="13">+</FONT><BR/><FONT POINT-SIZE="7">{esc(node.post.label)}'
                                  '</FONT>>', "width": "0.42", "height": "0.42"}
        add = d.structural(sub, d.nid(node.path + ".add"), "add", tooltip=f"{node.path}: add", **add_extra)
        d.edge(body_out, add, node.out_shape)
        if node.shortcut is None:
            d.edge(src, add, label=name if d.opts.shapes else "", **edge_attrs)
        else:
            saved, first = d.edge_style, len(d.edges)
            d.edge_style = dict(edge_attrs)
            short_out = emit(node.shortcut, d, sub, src)
            if d.opts.shapes:  # the edge leaving the block input names the shortcut
                d.edges[first][2]["label"] = " " + name
            d.edge(short_out, add, node.out_shape)
            d.edge_style = saved
        out = add
        if node.post is not None:
            if fold_post:
                d.register(node.post, add)
            else:
                out = emit(node.post, d, sub, add)
    d.out_of[node.path] = out
    return out


def _concat(node: ConcatNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    if dense.is_dense_layer(node):
        return dense.draw_layer(node, d, g, src)
    if d.level == "stage":
        out = d.node(g, d.nid(node.path), module_label(node, d), "conv", node.path, margin="0.04,0.02")
        d.edge(src, out, node.in_shape)
        d.register(node, out)
        return out
    with d.cluster(g, node.path, f"{node.name} · {len(node.branches)} branches", "module") as sub:
        outs, firsts = [], []
        for branch in node.branches:
            drawn = len(d.edges)
            outs.append(_sequence(branch.items, d, sub, src) if branch.items else src)
            firsts += [dst for s, dst, _ in d.edges[drawn:drawn + 1] if s == src]
        if len(firsts) > 1:  # every branch starts on the first row, in its own column (Szegedy et al. Fig. 2)
            with sub.subgraph() as row:
                row.attr(rank="same")
                for first in firsts:
                    row.node(first)
                for left, right in zip(firsts, firsts[1:]):  # left to right in the spec's (channel) order
                    row.edge(left, right, style="invis")
        cat = d.structural(sub, d.nid(node.path + ".concat"), "concat", "concat", tooltip=f"{node.path}: concat")
        for branch, out in zip(node.branches, outs):
            d.out_of[branch.path] = out
            d.edge(out, cat, branch.out_shape)
    d.out_of[node.path] = cat
    return cat


def _gate(node: GateNode, d: Drawer, g: graphviz.Digraph, src: str) -> str:
    """The gate as it computes: its squeeze and excitation a side branch off the input, ending in a multiply
    (×) that takes the input itself on the main line; at stage level (a gate standing alone) one node."""
    if d.level == "stage":  # one node: "SE gate, r=16" over its ops
        details = [", ".join(d.name(op) for op in node.ops())] if d.opts.unit_details else []
        out = d.node(g, d.nid(node.path), d.label(d.name(node), details, d.annotation(node)), "conv", node.path)
        d.edge(src, out, node.in_shape)
        d.register(node, out)
        return out
    d.gates = True
    title = f"{node.name} · {node.meta.get('title', 'gate')}"
    with d.cluster(g, node.path, title, "gate") as sub:
        saved = d.edge_style
        d.edge_style = dict(style.GATE_EDGE)
        scale = _sequence(node.gate, d, sub, src)
        d.edge_style = saved
        mul = d.structural(sub, d.nid(node.path + ".mul"), "mul", tooltip=f"{node.path}: x × scale, per channel")
        d.edge(src, mul, node.in_shape, weight="4")  # the main line: kept straight
        d.edge(scale, mul, node.gate[-1].out_shape, **style.GATE_EDGE)
    d.out_of[node.path] = mul
    return mul


# the drawing of each IR node type (a new structure: one entry here)
emit: NodeRules[str] = NodeRules("drawing", {
    OpNode: _op, SeqNode: _seq, ResidualNode: _residual, ConcatNode: _concat, GateNode: _gate})
