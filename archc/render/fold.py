"""A tall drawing folded into side-by-side columns (`archc diagram --columns N`), for a 16:9 slide.

The network's top-level parts (stem, stages, layers between them, head) are kept whole and dealt into N
columns of near-equal height; the edge into the first part of a column starts at a dashed copy of the
part it comes from (the last node of the column before), and every column's top sits on one row."""
from __future__ import annotations

from typing import TYPE_CHECKING

import graphviz

from archc.ir.graph import Model
from archc.text import clean_text

if TYPE_CHECKING:
    from archc.render.draw import Drawer

MAX_COLUMNS = 8
CONTINUED = {"style": "dashed,rounded,filled", "color": "#8a8a8a", "fontcolor": "#666666", "fillcolor": "#f7f7f7"}


def check_columns(columns: int) -> int:
    """1 (no folding) to MAX_COLUMNS; raises ValueError otherwise."""
    if not isinstance(columns, int) or isinstance(columns, bool) or not 1 <= columns <= MAX_COLUMNS:
        raise ValueError(f"columns must be a whole number from 1 to {MAX_COLUMNS}, got {columns!r}")
    return columns


def part_heights(model: Model, d: "Drawer") -> list[int]:
    """Drawn nodes per top-level part (plus one for a cluster's title): its height in rows, about."""
    heights = []
    for item in model.body.items:
        drawn = {d.out_of[n.path] for n in item.walk() if n.path in d.out_of}
        heights.append(len(drawn) + (1 if d.opts.clusters and len(drawn) > 1 else 0))
    return heights


def split_points(heights: list[int], columns: int) -> list[int]:
    """Indices of the parts that start columns 2..N: near-equal heights, each column at least one part."""
    columns = min(columns, len(heights))
    total = sum(heights)
    starts, run, k = [], 0, 1
    for i, h in enumerate(heights):
        left_parts, left_columns = len(heights) - i, columns - k
        if k < columns and i > 0 and (run + h / 2 > k * total / columns or left_parts == left_columns):
            starts.append(i)
            k += 1
        run += h
    return starts


def fold(g: graphviz.Digraph, model: Model, d: "Drawer", columns: int) -> None:
    """Rewrite d.edges (before `d.finish`) so the drawing reads in `columns` columns, left to right."""
    if columns <= 1 or len(model.body.items) < 2:
        return
    items = model.body.items
    starts = split_points(part_heights(model, d), columns)
    tops = [d.nid("input")]
    for n, i in enumerate(starts, start=1):
        before, first = items[i - 1], items[i]
        src = d.out_of[before.path]
        inside = {d.out_of[x.path] for x in first.walk() if x.path in d.out_of}
        crossing = [(k, e) for k, e in enumerate(d.edges) if e[0] == src and e[1] in inside]
        if not crossing:
            continue
        ghost = f"{src}~column{n + 1}"
        g.node(ghost, clean_text(f"from {before.name}"), shape="box", id=ghost, fontsize="10",
               tooltip=f"continued from the previous column ({before.path})", **CONTINUED)
        for k, (_, dst, attrs) in crossing:
            d.edges[k] = (ghost, dst, attrs)
        tops.append(ghost)
    with g.subgraph() as row:
        row.attr(rank="same")
        for top in tops:
            row.node(top)
    for a, b in zip(tops, tops[1:]):  # columns left to right
        g.edge(a, b, style="invis")
    g.attr(newrank="true")  # rank=same across clusters
