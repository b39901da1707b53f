"""The error figure of the degradation lecture, in the style of He et al. 2016 (Fig. 1 and Fig. 6): training
error as thin lines, test error as bold lines, plain nets and residual nets in separate panels, one colour
per depth shared by both panels (plain-20 and ResNet-20 alike)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

PANEL_TITLES = {"plain": "plain nets", "residual": "residual nets (ResNets)", "": "nets"}


def _depth_colors(results: Sequence) -> dict[int, object]:
    import matplotlib

    depths = sorted({int(r.model.get("depth") or 0) for r in results})
    cmap = matplotlib.colormaps["tab10"]
    return {d: cmap(i % 10) for i, d in enumerate(depths)}


def error_curves(results: Sequence, base: Path, formats: Sequence[str], title: str = "") -> list[Path]:
    """Training error (running mean of the batch error, thin) and test error (bold, at each test) against the
    step, in percent; a panel per kind of net (plain, residual) in the order the runs are given."""
    from archc.probe.naming import mpl_text
    from archc.probe.plots import _figure, _integer_ticks, _lab, save, smooth, smoothing_window, training_title

    kinds = [k for k in ("plain", "residual") if any(r.kind == k for r in results)]
    if any(r.kind not in ("plain", "residual") for r in results) or not kinds:
        kinds = [""]  # a kind not recorded: every run in one panel
    fig, axes = _figure(6.0 * len(kinds), 4.6, len(kinds))
    colors = _depth_colors(results)
    windows = set()
    top = 0.0
    for ax, kind in zip(axes, kinds):
        for r in results:
            if kinds != [""] and r.kind != kind:
                continue
            color = colors[int(r.model.get("depth") or 0)]
            if r.acc:
                w = smoothing_window(len(r.acc))
                if len(r.acc) >= 6:  # a run stopped at once is drawn, but does not name the window
                    windows.add(w)
                error = [100.0 * (1.0 - a) for a in r.acc]
                train = smooth(error, w) if w > 1 else error
                ax.plot(range(1, len(train) + 1), train, color=color, lw=0.8, alpha=0.85)
                top = max(top, max(train[len(train) // 10:] or train))
            if r.test_error:
                test = [100.0 * e for e in r.test_error]
                marker = {"marker": "o", "ms": 3} if len(test) <= 12 else {}
                ax.plot(r.test_steps, test, color=color, lw=2.4, label=_lab(r), **marker)
                top = max(top, max(test))
            elif r.acc:
                ax.plot([], [], color=color, lw=2.4, label=f"{_lab(r)} (no test part)")
            if r.status == "nonfinite" and r.nonfinite:
                ax.axvline(r.nonfinite["step"], color=color, ls=":", lw=1)
        ax.set(xlabel="step", title=PANEL_TITLES[kind])
        ax.set_xlim(0, max([len(r.acc) for r in results] + [s for r in results for s in r.test_steps] + [1]))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
        _integer_ticks(ax)
    window = f"running mean of {min(windows)} steps" if len(windows) == 1 and windows != {1} else \
        "per batch" if windows == {1} else "running mean"
    axes[0].set_ylabel(f"error (%)\nthin: training ({window}); bold: test")
    for ax in axes:  # the early plateau at chance would squeeze the curves that matter into the bottom
        ax.set_ylim(0, min(100.0, max(5.0, 1.15 * top)))
    data = results[0].data if results else {}
    tested = data.get("test_images")
    shape = data.get("shape") or []
    size = f" at {shape[1]}x{shape[2]}" if len(shape) == 3 else ""
    on = f"\ndata: {data.get('name')}{size}" + (f", {tested:,} held-out test images" if tested else "") \
        if data.get("name") else ""
    fig.suptitle(mpl_text(title) if title else mpl_text(training_title(results, "Training and test error")) + on)
    return save(fig, base, formats)
