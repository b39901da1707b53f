"""The figures of a probe report that compare runs: error curves, gradient norm against depth, training
curves, path gradients (each drawn where the runs recorded it)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from archc.probe.lecture_plots import error_curves
from archc.probe.plots import _paths_axes, gradnorm_comparison, training_comparison


def comparison_plots(results: Sequence, out_dir: Path, formats: Sequence[str] = ("svg",),
                     title: str = "") -> list[Path]:
    """Figures comparing several runs on shared axes; `title` (default: made from the runs) heads the
    error-curve figure, the lecture figure."""
    out = []
    if any(r.test_error for r in results):
        out += error_curves(results, out_dir / "error_curves", formats, title)
    if any(r.norms for r in results):
        out += gradnorm_comparison(results, out_dir / "gradnorm_depth", formats)
    if any(r.loss for r in results):
        out += training_comparison(results, out_dir / "training_curves", formats)
    with_paths = [r for r in results if r.path_gradients]
    if with_paths:
        out += _paths_axes(with_paths, out_dir / "path_gradients", formats,
                           "Path-length gradients (Veit et al. 2016, Sec. 5)")
    return out
