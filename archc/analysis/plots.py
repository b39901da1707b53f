"""Matplotlib SVG plots for the reports, byte-for-byte deterministic (fixed hash salt, no date, text as text).

Cheap to draw: figures are made with `matplotlib.figure.Figure` (no pyplot, no global figure manager),
styled inside `rc_context` (never the global rcParams), laid out once by constrained layout and saved
without a second tight-bbox pass; log-axis tick labels are plain text ("10⁻³") instead of mathtext,
whose parser was a quarter of an init figure's drawing time.
"""
from __future__ import annotations

import io
import math
import re
from typing import Any, Optional

from archc.plotting import COLORS, STYLE, styled_figure

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
_MATHTEXT = re.compile(r"^\$\\mathdefault\{(.*)\}\$$")


def plain_tick(label: str) -> str:
    """A log-axis tick label from matplotlib's mathtext form to plain text: 10^{-3} -> 10⁻³, \\times -> ×."""
    match = _MATHTEXT.match(label)
    if not match:
        return label
    body = match.group(1).replace("\\times", "×")
    return re.sub(r"\^\{(-?\d+)\}", lambda m: m.group(1).translate(_SUPERSCRIPT), body)


def _log_formatter(minor: bool) -> Any:
    from matplotlib.ticker import LogFormatterSciNotation

    class PlainLogFormatter(LogFormatterSciNotation):
        """matplotlib's choice of which log ticks to label, written without mathtext."""

        def __call__(self, x: float, pos: Optional[int] = None) -> str:
            return plain_tick(super().__call__(x, pos))

    return PlainLogFormatter(labelOnlyBase=not minor)


def _log_y(ax: Any) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(_log_formatter(minor=False))
    ax.yaxis.set_minor_formatter(_log_formatter(minor=True))


def _figure(rows: int, cols: int, figsize: tuple[float, float]) -> Any:
    """The one figure setup of every report chart: archc.plotting's STYLE scoped to this figure."""
    return styled_figure(rows, cols, figsize, STYLE)


def _svg(fig: Any) -> str:
    """Saved inside `_figure`'s block, so STYLE's SVG settings (text as text, its salt) apply."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "archc"})
    return buf.getvalue()


def stage_costs(title: str, names: list[str], params: list[int], macs: list[int]) -> str:
    """Two bar charts: params and MACs per stage."""
    with _figure(1, 2, (9, 3.2)) as (fig, axes):
        for ax, values, label, color in ((axes[0][0], params, "params (M)", COLORS[0]),
                                         (axes[0][1], macs, "GMACs (1 MAC = 1 multiply-add)", COLORS[1])):
            scale = 1e6 if label.startswith("params") else 1e9
            ax.bar(range(len(names)), [v / scale for v in values], color=color)
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=30, ha="right")
            ax.set_ylabel(label)
        fig.suptitle(f"{title}: cost per stage")
        return _svg(fig)


def paired_bars(title: str, names: list[str], specified: list[int], other: list[int], other_label: str,
                ylabel: str) -> str:
    """Specified vs counterfactual, per module or stage (log scale when values span decades)."""
    with _figure(1, 1, (max(5.0, 0.55 * len(names) + 2), 3.2)) as (fig, axes):
        ax = axes[0][0]
        xs = range(len(names))
        ax.bar([x - 0.2 for x in xs], [v / 1e6 for v in other], width=0.4, label=other_label, color=COLORS[3])
        ax.bar([x + 0.2 for x in xs], [v / 1e6 for v in specified], width=0.4, label="as specified", color=COLORS[2])
        ax.set_xticks(list(xs))
        ax.set_xticklabels(names, rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False)
        ax.set_title(title)
        return _svg(fig)


def path_histogram(title: str, dist_blocks: dict[int, int], dist_layers: dict[int, int],
                   window: Optional[tuple[int, int]] = None) -> str:
    """Number of paths per length (log scale), in blocks and in weighted layers."""
    from matplotlib.ticker import MaxNLocator

    with _figure(1, 2, (9, 3.2)) as (fig, axes):
        for ax, dist, label, color in ((axes[0][0], dist_blocks, "path length (blocks)", COLORS[0]),
                                       (axes[0][1], dist_layers, "path length (weighted layers)", COLORS[4])):
            xs = sorted(dist)
            huge = bool(xs) and max(dist.values()) > 10**300  # beyond float64: draw the exponent
            heights = [_log10(dist[x]) if huge else float(dist[x]) for x in xs]  # exact ints overflow C longs
            _bars(ax, xs, heights, color, width=0.9)
            if xs and not huge and max(dist.values()) > 100:
                _log_y(ax)
            ax.set_xlabel(label)
            ax.set_ylabel("log10(number of paths)" if huge else "number of paths")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if window is not None and ax is axes[0][0] and xs and max(xs) >= window[0]:
                ax.axvspan(window[0] - 0.5, window[1] + 0.5, color=COLORS[1], alpha=0.15,
                           label=f"lengths {window[0]}..{window[1]}")
                ax.legend(frameon=False)
        fig.suptitle(title)
        return _svg(fig)


def _bars(ax: Any, xs: list[int], heights: list[float], color: str, width: float) -> None:
    """A bar chart as one artist (a polygon collection): what `ax.bar` draws, without one patch object per bar
    (a 1,202-layer net has 1,200 bars)."""
    from matplotlib.collections import PolyCollection

    half = width / 2
    bars = PolyCollection([[(x - half, 0.0), (x - half, h), (x + half, h), (x + half, 0.0)] for x, h in zip(xs, heights)],
                          facecolors=color, edgecolors="none", linewidths=0)
    bars.sticky_edges.y.append(0.0)  # as ax.bar: no margin below the bars' base
    ax.add_collection(bars)
    ax.autoscale_view()


def _log10(n: int) -> float:
    """log10 of an integer of any size (math.log10 takes ints beyond float range)."""
    return math.log10(n) if n > 0 else 0.0


def _clean(values: list[Optional[float]]) -> list[float]:
    return [v if v is not None and v > 0 else math.nan for v in values]


def init_curves(title: str, result: dict[str, Any]) -> str:
    """Activation std and gradient std per weighted layer, one line per scheme, one row per variant."""
    variants = result["variants"]
    with _figure(len(variants), 2, (9, 3.0 * len(variants))) as (fig, axes):
        for row, variant in enumerate(variants):
            for col, key, label in ((0, "activation_std", "std of activations"),
                                    (1, "gradient_std", "std of gradients")):
                ax = axes[row][col]
                for i, scheme in enumerate(sorted(result["results"])):
                    by_variant = result["results"][scheme]
                    ys = _clean(by_variant[variant][key])
                    ax.plot(range(1, len(ys) + 1), ys, label=scheme, color=COLORS[i % len(COLORS)], linewidth=1.2)
                _log_y(ax)
                ax.set_xlabel("weighted layer (conv/fc), input to output")
                ax.set_ylabel(label)
                ax.set_title(variant)
                if row == 0 and col == 0:
                    ax.legend(frameon=False, fontsize=8)
        fig.suptitle(title)
        return _svg(fig)
