"""Labels of the nodes that stand for a whole part at stage level: a stage of blocks ("Bottleneck ×6" over
the block's recipe and a note) and an inception module (its branches in columns)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from archc.ir.graph import ConcatNode, Node, OpNode, ResidualNode, Role, SeqNode
from archc.render import style
from archc.render.style import esc

if TYPE_CHECKING:
    from archc.render.draw import Drawer

BLOCK_TITLES = {"bottleneck": "Bottleneck", "basic": "Basic block", "inverted": "Inverted residual", "custom": "Block",
                "preact_bottleneck": "Pre-act bottleneck", "preact_basic": "Pre-act basic block"}


def blocks_of(stage: SeqNode) -> list[Node]:
    return [b for b in stage.items if isinstance(b, ResidualNode) or b.role == Role.BLOCK]


def stage_label(stage: SeqNode, d: Drawer) -> str:
    """ "Bottleneck ×6" over the block's recipe (its units, from the last block: no stride) and a note."""
    blocks = blocks_of(stage)
    meta = stage.meta
    kind = meta.get("kind", "stage")
    title = f"{BLOCK_TITLES.get(meta.get('block', 'custom'), 'Block')} ×{len(blocks)}"
    last = blocks[-1]
    body = last.body if isinstance(last, ResidualNode) else last.children()
    recipe = [d.name(b) for b in body
              if not (isinstance(b, OpNode) and b.op.category in ("act", "norm"))]
    if meta.get("block", "custom") == "custom" and len(recipe) == 1:  # VGG-style: "3x3 conv, 64 ×2"
        title, recipe = f"{recipe[0]} ×{len(blocks)}", []
    notes = [f"{stage.name} · {kind}"]
    if len(stage.in_shape) == 3 and len(stage.out_shape) == 3 and stage.in_shape[1] != stage.out_shape[1]:
        notes[0] += f" · /{round(stage.in_shape[1] / stage.out_shape[1])}"
    kinds = [b.shortcut_kind for b in blocks if isinstance(b, ResidualNode)]
    if kinds:
        counts = {k: kinds.count(k) for k in sorted(set(kinds), key=list(style.SHORTCUTS).index)}
        parts = [f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: kv[0] != kinds[0])]
        notes.append("shortcuts: " + " + ".join(parts))  # not drawn as edges: no legend entry
    else:
        notes.append("no shortcuts")
    lines = list(recipe)
    grey = "" if d.scale is not None else ' COLOR="#555555"'
    return "<" + "<BR/>".join(
        [f"<B>{esc(title)}</B>"] + [f'<FONT POINT-SIZE="8">{esc(r)}</FONT>' for r in lines]
        + [f'<FONT POINT-SIZE="8"{grey}>{esc(n)}</FONT>' for n in notes + d.annotation(stage)]) + ">"


def _chain_cell(items: list[Node], d: Drawer) -> str:
    """A branch's units top to bottom; a concat nested in the branch (Inception-v3's 1x3 | 3x1) as its
    sub-branches side by side, each in a thin box."""
    shown = [c for c in items if not (isinstance(c, OpNode) and c.op.category in ("act", "norm"))]
    if not shown:  # an empty branch passes its input on (Graphviz refuses an empty FONT element)
        return '<FONT POINT-SIZE="8">identity</FONT>'
    if not any(isinstance(c, ConcatNode) for c in shown):
        return f'<FONT POINT-SIZE="8">{"<BR/>".join(esc(d.name(c)) for c in shown)}</FONT>'
    rows = []
    for c in shown:
        if isinstance(c, ConcatNode):
            subs = "".join(f'<TD BORDER="1" COLOR="#c0c0c0">{_chain_cell(b.items, d)}</TD>' for b in c.branches)
            cell = f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="1"><TR>{subs}</TR></TABLE>'
        else:
            cell = f'<FONT POINT-SIZE="8">{esc(d.name(c))}</FONT>'
        rows.append(f"<TR><TD>{cell}</TD></TR>")
    return f'<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">{"".join(rows)}</TABLE>'


def module_label(node: ConcatNode, d: Drawer) -> str:
    """An inception module as one node: its branches in columns, each the chain of its units."""
    cells = []
    for branch in node.branches:
        cells.append(f'<TD BORDER="1" COLOR="#9a9a9a" BGCOLOR="white">{_chain_cell(branch.items, d)}</TD>')
    grey = "" if d.scale is not None else ' COLOR="#555555"'
    notes = "".join(f'<BR/><FONT POINT-SIZE="8"{grey}>{esc(n)}</FONT>' for n in d.annotation(node))
    head = f'<TR><TD COLSPAN="{len(cells)}" BORDER="0"><B>{esc(node.name)}</B> → concat{notes}</TD></TR>'
    return (f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="3" CELLPADDING="2">{head}'
            f'<TR>{"".join(cells)}</TR></TABLE>>')
