"""The one matplotlib setup of every archc chart (reports, probe figures, lecture figures): figures made
without pyplot (no global figure manager), styles applied inside `rc_context` (never the global rcParams),
and files whose bytes depend only on the figure (fixed SVG hash salt, no dates), written atomically.

Each family of charts keeps its own look and salt (reports: STYLE, text kept as SVG text; probe and
lecture figures: matplotlib's defaults), so committed outputs stay byte for byte; this module is where
those choices are made, not each caller."""
from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

STYLE = {  # the analysis reports' charts
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
FORMATS = ("svg", "png", "pdf")
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {"Software": None}}


def new_figure(rows: int, cols: int, figsize: tuple[float, float]) -> tuple[Any, list[list[Any]]]:
    """A constrained-layout Figure and its rows x cols axes (lists of lists), outside pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    return fig, [list(r) for r in axes]


@contextmanager
def styled_figure(rows: int, cols: int, figsize: tuple[float, float],
                  style: Mapping[str, Any] = STYLE) -> Iterator[tuple[Any, list[list[Any]]]]:
    """`new_figure` drawn (and saved, inside the block) under `style`, scoped to the block."""
    import matplotlib

    with matplotlib.rc_context(dict(style)):
        yield new_figure(rows, cols, figsize)


def figure_bytes(fig: Any, fmt: str, salt: str, dpi: float = 100) -> bytes:
    """The figure as svg, png or pdf bytes, with no date and SVG ids from `salt` (equal figures, equal bytes).
    Raises ValueError for another format."""
    import matplotlib

    if fmt not in FORMATS:
        raise ValueError(f"plot format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": salt}):
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=_METADATA[fmt])
    return buf.getvalue()


def save_figure(fig: Any, base: Path, formats: Sequence[str], salt: str, dpi: float) -> list[Path]:
    """`fig` as base.<fmt> for each of `formats` (svg, png, pdf), each written atomically; the paths."""
    from archc.io import atomic_write

    return [atomic_write(base.parent / f"{base.name}.{fmt}", figure_bytes(fig, fmt, salt, dpi)) for fmt in formats]
