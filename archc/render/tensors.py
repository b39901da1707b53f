"""The tensor view: feature maps as boxes whose sides show H, W and C, the layer's filters between them.

Generated from a spec's IR for any small layer sequence (at most MAX_LAYERS shape-changing ops): every
conv or pool op on the main path becomes a step from one box to the next; a conv's filters are drawn
as small boxes of kh×kw×C_in ("F filters of 1×1×C"), a pool as its window. Ops that keep the shape
(BN, activations) are named on the arrow. Box sides grow with the square root of the size they stand
for, so a 1×1 filter is thin and a 192-channel map deep. A matplotlib figure; no Graphviz needed.
"""
from __future__ import annotations

import math
from typing import Any, Optional

from archc.ir.graph import Model, OpNode
from archc.labels import _pair

MAX_LAYERS = 6
UNIT = 0.32  # drawing units per sqrt(element)
DEPTH = (0.55, 0.38)  # oblique projection of the channel axis (x, y per unit)
MAP_FILL, MAP_EDGE = "#d6e6f5", "#2c5f8a"
OUT_FILL = "#dcefd3", "#3c7a29"
FILTER_FILL, FILTER_EDGE = "#fde3c2", "#b35a00"
INK = "#222222"


def side(n: int) -> float:
    return UNIT * math.sqrt(max(1, n)) + 0.05


def _steps(model: Model) -> list[tuple[OpNode, list[str]]]:
    """(shape-changing op, names of the shape-keeping ops after it)."""
    steps: list[tuple[OpNode, list[str]]] = []
    for op in model.body.ops():
        if len(op.in_shape) != 3 or len(op.out_shape) != 3 or op.path.split(".")[0] == "head":
            break  # the classifier (or flatten / fc): the end of the layer sequence
        if op.op.category in ("conv", "pool"):
            steps.append((op, []))
        elif steps:
            steps[-1][1].append(op.label)
    if not steps:
        raise ValueError(f"{model.name}: no conv or pool op on feature maps to draw as tensors")
    if len(steps) > MAX_LAYERS:
        raise ValueError(f"{model.name}: the tensor view is for small layer sequences (at most {MAX_LAYERS} conv/pool "
                         f"ops), got {len(steps)}")
    return steps


def _box(ax: Any, x: float, y: float, w: float, h: float, d: float, fill: str, edge: str, lw: float = 1.2,
         z: float = 1.0) -> None:
    """A cuboid: front face w×h at (x, y), depth d drawn up and to the right."""
    from matplotlib.patches import Polygon

    dx, dy = DEPTH[0] * d, DEPTH[1] * d
    faces = ([(x, y), (x + w, y), (x + w, y + h), (x, y + h)],
             [(x, y + h), (x + w, y + h), (x + w + dx, y + h + dy), (x + dx, y + h + dy)],
             [(x + w, y), (x + w + dx, y + dy), (x + w + dx, y + h + dy), (x + w, y + h)])
    for i, face in enumerate(faces):
        shade = {0: 1.0, 1: 0.93, 2: 0.86}[i]
        ax.add_patch(Polygon(face, closed=True, facecolor=_shade(fill, shade), edgecolor=edge, lw=lw, zorder=z))


def _shade(colour: str, f: float) -> tuple[float, float, float]:
    r, g, b = (int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return r * f, g * f, b * f


def _map(ax: Any, x: float, shape: tuple, fill: str, edge: str, fs: float) -> float:
    """A feature map C×H×W as a box: width W, height H, depth C; returns its right end."""
    c, h, w = shape
    bw, bh, bd = side(w), side(h), side(c)
    y = -bh / 2
    _box(ax, x, y, bw, bh, bd, fill, edge)
    ax.text(x - 0.12, 0, f"H={h}", ha="right", va="center", rotation=90, fontsize=fs, color=INK)
    ax.text(x + bw / 2, y - 0.15, f"W={w}", ha="center", va="top", fontsize=fs, color=INK)
    dx, dy = DEPTH[0] * bd, DEPTH[1] * bd
    ax.text(x + bw + dx / 2 + 0.12, y + dy / 2 - 0.05, f"C={c}", ha="left", va="top", fontsize=fs, color=INK)
    ax.text(x + (bw + dx) / 2, bh / 2 + dy + 0.2, f"{h}×{w}×{c}", ha="center", va="bottom",
            fontsize=fs * 1.15, weight="bold", color=INK)
    return x + bw + dx


def _filters(ax: Any, x: float, op: OpNode, notes: list[str], fs: float) -> float:
    """The op between two maps: a conv's filters (up to three drawn, "× F") or a pool's window."""
    c_in = op.in_shape[0]
    p = op.params
    kh, kw = _pair(getattr(p, "kernel", 1))
    if op.op.category == "conv":
        count, depth = op.out_shape[0], c_in // getattr(p, "groups", 1)
        what = f"{count} filters of {kh}×{kw}×{depth}"
    else:
        count, depth = 1, 1
        what = f"{kh}×{kw} window\nper channel"
    fw, fh, fd = side(kw), side(kh), side(depth)
    shown = min(3, count)
    step = 0.22
    for i in range(shown):
        _box(ax, x + i * step, -fh / 2 - i * step, fw, fh, fd, FILTER_FILL, FILTER_EDGE, lw=1.0, z=2 + i)
    right = x + (shown - 1) * step + fw + DEPTH[0] * fd
    lines = [what] + ([f"… × {count}"] if count > shown else [])
    cost = op.cost
    if cost.params or cost.macs:
        bias = op.params.out if getattr(op.params, "bias", False) and hasattr(op.params, "out") else 0
        weights = f"{cost.params - bias:,} weights + {bias:,} biases" if bias else f"{cost.params:,} parameters"
        lines.append(f"{weights} · {cost.macs:,} MACs")
    lines.append(op.label + ("" if not notes else " + " + ", ".join(notes)))
    top = fh / 2 + DEPTH[1] * fd + 0.2
    ax.text((x + right) / 2, -fh / 2 - (shown - 1) * step - 0.35, "\n".join(lines), ha="center", va="top",
            fontsize=fs, color=INK, linespacing=1.35)
    ax.annotate("", xy=(right + 0.5, 0), xytext=(right + 0.1, 0),
                arrowprops={"arrowstyle": "-|>", "color": INK, "lw": 1.2})
    del top
    return right + 1.0


def tensor_view(model: Model, title: Optional[str] = None, font_scale: float = 1.0) -> Any:
    """A matplotlib Figure: the model's feature maps as H×W×C boxes with the filters between them."""
    from matplotlib.figure import Figure

    steps = _steps(model)
    fs = 10.0 * font_scale
    fig = Figure(figsize=(3.6 * (len(steps) + 1), 4.6), layout="constrained")
    ax = fig.subplots()
    x = 0.0
    x = _map(ax, x, steps[0][0].in_shape, MAP_FILL, MAP_EDGE, fs)
    ax.annotate("", xy=(x + 0.75, 0), xytext=(x + 0.3, 0), arrowprops={"arrowstyle": "-|>", "color": INK, "lw": 1.2})
    x += 0.9
    for i, (op, notes) in enumerate(steps):
        x = _filters(ax, x, op, notes, fs)
        last = i == len(steps) - 1
        end = _map(ax, x, op.out_shape, OUT_FILL[0] if last else MAP_FILL, OUT_FILL[1] if last else MAP_EDGE, fs)
        x = end + 0.9
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.06, 0.18)
    ax.axis("off")
    first, out = steps[0][0].in_shape, steps[-1][0].out_shape
    fig.suptitle(title or f"{model.title}: {first[1]}×{first[2]}×{first[0]} → {out[1]}×{out[2]}×{out[0]}",
                 fontsize=fs * 1.3, weight="bold")
    return fig
