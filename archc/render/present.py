"""Presentation controls shared by `archc diagram` and the figure makers: a font scale for slides,
a fit-to size (16:9 slide, A4 page), a caption under the drawing, and legend line samples drawn as
real line segments (coloured table cells), so a solid edge's sample is solid and a dashed one dashed.
"""
from __future__ import annotations

import re
from typing import Optional

import graphviz

from archc.render.style import esc

# name -> (width, height) in inches; Graphviz scales the whole drawing to fit inside (`size="W,H!"`:
# down or up, the aspect ratio kept)
FITS: dict[str, tuple[float, float]] = {
    "slide": (13.33, 7.5),  # 16:9 at PowerPoint/Beamer-widescreen size
    "a4": (7.27, 10.69),  # A4 portrait (8.27 x 11.69 in) less 0.5 in margins
    "a4-landscape": (10.69, 7.27),
}
FONT_SCALE_RANGE = (0.5, 4.0)

# (on, off) pixel lengths of a line sample's pattern; None: solid
LINE_PATTERNS: dict[str, Optional[tuple[int, int]]] = {"solid": None, "dashed": (6, 4), "dotted": (2, 3)}
SAMPLE_WIDTH = 28

_SIZE_ATTR = re.compile(r'\b(fontsize|POINT-SIZE)=("?)(\d+(?:\.\d+)?)("?)')
_FIXED_DIM = re.compile(r'\b(width|height)=("?)(\d+(?:\.\d+)?)("?)')


def check_fit(fit: Optional[str]) -> Optional[str]:
    if fit is not None and fit not in FITS:
        raise ValueError(f"unknown fit {fit!r}; expected one of {', '.join(FITS)}")
    return fit


def check_font_scale(scale: float) -> float:
    lo, hi = FONT_SCALE_RANGE
    if not lo <= float(scale) <= hi:
        raise ValueError(f"font scale must be between {lo:g} and {hi:g}, got {scale:g}")
    return float(scale)


def fit_attrs(fit: Optional[str]) -> dict[str, str]:
    """Graph attributes that scale the drawing to fit the named page (none for None)."""
    if fit is None:
        return {}
    w, h = FITS[check_fit(fit)]  # type: ignore[index]
    # the page margin (PDF adds 0.5 in by default): none on a slide, the 0.5 in that FITS took off on A4
    return {"size": f"{w:g},{h:g}!", "ratio": "auto", "margin": "0" if fit == "slide" else "0.5"}


def _scale_number(match: re.Match, factor: float) -> str:
    key, q1, value, q2 = match.groups()
    return f"{key}={q1}{float(value) * factor:.3g}{q2}"


def scale_text(text: str, factor: float) -> str:
    """Every `fontsize=` and HTML `POINT-SIZE=` in a DOT statement times `factor`; a fixed-size node
    (the + and Σ circles) grows with its text."""
    out = _SIZE_ATTR.sub(lambda m: _scale_number(m, factor), text)
    if "fixedsize" in out:
        out = _FIXED_DIM.sub(lambda m: _scale_number(m, factor), out)
    return out


def scale_fonts(g: graphviz.Digraph, factor: float) -> None:
    """Scale every font of `g` in place (graph, node and edge defaults, each statement's labels)."""
    if factor == 1:
        return
    for attrs in (g.graph_attr, g.node_attr, g.edge_attr):
        if "fontsize" in attrs:
            attrs["fontsize"] = f"{float(attrs['fontsize']) * factor:.3g}"
    g.body[:] = [scale_text(line, factor) for line in g.body]


def line_sample(colour: str, pattern: str = "solid", thickness: int = 2) -> str:
    """A legend cell holding a horizontal line segment in `colour`: one filled cell when solid, alternating
    filled and empty cells when dashed or dotted."""
    dash = LINE_PATTERNS[pattern]
    if dash is None:
        cells = f'<TD BGCOLOR="{colour}" WIDTH="{SAMPLE_WIDTH}" HEIGHT="{thickness}" FIXEDSIZE="TRUE"></TD>'
    else:
        on, off = dash
        parts, used = [], 0
        while used + on <= SAMPLE_WIDTH:
            parts.append(f'<TD BGCOLOR="{colour}" WIDTH="{on}" HEIGHT="{thickness}" FIXEDSIZE="TRUE"></TD>')
            used += on
            if used + off + on <= SAMPLE_WIDTH:
                parts.append(f'<TD WIDTH="{off}" HEIGHT="{thickness}" FIXEDSIZE="TRUE"></TD>')
            used += off
        cells = "".join(parts)
    return (f'<TD VALIGN="MIDDLE"><TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="0">'
            f'<TR>{cells}</TR></TABLE></TD>')


def edge_pattern(attrs: dict[str, str]) -> str:
    """The line pattern an edge's attributes draw: solid, dashed or dotted."""
    styles = set(attrs.get("style", "solid").split(","))
    return "dashed" if "dashed" in styles else "dotted" if "dotted" in styles else "solid"


CAPTION_WIDTH = 80  # characters per caption line: a long caption wraps instead of widening the drawing


def wrapped(text: str, width: int = CAPTION_WIDTH) -> str:
    """HTML-label text: the user's line breaks kept, each line wrapped at `width` characters."""
    import textwrap

    lines = [piece for line in str(text).splitlines() or [""] for piece in (textwrap.wrap(line, width) or [""])]
    return "<BR/>".join(esc(line) for line in lines)


def add_caption(g: graphviz.Digraph, caption: str, below: str, node_id: str = "caption") -> None:
    """A caption of the user's choosing under the drawing: a plain text node ranked last, tied to `below`."""
    with g.subgraph() as sink:
        sink.attr(rank="sink")
        sink.node(node_id, f'<<I>{wrapped(caption)}</I>>', id=node_id, shape="plaintext", style="", fontsize="11",
                  margin="0.05")
    g.edge(below, node_id, style="invis")
