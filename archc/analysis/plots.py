"""Matplotlib SVG plots for the reports, byte-for-byte deterministic (fixed hash salt, no date, text as text)."""
from __future__ import annotations

import io
import math
from typing import Any, Optional

STYLE = {
    "svg.hashsalt": "archc",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "path.simplify": False,
}
COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    plt = _plt()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "archc"}, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def stage_costs(title: str, names: list[str], params: list[int], macs: list[int]) -> str:
    """Two bar charts: params and MACs per stage."""
    plt = _plt()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), squeeze=False, layout="constrained")
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
    plt = _plt()
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 1, figsize=(max(5.0, 0.55 * len(names) + 2), 3.2), squeeze=False,
                                 layout="constrained")
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
    plt = _plt()
    from matplotlib.ticker import MaxNLocator

    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), squeeze=False, layout="constrained")
        for ax, dist, label, color in ((axes[0][0], dist_blocks, "path length (blocks)", COLORS[0]),
                                       (axes[0][1], dist_layers, "path length (weighted layers)", COLORS[4])):
            xs = sorted(dist)
            huge = bool(xs) and max(dist.values()) > 10**300  # beyond float64: draw the exponent
            heights = [_log10(dist[x]) if huge else float(dist[x]) for x in xs]  # exact ints overflow C longs
            ax.bar(xs, heights, color=color, width=0.9)
            ax.set_yscale("log" if xs and not huge and max(dist.values()) > 100 else "linear")
            ax.set_xlabel(label)
            ax.set_ylabel("log10(number of paths)" if huge else "number of paths")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if window is not None and ax is axes[0][0] and xs and max(xs) >= window[0]:
                ax.axvspan(window[0] - 0.5, window[1] + 0.5, color=COLORS[1], alpha=0.15,
                           label=f"lengths {window[0]}..{window[1]}")
                ax.legend(frameon=False)
        fig.suptitle(title)
        return _svg(fig)


def _log10(n: int) -> float:
    """log10 of an integer of any size (math.log10 takes ints beyond float range)."""
    return math.log10(n) if n > 0 else 0.0


def _clean(values: list[Optional[float]]) -> list[float]:
    return [v if v is not None and v > 0 else math.nan for v in values]


def init_curves(title: str, result: dict[str, Any]) -> str:
    """Activation std and gradient std per weighted layer, one line per scheme, one row per variant."""
    plt = _plt()
    variants = result["variants"]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(variants), 2, figsize=(9, 3.0 * len(variants)), squeeze=False,
                                 layout="constrained")
        for row, variant in enumerate(variants):
            for col, key, label in ((0, "activation_std", "std of activations"),
                                    (1, "gradient_std", "std of gradients")):
                ax = axes[row][col]
                for i, scheme in enumerate(sorted(result["results"])):
                    by_variant = result["results"][scheme]
                    ys = _clean(by_variant[variant][key])
                    ax.plot(range(1, len(ys) + 1), ys, label=scheme, color=COLORS[i % len(COLORS)], linewidth=1.2)
                ax.set_yscale("log")
                ax.set_xlabel("weighted layer (conv/fc), input to output")
                ax.set_ylabel(label)
                ax.set_title(variant)
                if row == 0 and col == 0:
                    ax.legend(frameon=False, fontsize=8)
        fig.suptitle(title)
        return _svg(fig)
