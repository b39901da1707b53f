"""The print-friendly house style: one font, one colour per op category, distinct shortcut edges.

Every colour here is looked up by an op's registry `category` (conv, norm, act, pool, linear,
reshape, regularize, shortcut) or by a structural kind (merge, io, stage); nothing switches on op
names. Fills are light so that diagrams print well in grey scale; outlines carry the hue."""
from __future__ import annotations

import html
import math
from typing import Mapping, Optional, Sequence

from archc.formats import shape_text
from archc.text import clean_text

FONT = "Helvetica"
FONT_SIZE = "10"
EDGE_FONT_SIZE = "8"
INK = "#333333"  # text and default edges
MUTED = "#777777"  # edge labels, cluster labels

GRAPH_ATTRS: dict[str, str] = {
    "fontname": FONT, "fontsize": "12", "labelloc": "t", "labeljust": "c", "newrank": "true",
    "nodesep": "0.22", "ranksep": "0.28", "pad": "0.15", "bgcolor": "white", "outputorder": "edgesfirst",
}
# Very deep nets (more than LARGE_OPS primitive ops drawn at block or layer level) are drawn without cluster
# boxes and with these layout limits: no network-simplex iterations for ranks and x positions (a chain of
# blocks is ranked and placed straight by the initial solution). dot's
# cluster handling and position iterations grow faster than linearly: a 1,202-layer ResNet took 10 s with
# them, well under a second without (BENCHMARKS.md).
LARGE_OPS = 1500
LARGE_GRAPH_ATTRS: dict[str, str] = {"nslimit": "0", "nslimit1": "0"}
NODE_ATTRS: dict[str, str] = {
    "fontname": FONT, "fontsize": FONT_SIZE, "shape": "box", "style": "rounded,filled", "penwidth": "1.1",
    "margin": "0.10,0.04", "height": "0.3", "color": INK, "fontcolor": "#111111", "fillcolor": "white",
}
EDGE_ATTRS: dict[str, str] = {
    "fontname": FONT, "fontsize": EDGE_FONT_SIZE, "fontcolor": MUTED, "color": INK, "arrowsize": "0.6",
    "penwidth": "0.9",
}

# category -> (fill, outline, legend text). Paired hues (ColorBrewer Paired/Pastel) that differ in grey value.
CATEGORIES: dict[str, tuple[str, str, str]] = {
    "conv": ("#d6e6f5", "#2c5f8a", "convolution"),
    "norm": ("#fff3c4", "#9a7b0a", "normalisation"),
    "act": ("#fbe0dc", "#a63a2c", "activation"),
    "pool": ("#dcefd3", "#3c7a29", "pooling"),
    "linear": ("#e7ddf3", "#5a3f8c", "fully connected"),
    "reshape": ("#ececec", "#606060", "reshape"),
    "regularize": ("#f6f6f6", "#8a8a8a", "regularisation (training only)"),
    "shortcut": ("#ffe6c7", "#b35a00", "shortcut op"),
    "other": ("#ffffff", "#555555", "other op"),
}

# structural nodes of the drawing (not registry ops)
STRUCTURAL: dict[str, dict[str, str]] = {
    "add": {"shape": "circle", "label": '<<FONT POINT-SIZE="14">+</FONT>>', "fontsize": "8", "width": "0.3",
            "height": "0.3", "fixedsize": "true", "style": "filled", "fillcolor": "white", "penwidth": "1.3",
            "margin": "0"},
    "concat": {"shape": "box", "style": "filled", "fillcolor": "#f3f3f3", "penwidth": "1.3", "height": "0.25"},
    "io": {"shape": "box", "style": "rounded", "color": MUTED, "fontcolor": INK, "height": "0.25"},
    "mul": {"shape": "circle", "label": '<<FONT POINT-SIZE="13">×</FONT>>', "fontsize": "8", "width": "0.3",
            "height": "0.3", "fixedsize": "true", "style": "filled", "fillcolor": "white", "penwidth": "1.3",
            "margin": "0"},
    "sum": {"shape": "circle", "fontsize": "14", "width": "0.34", "height": "0.34", "fixedsize": "true",
            "style": "filled", "fillcolor": "white", "penwidth": "1.3", "margin": "0"},
}

# residual shortcut kind -> (edge style, edge label, legend text); He et al.: dotted shortcuts increase dimensions
SHORTCUTS: dict[str, tuple[dict[str, str], str, str]] = {
    "identity": ({"color": "#b35a00", "penwidth": "1.6"}, "identity", "identity shortcut"),
    "projection": ({"color": "#b35a00", "penwidth": "1.6", "style": "dashed"}, "projection",
                   "projection shortcut (1x1 conv)"),
    "pad": ({"color": "#b35a00", "penwidth": "1.6", "style": "dotted"}, "zero-pad", "zero-pad shortcut (no params)"),
}
GATE_EDGE: dict[str, str] = {"color": "#5a3f8c", "penwidth": "1.1"}  # a gate's squeeze/excitation branch and scale
# dense blocks: the running concatenation (the spine) drawn like an identity path, the body's k new channels
DENSE_SPINE: dict[str, str] = {"color": "#b35a00", "penwidth": "1.6", "weight": "8"}
DENSE_GROWTH: dict[str, str] = {"fontcolor": "#b35a00"}
DENSE_CONCAT: dict[str, str] = {"fontsize": "8", "height": "0.2", "margin": "0.04,0.02"}
DENSE_LEGEND = "dense block: identity path of the running concatenation [x, new features]"
AUX_EDGE: dict[str, str] = {"color": "#8a8a8a", "style": "dashed", "penwidth": "1.1"}
AUX_CLUSTER: dict[str, str] = {"style": "dashed,rounded", "color": "#8a8a8a", "fontcolor": "#555555",
                               "bgcolor": "#fafafa"}
CLUSTER: dict[str, dict[str, str]] = {  # role -> cluster attributes
    "stage": {"style": "rounded", "color": "#9a9a9a", "fontcolor": "#444444", "fontsize": "11", "penwidth": "1.0"},
    "block": {"style": "rounded,dashed", "color": "#b8b8b8", "fontcolor": MUTED, "fontsize": "9", "penwidth": "0.8"},
    "module": {"style": "rounded", "color": "#b8b8b8", "fontcolor": "#444444", "fontsize": "10", "penwidth": "0.8"},
    "gate": {"style": "rounded,dotted", "color": "#5a3f8c", "fontcolor": "#5a3f8c", "fontsize": "9", "penwidth": "0.9"},
    "part": {"style": "rounded", "color": "#c8c8c8", "fontcolor": "#444444", "fontsize": "10", "penwidth": "0.8"},
    "figure": {"style": "rounded", "color": "#9a9a9a", "fontcolor": "#222222", "fontsize": "12", "penwidth": "1.0"},
}

# sequential palette for node values (e.g. gradient norms): light yellow -> dark red, print friendly
VALUE_PALETTE = ("#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c", "#fc4e2a", "#e31a1c", "#bd0026",
                 "#800026")


def category_style(category: str) -> dict[str, str]:
    fill, line, _ = CATEGORIES.get(category, CATEGORIES["other"])
    attrs = {"fillcolor": fill, "color": line}
    if category == "regularize":
        attrs["style"] = "rounded,filled,dashed"
    return attrs


def esc(text: object) -> str:
    """Text for an HTML-like Graphviz label: printable, bounded (Graphviz refuses a label over 16,384
    characters), escaped."""
    # Graphviz expands \G, \N, ... even inside HTML labels (and after entities): a doubled backslash stays one
    return html.escape(clean_text(text), quote=True).replace("\\", "\\\\")


def fmt_shape(shape: Sequence[int]) -> str:
    return shape_text(shape, "times")


def html_label(title: str, lines: Sequence[str] = (), note_lines: Sequence[str] = (), bold: bool = False,
               note_colour: Optional[str] = "#555555") -> str:
    """An HTML-like label: a title line, smaller detail lines, and grey note lines (annotations)."""
    head = f"<B>{esc(title)}</B>" if bold else esc(title)
    colour = f' COLOR="{note_colour}"' if note_colour else ""
    parts = [head]
    parts += [f'<FONT POINT-SIZE="8">{esc(line)}</FONT>' for line in lines if line]
    parts += [f'<FONT POINT-SIZE="8"{colour}>{esc(line)}</FONT>' for line in note_lines if line]
    return "<" + "<BR/>".join(parts) + ">"


class ValueScale:
    """Maps node values (e.g. gradient norms) to VALUE_PALETTE; log scale when the values span > 100x."""

    def __init__(self, values: Mapping[str, float], scale: Optional[str] = None) -> None:
        finite = [float(v) for v in values.values() if v is not None and math.isfinite(float(v))]
        if not finite:
            raise ValueError("node_values holds no finite number")
        self.lo, self.hi = min(finite), max(finite)
        if scale is None:
            scale = "log" if self.lo > 0 and self.hi / self.lo > 100 else "linear"
        if scale not in ("linear", "log"):
            raise ValueError(f"value scale must be 'linear' or 'log', got {scale!r}")
        if scale == "log" and self.lo <= 0:
            raise ValueError("a log value scale needs positive values")
        self.scale = scale

    def fraction(self, value: float) -> float:
        lo, hi, v = self.lo, self.hi, float(value)
        if self.scale == "log":
            lo, hi, v = math.log10(lo), math.log10(hi), math.log10(max(v, self.lo))
        if hi == lo:
            return 0.5
        return min(1.0, max(0.0, (v - lo) / (hi - lo)))

    def colour(self, value: float) -> str:
        index = round(self.fraction(value) * (len(VALUE_PALETTE) - 1))
        return VALUE_PALETTE[index]

    def text_colour(self, value: float) -> str:
        return "white" if self.fraction(value) > 0.7 else "#111111"
