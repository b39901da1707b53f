"""The lecture figures (`archc figures`), each drawn from specs lowered to the IR, with numbers from the
op registry's cost rules (nothing is typed in by hand):

  inception_naive_vs_reduced    naive inception module vs the same with 1x1 reductions, MAC totals
  residual_basic_vs_bottleneck  basic vs bottleneck block with the shortcut, parameter counts
  residual_shortcuts            identity vs projection vs zero-pad shortcut
  unraveled_paths               three residual blocks as the 2^3 = 8 paths they contain (Veit et al.)
  vgg19_plain34_resnet34        He et al. Fig. 3: VGG-19, plain-34, ResNet-34 side by side
  googlenet_stage, resnet50_stage  the whole networks at stage level (GoogLeNet with its aux heads)
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import graphviz
import networkx as nx

import archc
from archc.ir.dag import INPUT, to_dag
from archc.ir.graph import Model, Node
from archc.render import style
from archc.render.diagram import add_legend, draw_into, to_dot
from archc.render.draw import Drawer, DrawOptions
from archc.render.style import esc, fmt_shape

NAIVE_SPEC = """
name: naive_inception
input: {channels: 192, size: 28}
defaults: {norm: none, act: relu}
stages:
  - inception:
      prefix: ""
      modules:
        naive:
          branches:
            - [conv: {out: 64, kernel: 1}]
            - [conv: {out: 128, kernel: 3}]
            - [conv: {out: 32, kernel: 5}]
            - [maxpool: {kernel: 3, stride: 1, padding: 1}]
"""
REDUCED_SPEC = """
name: inception3a
input: {channels: 192, size: 28}
defaults: {norm: none, act: relu}
stages:
  - inception: {modules: {3a: [64, 96, 128, 16, 32, 32]}}
"""
BLOCK_SPEC = """
name: {name}
input: {{channels: {channels}, size: 56}}
stages:
  - residual: {{block: {block}, width: {width}, blocks: 1, stride: {stride}, shortcut: {shortcut}}}
"""
UNRAVEL_SPEC = """
name: unraveled_blocks
input: {{channels: 16, size: 8}}
stages:
  - residual: {{block: basic, width: 16, blocks: {blocks}}}
"""
UNRAVEL_MAX_BLOCKS = 6  # 2^6 = 64 paths still fit a page
SUPERSCRIPTS = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")
LENGTH_COLOURS = ("#555555", "#2c5f8a", "#3c7a29", "#a63a2c", "#5a3f8c", "#b35a00")


def lower_text(text: str) -> Model:
    return archc.lower(archc.loads(text))


def new_graph(name: str, title: str, subtitle: str = "", rankdir: str = "TB") -> graphviz.Digraph:
    g = graphviz.Digraph(name=name, graph_attr=style.GRAPH_ATTRS, node_attr=style.NODE_ATTRS,
                         edge_attr=style.EDGE_ATTRS)
    sub = f'<BR/><FONT POINT-SIZE="10" COLOR="#555555">{esc(subtitle)}</FONT>' if subtitle else ""
    g.attr(rankdir=rankdir, label=f"<<B>{esc(title)}</B>{sub}>")
    return g


def caption(title: str, *lines: str) -> str:
    rest = "".join(f'<BR/><FONT POINT-SIZE="10">{esc(line)}</FONT>' for line in lines if line)
    return f"<<B>{esc(title)}</B>{rest}>"


def panel(g: graphviz.Digraph, key: str, label: str, model: Model, **options: object) -> Drawer:
    """One drawing in a captioned cluster of the figure; node ids prefixed with `key/`."""
    opts = DrawOptions(prefix=f"{key}/", title="", legend=False, **options)  # type: ignore[arg-type]
    with g.subgraph(name=f"cluster_{key}") as sub:
        sub.attr(label=label, labeljust="c", **style.CLUSTER["figure"])
        return draw_into(sub, model, opts)


def legend_for(g: graphviz.Digraph, drawers: Sequence[Drawer], below: str, per_row: int = 4) -> None:
    merged = drawers[0]
    for d in drawers[1:]:
        merged.categories |= d.categories
        merged.shortcuts |= d.shortcuts
        merged.has_aux |= d.has_aux
    saved, merged.opts.prefix = merged.opts.prefix, ""
    add_legend(g, merged, below=below, per_row=per_row)
    merged.opts.prefix = saved


def params_by_category(node: Node) -> dict[str, int]:
    out: dict[str, int] = {}
    for op in node.ops():
        out[op.op.category] = out.get(op.op.category, 0) + op.cost.params
    return {k: v for k, v in out.items() if v}


# ---------------------------------------------------------------- 1. inception: naive vs 1x1 reductions


def inception_modules() -> dict[str, Node]:
    """The naive module and inception (3a), both on a 192×28×28 input."""
    return {"naive": lower_text(NAIVE_SPEC).stages[0].items[0],
            "reduced": lower_text(REDUCED_SPEC).stages[0].items[0]}


def fig_inception() -> graphviz.Digraph:
    naive, reduced = lower_text(NAIVE_SPEC), lower_text(REDUCED_SPEC)
    m_naive, m_red = naive.stages[0].items[0], reduced.stages[0].items[0]
    ratio = m_naive.cost.macs / m_red.cost.macs
    five_naive, five_red = m_naive.branches[2].cost.macs, m_red.branches[2].cost.macs
    g = new_graph("inception_naive_vs_reduced", "Inception module: naive vs with 1×1 reductions",
                  f"input 192×28×28 · MACs from the op registry (1 MAC = one multiply-add) · 5×5 branch: "
                  f"{five_naive:,} → {five_red:,} MACs · whole module {ratio:.1f}× cheaper")
    drawers = []
    for key, model, module, title, what in (
            ("naive", naive, m_naive, "(a) naive inception module", "1×1, 3×3, 5×5 convs and 3×3 max pool in parallel"),
            ("reduced", reduced, m_red, "(b) with 1×1 reductions: GoogLeNet inception (3a)",
             "1×1 convs shrink the channels before the 3×3 and 5×5 convs, and after the pool")):
        label = caption(title, what, f"total {module.cost.macs:,} MACs · output {fmt_shape(module.out_shape)}")
        drawers.append(panel(g, key, label, model, level="block", focus=module.path, annotate=("macs",),
                             exact_numbers=True, clusters=False, input_label="previous layer 192×28×28",
                             output_label="next layer"))
    for d, module in zip(drawers, (m_naive, m_red)):  # every branch starts on the first row, in its column
        with g.subgraph() as row:
            row.attr(rank="same")
            for branch in module.branches:
                if branch.items:
                    row.node(d.out_of[branch.items[0].path])
    legend_for(g, drawers, below="naive/output")
    return g


# ---------------------------------------------------------------- 2. residual blocks


def block_model(name: str, block: str, channels: int, width: int, stride: int = 1,
                shortcut: str = "projection") -> Model:
    return lower_text(BLOCK_SPEC.format(name=name, block=block, channels=channels, width=width, stride=stride,
                                        shortcut=shortcut))


def params_caption(node: Node) -> str:
    parts = params_by_category(node)
    names = {"conv": "convs", "norm": "BN"}
    detail = " + ".join(f"{n:,} in {names.get(k, k)}" for k, n in parts.items())
    return f"{node.cost.params:,} params: {detail}" if len(parts) > 1 else f"{node.cost.params:,} params"


def _block_figure(name: str, title: str, subtitle: str, parts: list[tuple[str, str, str, Model]],
                  output_label: str) -> graphviz.Digraph:
    g = new_graph(name, title, subtitle)
    drawers = []
    for key, head, what, model in parts:
        block = model.stages[0].items[0]
        label = caption(head, what, params_caption(block))
        drawers.append(panel(g, key, label, model, level="block", focus=block.path, annotate=("params",),
                             exact_numbers=True, clusters=False,
                             input_label=f"x: {fmt_shape(block.in_shape)}", output_label=output_label))
    legend_for(g, drawers, below=f"{parts[(len(parts) - 1) // 2][0]}/output")
    return g


def fig_residual_blocks() -> graphviz.Digraph:
    return _block_figure(
        "residual_basic_vs_bottleneck", "Residual blocks: basic vs bottleneck (He et al. 2016, Fig. 5)",
        "each conv is followed by BN; the last ReLU comes after the add",
        [("basic", "(a) basic block, 64-d (ResNet-18/34)", "3×3, 3×3 with an identity shortcut",
          block_model("basic", "basic", 64, 64)),
         ("bottleneck", "(b) bottleneck block, 256-d (ResNet-50/101/152)",
          "1×1 reduce, 3×3, 1×1 expand with an identity shortcut", block_model("bottleneck", "bottleneck", 256, 64))],
        output_label="relu(F(x) + x)")


def fig_shortcuts() -> graphviz.Digraph:
    return _block_figure(
        "residual_shortcuts", "Residual shortcuts: identity, projection and zero-padding",
        "when a block halves the size and doubles the channels, the shortcut must change shape too",
        [("identity", "(a) identity", "shapes match: x is added unchanged", block_model("identity", "basic", 64, 64)),
         ("projection", "(b) projection (option B)", "1×1 conv, stride 2, + BN on the shortcut",
          block_model("projection", "basic", 64, 128, stride=2, shortcut="projection")),
         ("pad", "(c) zero-padding (option A)", "subsample by 2, append zero channels: no parameters",
          block_model("pad", "basic", 64, 128, stride=2, shortcut="pad"))],
        output_label="relu(F(x) + shortcut(x))")


# ---------------------------------------------------------------- 3. the unraveled view


def unraveled_paths(model: Model) -> list[tuple[int, ...]]:
    """Every input→output path of the model's first stage of residual blocks, as the blocks whose
    residual branch it passes through (found on the IR's explicit DAG)."""
    dag = to_dag(model)
    blocks = [b.path for b in model.stages[0].items]
    end = dag.graph["outputs"][0] if not blocks else f"{blocks[-1]}.add"
    paths = []
    for path in nx.all_simple_paths(dag, INPUT, end):
        used = tuple(i + 1 for i, b in enumerate(blocks)
                     if any(dag.nodes[n]["block"] == b and dag.nodes[n]["weighted"] for n in path))
        paths.append(used)
    return sorted(paths, key=lambda u: (len(u), u))


def fig_unraveled(blocks: int = 3) -> graphviz.Digraph:
    if not 1 <= blocks <= UNRAVEL_MAX_BLOCKS:
        raise ValueError(f"the unraveled view takes 1 to {UNRAVEL_MAX_BLOCKS} blocks, got {blocks}")
    model = lower_text(UNRAVEL_SPEC.format(blocks=blocks))
    paths = unraveled_paths(model)
    n = len(model.stages[0].items)
    counts = [sum(1 for p in paths if len(p) == k) for k in range(n + 1)]
    dist = ", ".join(f"length {k}: {c}" for k, c in enumerate(counts))
    power = "2" + str(n).translate(SUPERSCRIPTS)
    g = new_graph("unraveled_paths", f"The unraveled view: {n} residual blocks hold {power} = {len(paths)} paths",
                  f"path lengths follow Binomial({n}, 1/2): {dist} (Veit et al. 2016, Fig. 1)")
    recipe = " → ".join(u.meta.get("label", u.name) for u in model.stages[0].items[0].body)
    with g.subgraph(name="cluster_a") as a:
        a.attr(label=caption(f"(a) {n} residual block{'s' if n > 1 else ''}", f"f_i: {recipe}"), **style.CLUSTER["figure"])
        a.node("a/x0", "x0", id="a/x0", **style.STRUCTURAL["io"])
        prev = "a/x0"
        for i in range(1, n + 1):
            f = f"a/f{i}"
            a.node(f, f"f{i}", id=f, **style.category_style("conv"))
            add = f"a/add{i}"
            attrs = dict(style.STRUCTURAL["add"])
            if i < n:
                attrs["xlabel"] = f"x{i}"
            a.node(add, id=add, **attrs)
            a.edge(prev, f)
            a.edge(f, add)
            a.edge(prev, add, **style.SHORTCUTS["identity"][0])
            prev = add
        a.node(f"a/x{n}", f"x{n}", id=f"a/x{n}", **style.STRUCTURAL["io"])
        a.edge(prev, f"a/x{n}")
    with g.subgraph(name="cluster_b") as b:
        key = " ".join(f'<FONT COLOR="{LENGTH_COLOURS[k % len(LENGTH_COLOURS)]}">■ length {k} ({c})</FONT>'
                       for k, c in enumerate(counts))
        b.attr(label=f"<<B>(b) unraveled: {len(paths)} paths from x0 to x{n}</B><BR/><FONT POINT-SIZE=\"10\">"
                     f"each path passes through a subset of the blocks</FONT><BR/><FONT POINT-SIZE=\"10\">{key}</FONT>>",
               **style.CLUSTER["figure"])
        b.node("b/x0", "x0", id="b/x0", ordering="out", **style.STRUCTURAL["io"])
        total = dict(style.STRUCTURAL["sum"])
        b.node("b/sum", "Σ", id="b/sum", **total)
        for k, path in enumerate(paths):
            colour = LENGTH_COLOURS[len(path) % len(LENGTH_COLOURS)]
            prev, rank = "b/x0", 0
            for i in path:
                f = f"b/p{k}.f{i}"
                b.node(f, f"f{i}", id=f, **style.category_style("conv"))
                b.edge(prev, f, color=colour, penwidth="1.4", minlen=str(i - rank))
                prev, rank = f, i
            b.edge(prev, "b/sum", color=colour, penwidth="1.4", minlen=str(n + 1 - rank))
    return g


# ---------------------------------------------------------------- 4. VGG-19 / plain-34 / ResNet-34


def _spec_model(name: str) -> Model:
    from archc.bundled import resolve_spec_arg

    return archc.lower(resolve_spec_arg(name))


def fig_columns() -> graphviz.Digraph:
    cols = [("vgg", "VGG-19", _spec_model("vgg19")), ("plain", "34-layer plain", _spec_model("plain34")),
            ("resnet", "34-layer residual", _spec_model("resnet34"))]
    g = new_graph("vgg19_plain34_resnet34", "VGG-19, 34-layer plain and 34-layer residual (He et al. 2016, Fig. 3)",
                  "every conv is followed by BN and ReLU in the 34-layer nets; dashed shortcuts project (1×1 conv) "
                  "where the size halves and the channels double")
    drawers = []
    for key, head, model in cols:
        cost = model.cost
        label = caption(head, f"{cost.macs / 1e9:.1f} G multiply-adds · {cost.params / 1e6:.1f}M params")
        drawers.append(panel(g, key, label, model, level="block", shapes=False, clusters=False, unit_details=False,
                             input_label="image 224×224", output_label="output"))
    drawn = [{v.removeprefix(d.opts.prefix) for v in d.out_of.values()} for d in drawers[1:]]
    for node_id in sorted(drawn[0] & drawn[1]):  # the same layer of plain-34 and ResNet-34 on the same row
        with g.subgraph() as row:
            row.attr(rank="same")
            row.node(drawers[1].nid(node_id))
            row.node(drawers[2].nid(node_id))
    vgg_first, res_first = first_at_size(cols[0][2], drawers[0]), first_at_size(cols[2][2], drawers[2])
    for size in sorted(set(vgg_first) & set(res_first), reverse=True):  # He et al.: rows by output size
        with g.subgraph() as row:
            row.attr(rank="same")
            row.node(vgg_first[size])
            row.node(res_first[size])
    legend_for(g, drawers, below="vgg/output", per_row=2)
    return g


def first_at_size(model: Model, d: Drawer) -> dict[int, str]:
    """Output size (H) -> the first drawn node whose output has it (where the map shrinks)."""
    first: dict[int, str] = {}
    for node in model.walk():
        drawn = d.out_of.get(node.path)
        if drawn == d.nid(node.path) and len(node.out_shape) == 3 and node.out_shape[1] != model.input_shape[1]:
            first.setdefault(node.out_shape[1], drawn)
    return first


# ---------------------------------------------------------------- 5. whole networks at stage level


def fig_googlenet() -> graphviz.Digraph:
    return to_dot(_spec_model("googlenet"), "stage")


def fig_resnet50() -> graphviz.Digraph:
    return to_dot(_spec_model("resnet50"), "stage")
