"""Probe figures (matplotlib, no pyplot state): gradient norm against depth, training curves (the
degradation figure of He et al. 2016, Fig. 1), and path-length gradients (Veit et al. 2016, Fig. 6).
Files are written atomically; SVGs carry no date, so the same numbers give the same bytes."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

from archc.plotting import new_figure, save_figure
from archc.probe.naming import slug

SALT, DPI = "archc-probe", 120


def _figure(width: float = 10.0, height: float = 4.0, panels: int = 1) -> tuple:
    fig, axes = new_figure(1, panels, (width, height))
    return fig, axes[0]


def save(fig: object, base: Path, formats: Sequence[str]) -> list[Path]:
    """fig as base.<fmt> for each format (svg, png, pdf), through archc.plotting (equal figures, equal bytes)."""
    return save_figure(fig, base, formats, SALT, DPI)


def _lab(result) -> str:
    """A run's label as matplotlib should show it ('$' literal), with how the run ended when it stopped early."""
    from archc.probe.naming import mpl_text

    label = mpl_text(result.label)
    if result.status == "nonfinite" and result.nonfinite:
        return f"{label} (diverged at step {result.nonfinite['step']})"
    if result.status == "interrupted":
        return f"{label} (interrupted, {result.steps_done} of {result.config.steps} steps)"
    return label


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing running mean (NaNs skipped)."""
    out, acc, q = [], 0.0, []
    for v in values:
        v = float(v)
        q.append(v if math.isfinite(v) else 0.0)
        acc += q[-1]
        if len(q) > window:
            acc -= q.pop(0)
        out.append(acc / len(q))
    return out


def _main_series(result, norms: Sequence[float]) -> tuple[list[int], list[float], list[int], list[float]]:
    xs, ys, sx, sy = [], [], [], []
    for layer, v in zip(result.layers, norms):
        if not (math.isfinite(v) and v > 0):
            continue
        if layer.role == "main":
            xs.append(layer.depth)
            ys.append(v)
        elif layer.role == "shortcut":
            sx.append(layer.depth)
            sy.append(v)
    return xs, ys, sx, sy


def per_depth_mean(xs: Sequence[int], ys: Sequence[float]) -> tuple[list[int], list[float]]:
    """Mean of the values at each depth, depths ascending (several layers share a depth in a branched net)."""
    groups: dict[int, list[float]] = {}
    for x, y in zip(xs, ys):
        groups.setdefault(int(x), []).append(float(y))
    depths = sorted(groups)
    return depths, [sum(groups[d]) / len(groups[d]) for d in depths]


def _shared_depths(results: Sequence) -> bool:
    """Whether some depth holds more than one main-path layer in any of the runs."""
    for r in results:
        depths = [layer.depth for layer in r.layers if layer.role == "main"]
        if len(set(depths)) < len(depths):
            return True
    return False


def _integer_ticks(ax: object) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # type: ignore[attr-defined]


def _plot_depth(ax: object, xs: Sequence[int], ys: Sequence[float], color, label: str, shared: bool,
                lw: float = 1.2) -> None:
    """One series of norm against depth: the layers as dots and, when depths are shared, a line through the
    per-depth mean (else the line joins the layers themselves)."""
    if shared:
        ax.plot(xs, ys, ".", ms=3, color=color, alpha=0.6)  # type: ignore[attr-defined]
        mx, my = per_depth_mean(xs, ys)
        ax.plot(mx, my, "-", lw=lw, color=color, label=label)  # type: ignore[attr-defined]
    else:
        ax.plot(xs, ys, "-o", ms=2.5, lw=lw, color=color, label=label)  # type: ignore[attr-defined]


DEPTH_LABEL = "depth (conv/fc layers on the longest path from the input)"


def _depth_axes(ax: object, title: str, shared: bool) -> None:
    ax.set_yscale("log")  # type: ignore[attr-defined]
    ax.set_xlabel(DEPTH_LABEL)  # type: ignore[attr-defined]
    ylabel = "gradient L2 norm of the weight"
    if shared:
        ylabel += "\n(dots: layers; line: mean over the layers of a depth)"
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.grid(True, which="both", alpha=0.3)  # type: ignore[attr-defined]
    _integer_ticks(ax)


def _colors(n: int) -> list:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def gradnorm_comparison(results: Sequence, base: Path, formats: Sequence[str]) -> list[Path]:
    fig, (a0, a1) = _figure(12, 4.5, 2)
    shared = _shared_depths(results)
    any_shortcut = False
    for color, r in zip(_colors(len(results)), results):
        for ax, norms in ((a0, r.init_norms), (a1, r.final_norms)):
            if not norms:
                continue
            xs, ys, sx, sy = _main_series(r, norms)
            _plot_depth(ax, xs, ys, color, _lab(r), shared)
            if sx:
                any_shortcut = True
                ax.plot(sx, sy, "x", ms=5, color=color)
    _depth_axes(a0, "at initialisation (step 1)", shared)
    end_text = _end_steps([r for r in results if r.norm_steps])
    last = max(r.norm_steps[-1] for r in results if r.norm_steps) if any(r.norm_steps for r in results) else 0
    _depth_axes(a1, f"at the end (step {last})", shared)  # the suptitle names the runs that ended early
    a0.legend(fontsize=8)
    fig.suptitle(f"Gradient norm against depth at step 1 and at the end ({end_text})"
                 + (" (x: shortcut projections)" if any_shortcut else ""))
    return save(fig, base, formats)


def _end_steps(results: Sequence) -> str:
    """'step 1000', or 'step 1000; ResNet-56 stopped at step 2' when a run ended early."""
    from archc.probe.naming import mpl_text

    last = max(r.norm_steps[-1] for r in results) if results else 0
    early = [f"{mpl_text(r.label)} at step {r.norm_steps[-1]}" for r in results if r.norm_steps[-1] != last]
    return f"step {last}" + (f"; ended early: {', '.join(early)}" if early else "")


def smoothing_window(steps: int) -> int:
    """Running-mean window of the training curves: about a twentieth of the run, at least 5 steps where the
    run has 15 or more, steps // 3 below that; 1 (no smoothing) for runs under 6 steps."""
    w = max(steps // 20, min(5, steps // 3))
    return w if w >= 2 else 1


def _batch_norm(results: Sequence) -> str:
    """'with' when every run's net has norm layers, 'without' when none has, '' when mixed or not recorded."""
    counts = [r.model.get("norm_layers") for r in results]
    if None in counts:
        return ""
    return "with" if all(counts) else "without" if not any(counts) else ""


def training_title(results: Sequence, what: str = "Training curves") -> str:
    """Names He et al.'s degradation experiment only for what it is: plain and residual nets, with batch norm
    (or norm not recorded: runs made before the probe recorded it)."""
    kinds = {r.kind for r in results}
    bn = _batch_norm(results)
    if {"plain", "residual"} <= kinds:
        if bn == "without":
            return f"{what} of plain and residual nets without batch norm"
        return f"{what} of plain and residual nets (the degradation experiment of He et al. 2016, Fig. 1)"
    if what == "Training curves":
        return "Training curves: loss and error per step"
    return what


def training_comparison(results: Sequence, base: Path, formats: Sequence[str]) -> list[Path]:
    fig, (a0, a1) = _figure(12, 4.5, 2)
    runs = [r for r in results if r.loss]
    windows = {smoothing_window(len(r.loss)) for r in runs}
    smoothed = windows != {1}
    for color, r in zip(_colors(len(results)), results):
        if not r.loss:
            continue
        w = smoothing_window(len(r.loss))
        steps = list(range(1, len(r.loss) + 1))
        marker = {"marker": "o", "ms": 3} if len(steps) <= 20 else {}
        label = _lab(r) if len(windows) == 1 else f"{_lab(r)} ({'per batch' if w == 1 else f'mean of {w}'})"
        if w > 1:
            a0.plot(steps, r.loss, color=color, alpha=0.2, lw=0.7)
        error = [1 - a for a in r.acc]
        a0.plot(steps, smooth(r.loss, w) if w > 1 else r.loss, color=color, lw=1.6, label=label, **marker)
        a1.plot(steps, smooth(error, w) if w > 1 else error, color=color, lw=1.6, label=label, **marker)
        if r.status == "nonfinite" and r.nonfinite:
            a0.axvline(r.nonfinite["step"], color=color, ls=":", lw=1)
    if not smoothed:
        loss_label, error_label = "training loss (per batch)", "training error (per batch)"
    elif len(windows) == 1:
        (w,) = windows
        loss_label = f"training loss\n(faint: per batch; bold: running mean of {w} steps)"
        error_label = f"training error\n(running mean of {w} steps)"
    else:
        loss_label = "training loss\n(faint: per batch; bold: running mean)"
        error_label = "training error\n(running mean; window in the legend)"
    a0.set(xlabel="step", ylabel=loss_label, title="training loss", yscale="log")
    a1.set(xlabel="step", ylabel=error_label, title="training error")
    a1.set_ylim(0, 1.02)  # an error of 1 stays visible
    for ax in (a0, a1):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        _integer_ticks(ax)
    fig.suptitle(training_title(results))
    return save(fig, base, formats)


def _paths_axes(results: Sequence, base: Path, formats: Sequence[str], title: str) -> list[Path]:
    fig, (a0, a1) = _figure(12, 4.5, 2)
    for color, r in zip(_colors(len(results)), results):
        pg = r.path_gradients
        ks = [k for k, m in zip(pg["k"], pg["mean"]) if m]
        means = [m for m in pg["mean"] if m]
        a0.plot(ks, means, "-o", ms=3, color=color, label=f"{_lab(r)} (n={pg['blocks']})")
        a1.plot(pg["k"], pg["weighted"], "-o", ms=3, color=color, label=f"{_lab(r)}: gradient-weighted")
        a1.plot(pg["k"], pg["path_fraction"], "--", lw=1, color=color, alpha=0.6,
                label=f"{_lab(r)}: share of paths, Binomial(n, 1/2)")
    a0.set_yscale("log")
    a0.set(xlabel="path length k (residual branches on the path)", ylabel="gradient magnitude at the input",
           title="gradient carried by one path of length k")
    a1.set(xlabel="path length k", ylabel="fraction", title="where the gradient comes from")
    for ax in (a0, a1):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
        _integer_ticks(ax)
    fig.suptitle(title)
    return save(fig, base, formats)


def result_plots(result, out_dir: Path, formats: Sequence[str] = ("svg",), stem: str = "") -> list[Path]:
    """One run: gradient norm vs depth at every kept step, its training curves, its path gradients; files
    named `<stem>_gradnorm` ... (stem: the label's slug by default)."""
    name = stem or slug(result.label)
    out = []
    if result.norms:
        import matplotlib

        fig, (ax,) = _figure(8, 4.5)
        cmap = matplotlib.colormaps["viridis"]
        shared = _shared_depths([result])
        n = len(result.norm_steps)
        for i, (step, norms) in enumerate(zip(result.norm_steps, result.norms)):
            xs, ys, _, _ = _main_series(result, norms)
            _plot_depth(ax, xs, ys, cmap(i / max(1, n - 1)), f"step {step}", shared)
        _depth_axes(ax, f"{_lab(result)}: gradient norm against depth, steps {result.norm_steps[0]}–"
                        f"{result.norm_steps[-1]}", shared)
        ax.legend(fontsize=7, ncol=2)
        out += save(fig, out_dir / f"{name}_gradnorm", formats)
    if result.loss:
        out += training_comparison([result], out_dir / f"{name}_training", formats)
    if result.path_gradients:
        out += _paths_axes([result], out_dir / f"{name}_paths", formats, f"{_lab(result)}: path-length gradients")
    return out
