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


COLUMN_PANELS = 3  # each net folded into this many sub-columns: the figure's aspect near a 16:9 slide
SHORTCUT_COLOUR = style.SHORTCUTS["identity"][0]["color"]


class _Recorder:
    """Stands in for the graph while a net is drawn: keeps each node's label and attributes (for the
    dashed copy that continues a column in the next panel), passes everything on to the graph."""

    def __init__(self, g: graphviz.Digraph) -> None:
        self.g, self.nodes = g, {}

    def node(self, name: str, label: Optional[str] = None, **attrs: str) -> None:
        self.nodes[name] = (label, attrs)
        self.g.node(name, label, **attrs)

    def __getattr__(self, name: str):
        return getattr(self.g, name)


def _segment(model: Model, d: Drawer, node_id: str) -> object:
    """The feature-map size (H) a drawn node outputs, or "head" past the last spatial map."""
    path = node_id.removeprefix(d.opts.prefix).removesuffix(".add")
    if path == "input":
        return model.input_shape[1]
    node = next((n for n in model.walk() if n.path == path), None)
    shape = node.out_shape if node is not None else ()
    return shape[1] if len(shape) == 3 and shape[1] > 1 else "head"


def _main_chain(d: Drawer) -> list[str]:
    """The drawn nodes along the main path, input to output (shortcut edges left out)."""
    nxt = {s: t for s, t, a in d.edges if a.get("color") != SHORTCUT_COLOUR}
    chain = [d.nid("input")]
    while chain[-1] in nxt:
        chain.append(nxt[chain[-1]])
    return chain


def column_rows(models: Sequence[Model], drawers: Sequence[Drawer]) -> tuple[list[dict[str, int]], list]:
    """A row for every drawn node of every net: rows grouped by feature-map size (a size starts on the same
    row in every net, where its maps shrink); the last net (ResNet) sets the rows, the nets before it put
    a layer of the same name on its row, other layers on the next free row. Also each row's size."""
    chains = [_main_chain(d) for d in drawers]
    segs = [[_segment(m, d, v) for v in chain] for m, d, chain in zip(models, drawers, chains)]
    order: list = []
    for seg in segs[::-1]:
        order += [s for s in dict.fromkeys(seg) if s not in order]
    rows: list[dict[str, int]] = [{} for _ in drawers]
    ref = {v.removeprefix(drawers[-1].opts.prefix): None for v in chains[-1]}
    sizes: list = []
    start = 0
    for s in order:
        end = start
        for k in range(len(drawers) - 1, -1, -1):
            d, row = drawers[k], start - 1
            for v, vs in zip(chains[k], segs[k]):
                if vs != s:
                    continue
                same = ref.get(v.removeprefix(d.opts.prefix))
                row = max(row + 1, same if same is not None else row + 1)
                rows[k][v] = row
                if k == len(drawers) - 1:
                    ref[v.removeprefix(d.opts.prefix)] = row
            end = max(end, row + 1)
        sizes += [s] * (end - start)
        start = end
    for k, d in enumerate(drawers):  # nodes beside the main path (projection shortcuts): the row after their input
        main = {s: t for s, t, a in d.edges if a.get("color") != SHORTCUT_COLOUR}
        for src, dst, _ in d.edges:
            if dst not in rows[k] and src in rows[k]:
                rows[k][dst] = rows[k][main[src]] if src in main else rows[k][src] + 1
    return rows, sizes


def _fold_points(sizes: list, panels: int, ends: set[int] = frozenset()) -> list[int]:
    """Where each panel starts: near equal lengths, moved to a size change or to the row after a block's
    end (`ends`: rows of the residual adds) when one is within 3 rows, a size change first."""
    n = len(sizes)
    starts = [0]
    for p in range(1, panels):
        target = round(p * n / panels)
        near = range(max(1, target - 3), min(n, target + 4))
        score = {i: abs(i - target) - (2 if sizes[i] != sizes[i - 1] else 0) for i in near
                 if sizes[i] != sizes[i - 1] or i - 1 in ends}
        starts.append(min(score, key=lambda i: (score[i], i)) if score else target)
    return starts


def fig_columns(panels: int = COLUMN_PANELS) -> graphviz.Digraph:
    """He et al. Fig. 3 for a slide: the three nets side by side, every one folded into `panels` sub-columns
    (panel-major, so the nets stay side by side at each depth), rows by feature-map size with the size
    marked on a ruler left of each panel, all column tops on one row."""
    cols = [("vgg", "VGG-19", _spec_model("vgg19")), ("plain", "34-layer plain", _spec_model("plain34")),
            ("resnet", "34-layer residual", _spec_model("resnet34"))]
    g = new_graph("vgg19_plain34_resnet34", "VGG-19, 34-layer plain and 34-layer residual (He et al. 2016, Fig. 3)",
                  "every conv is followed by BN and ReLU in the 34-layer nets; dashed shortcuts project (1×1 conv) "
                  "where the size halves and the channels double; read each panel top to bottom, then the next")
    g.attr(ranksep="0.16", nodesep="0.18")
    drawers, recorders = [], []
    for key, _, model in cols:
        rec = _Recorder(g)
        opts = DrawOptions(level="block", shapes=False, clusters=False, unit_details=False, legend=False, title="",
                           prefix=f"{key}/", input_label="image 224×224", output_label="output")
        d = Drawer(model, opts)
        d.draw_model(rec)  # type: ignore[arg-type]
        drawers.append(d)
        recorders.append(rec)
    rows, sizes = column_rows([m for _, _, m in cols], drawers)
    starts = _fold_points(sizes, panels, {r for v, r in rows[-1].items() if v.endswith(".add")})
    height = max(b - a for a, b in zip(starts, starts[1:] + [len(sizes)]))
    panel_of = lambda row: max(p for p, a in enumerate(starts) if a <= row)  # noqa: E731
    same: dict[str, list[str]] = {"head": [], "cont": []}
    same.update({str(i): [] for i in range(height)})
    order: list[str] = []
    for p, first in enumerate(starts):  # the size ruler left of each panel
        last = starts[p + 1] if p + 1 < len(starts) else len(sizes)
        head = f"size/{p}/head"
        g.node(head, '<<FONT POINT-SIZE="9" COLOR="#555555">feature<BR/>map</FONT>>', shape="plaintext", id=head,
               group=f"size{p}")
        same["head"].append(head)
        order.append(head)
        cont = f"size/{p}/cont"
        g.node(cont, "", shape="point", width="0", color="transparent", id=cont, group=f"size{p}")
        same["cont"].append(cont)
        g.edge(head, cont, style="invis")
        prev = cont
        for i in range(first, last):
            nid = f"size/{p}/{i - first}"
            s = sizes[i]
            if i == first or s != sizes[i - 1]:
                text = "" if s == "head" else f"{s}×{s}"
                grey = i == first and i > 0 and s == sizes[i - 1]
                label = (f'<<FONT POINT-SIZE="{10 if grey else 13}" COLOR="{"#777777" if grey else "#222222"}">'
                         f'<B>{text}</B></FONT>>') if text else '<<FONT POINT-SIZE="10" COLOR="#555555">head</FONT>>'
                g.node(nid, label, shape="plaintext", id=nid, group=f"size{p}",
                       tooltip=f"feature maps {text or 'past the last map'}")
            else:
                g.node(nid, "", shape="point", width="0.01", id=nid, group=f"size{p}",
                       color="transparent" if s == "head" else "#9a9a9a")
            link = "invis" if i == first or s != sizes[i - 1] or s == "head" else "solid"  # a bar per size
            g.edge(prev, nid, arrowhead="none", color="#9a9a9a", penwidth="2.2", style=link)
            same[str(i - first)].append(nid)
            prev = nid
        for (key, head_text, model), d, rec in zip(cols, drawers, recorders):
            cost = model.cost
            facts = f"{cost.macs / 1e9:.1f} G mult-adds · {cost.params / 1e6:.1f}M params"
            lines = [facts] if p == 0 else ["(continued)"]
            hid = f"{key}/head{p}"
            g.node(hid, caption(head_text, *lines), shape="plaintext", id=hid)
            same["head"].append(hid)
            order.append(hid)
    for k, d in enumerate(drawers):
        for node_id, row in rows[k].items():
            same[str(row - starts[panel_of(row)])].append(node_id)
        kept = []
        for src, dst, attrs in d.edges:  # an edge into a later panel starts at a dashed copy of its source there
            ps, pd = panel_of(rows[k][src]), panel_of(rows[k][dst])
            if ps == pd:
                kept.append((src, dst, attrs))
                continue
            ghost = f"{src}~{pd}"
            if ghost not in recorders[k].nodes:
                label, attrs0 = recorders[k].nodes[src]
                extra = {a: v for a, v in attrs0.items() if a not in ("id", "tooltip", "style", "fontcolor")}
                recorders[k].node(ghost, label, **{**extra, "id": ghost, "style": "dashed,rounded",
                                                   "color": "#8a8a8a", "fontcolor": "#666666",
                                                   "tooltip": f"{src.split('/', 1)[1]}, continued from the "
                                                              f"previous panel"})
                same["cont"].append(ghost)
            kept.append((ghost, dst, attrs))
        d.edges = kept
        d.finish(g)
    for key in same:
        with g.subgraph() as row:
            row.attr(rank="same")
            for node_id in same[key]:
                row.node(node_id)
    for a, b in zip(order, order[1:]):  # the panels left to right: ruler, VGG, plain, ResNet
        g.edge(a, b, style="invis")
    for k, (key, _, _) in enumerate(cols):  # each heading over its column: an invisible edge to the column's top
        for p in range(len(starts)):
            ghosts = [v for v in same["cont"] if v.startswith(f"{key}/") and v.endswith(f"~{p}")]
            top = ghosts[0] if ghosts else min((v for v, r in rows[k].items() if panel_of(r) == p),
                                               key=lambda v: rows[k][v], default=None)
            if top is not None:
                g.edge(f"{key}/head{p}", top, style="invis", weight="10")
    legend_for(g, drawers, below="resnet/output", per_row=4)
    return g


def fig_columns_page() -> graphviz.Digraph:
    """He et al. Fig. 3 for an A4 page (portrait): the same three nets in two panels, about square, so the page
    width sets the scale."""
    return fig_columns(panels=2)


# ---------------------------------------------------------------- 5. whole networks at stage level


def fig_googlenet() -> graphviz.Digraph:
    """Szegedy et al. 2015 Fig. 3 at stage level, folded into 3 columns: about square, for a 16:9 slide."""
    return to_dot(_spec_model("googlenet"), "stage", columns=3)


def fig_stage(spec: str, columns: int = 1) -> graphviz.Digraph:
    """A bundled network at stage level (`archc diagram SPEC --columns N`): the families after ResNet."""
    return to_dot(_spec_model(spec), "stage", columns=columns)


def fig_resnet50() -> graphviz.Digraph:
    return to_dot(_spec_model("resnet50"), "stage")
