"""A whole diagram: graph attributes, title, the drawing (archc.render.draw), the legend, --focus."""
from __future__ import annotations

import difflib
from dataclasses import replace
from typing import Any

import graphviz

from archc.formats import format_macs
from archc.errors import ArchcError
from archc.ir.graph import Model, Node
from archc.render import style
from archc.render.fold import fold
from archc.render.draw import Drawer, DrawOptions
from archc.render.present import add_caption, edge_pattern, fit_attrs, line_sample, scale_fonts, wrapped
from archc.render.style import esc


def resolve_focus(model: Model, name: str) -> Node:
    """A node by full path (`stage3.block2`) or by a unique tail of its path (`inception3a`,
    `inception4a.branch2`)."""
    nodes = list(model.walk())
    for node in nodes:
        if node.path == name:
            return node
    matches = [n for n in nodes if n.path.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ArchcError(f"focus name {name!r} is ambiguous",
                         expected="a full path: one of " + ", ".join(m.path for m in matches[:8]))
    candidates = sorted({n.path for n in nodes} | {n.path.rsplit(".", 1)[-1] for n in nodes})
    close = difflib.get_close_matches(name, candidates, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    tops = ", ".join(n.path for n in model.stages)
    raise ArchcError(f"no node {name!r} in {model.name}{hint}",
                     expected=f"a node path or unique name, e.g. {tops}")


def _legend_entries(d: Drawer) -> list[tuple[str, str]]:
    """(sample cell, text) pairs for what the drawing uses."""
    entries = []
    for category, (fill, line, text) in style.CATEGORIES.items():
        if category in d.categories and d.scale is None:  # value colours replace the category fills
            entries.append((f'<TD BGCOLOR="{fill}" COLOR="{line}" BORDER="1" WIDTH="18" HEIGHT="10"></TD>', text))
    for kind, (attrs, _, text) in style.SHORTCUTS.items():  # line samples drawn like the edges they stand for
        if kind in d.shortcuts:
            entries.append((line_sample(attrs["color"], edge_pattern(attrs)), text))
    if d.shortcuts:
        entries.append(('<TD><FONT POINT-SIZE="12">+</FONT></TD>', "residual add: F(x) + shortcut(x)"))
    if d.gates:
        entries.append(('<TD><FONT POINT-SIZE="12">×</FONT></TD>',
                        "gate (squeeze-excitation): x × s(x), one scale per channel"))
    if d.dense:
        spine = style.DENSE_SPINE
        entries.append((line_sample(spine["color"], edge_pattern(spine)), style.DENSE_LEGEND))
    if d.has_aux:
        aux = style.AUX_EDGE
        entries.append((line_sample(aux["color"], edge_pattern(aux)), "auxiliary classifier (training only)"))
    return entries


def add_legend(g: graphviz.Digraph, d: Drawer, below: str = "output", per_row: int = 3) -> bool:
    """A compact legend (op categories, shortcut kinds, colour scale used) under the drawn node `below`."""
    entries = _legend_entries(d)
    if len(entries) < 2 and d.scale is None:
        return False
    rows = []
    for i in range(0, len(entries), per_row):
        cells = "".join(f'{sample}<TD ALIGN="LEFT">{esc(text)}   </TD>' for sample, text in entries[i:i + per_row])
        rows.append(f"<TR>{cells}</TR>")
    width = 2 * min(per_row, max(1, len(entries)))
    if d.scale is not None:
        swatches = "".join(f'<TD BGCOLOR="{c}" WIDTH="14" HEIGHT="10"></TD>' for c in style.VALUE_PALETTE)
        rows.append(f'<TR><TD COLSPAN="{width}" ALIGN="LEFT"><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0">'
                    f'<TR><TD>{esc(d.opts.value_label)} ({d.scale.scale} scale):  {d.scale.lo:.3g} </TD>{swatches}'
                    f'<TD> {d.scale.hi:.3g}</TD></TR></TABLE></TD></TR>')
    table = ('<<TABLE BORDER="1" COLOR="#b0b0b0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1">'
             + "".join(rows) + "</TABLE>>")
    legend = d.nid("legend")
    g.node(legend, table, shape="plaintext", style="", fontsize="8", margin="0", id=legend)
    g.edge(d.nid(below), legend, style="invis")
    return True


def default_title(model: Model, opts: DrawOptions, target: Node | None) -> tuple[str, str]:
    """The title line and a smaller line of facts."""
    cost = model.cost
    if target is not None:
        part = target.cost
        share = f" ({100 * part.macs / cost.macs:.1f}% of the model)" if cost.macs else ""
        facts = (f"{opts.level} level · input {style.fmt_shape(target.in_shape)} · {part.params:,} params · "
                 f"{part.macs:,} MACs{share}")
        aux = next((a for a in model.aux_heads if target.path == a.head.path), None)
        if aux is not None:
            facts += f" · loss × {aux.loss_weight:g} · training only (not in the model's totals)"
        return f"{model.title}: {target.path}", facts
    inp = style.fmt_shape(model.input_shape)
    facts = f"{opts.level} level · input {inp} · {cost.params:,} params · {format_macs(cost.macs)}"
    if model.aux_heads:
        facts += f" · {model.cost_with_aux().params:,} params with aux heads (training only)"
    return model.title, facts


def title_label(title: str, facts: str = "") -> str:
    sub = f'<BR/><FONT POINT-SIZE="9" COLOR="#555555">{esc(facts)}</FONT>' if facts else ""
    return f"<<B>{wrapped(title)}</B>{sub}>"


def draw_into(g: graphviz.Digraph, model: Model, opts: DrawOptions) -> Drawer:
    """Emit the drawing into an existing graph (figures compose several drawings this way)."""
    d = Drawer(model, opts)
    if opts.focus:
        d.draw_focus(g, resolve_focus(model, opts.focus))
    else:
        d.draw_model(g)
        if opts.columns > 1:
            fold(g, model, d, opts.columns)
    d.finish(g)
    return d


def to_dot(model: Model, level: str = "stage", **options: Any) -> graphviz.Digraph:
    """The model as a Graphviz digraph. Options: see DrawOptions (rankdir, annotate, focus, shapes, legend,
    clusters, node_values, value_label, value_scale, title, caption, generic_labels, font_scale, fit,
    graph_attrs)."""
    opts = DrawOptions(level=level, **options)
    target = resolve_focus(model, opts.focus) if opts.focus else None
    if opts.large is None:
        drawn = target if target is not None else model.body
        ops = sum(1 for _ in drawn.ops()) + (0 if target is not None else sum(1 for a in model.aux_heads
                                                                               for _ in a.head.ops()))
        opts = replace(opts, large=opts.level != "stage" and ops > style.LARGE_OPS)
    if opts.large:
        opts = replace(opts, clusters=False, graph_attrs={**style.LARGE_GRAPH_ATTRS, **opts.graph_attrs})
    g = graphviz.Digraph(name=model.name, graph_attr=style.GRAPH_ATTRS, node_attr=style.NODE_ATTRS,
                         edge_attr=style.EDGE_ATTRS)
    title, facts = (opts.title, "") if opts.title is not None else default_title(model, opts, target)
    g.attr(rankdir=opts.rankdir, **opts.graph_attrs)
    if title:
        g.attr(label=title_label(title, facts))
    d = draw_into(g, model, opts)
    below = "output"
    if opts.legend and add_legend(g, d):
        below = "legend"
    if opts.caption:
        add_caption(g, opts.caption, d.nid(below), d.nid("caption"))
    if opts.fit:
        g.attr(**fit_attrs(opts.fit))
    scale_fonts(g, opts.font_scale)
    return g


def dot_source(model: Model, level: str = "stage", **options: Any) -> str:
    return to_dot(model, level, **options).source
