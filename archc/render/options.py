"""What a diagram draws and how (`DrawOptions`), checked when made."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

LEVELS = ("stage", "block", "layer")
ANNOTATIONS = ("params", "macs", "share")
RANKDIRS = ("TB", "LR", "BT", "RL")


@dataclass
class DrawOptions:
    """What to draw and how. `node_values` (IR path -> number, e.g. gradient norms) colours the nodes."""

    level: str = "stage"
    rankdir: str = "TB"
    annotate: tuple = ()
    exact_numbers: bool = False  # annotations as 120,422,400 instead of 120M
    focus: Optional[str] = None
    shapes: bool = True  # output shape C×H×W on edges
    legend: bool = True
    clusters: bool = True  # a cluster per stem/stage/block/module/head
    unit_details: bool = True  # the "BN, relu" line under a conv unit
    title: Optional[str] = None  # None: "<model title> (<level> level)"; "": no title
    node_values: Optional[Mapping[str, float]] = None
    value_label: str = "value"
    value_scale: Optional[str] = None  # linear | log | None (log when the values span > 100x)
    prefix: str = ""  # node id prefix, for several drawings in one graph
    input_label: str = "input"
    output_label: str = "output"
    graph_attrs: dict = field(default_factory=dict)
    large: Optional[bool] = None  # a straight, cluster-free layout for very deep nets; None: above LARGE_OPS ops
    caption: Optional[str] = None  # a line of the user's under the drawing
    generic_labels: bool = False  # every weighted layer (conv, fc) labelled "weight layer" (He et al. Fig. 2)
    font_scale: float = 1.0  # every font times this (slides: 1.5 to 2)
    fit: Optional[str] = None  # slide | a4 | a4-landscape: the drawing scaled to fit (archc.render.present.FITS)
    columns: int = 1  # the top-level parts dealt into this many side-by-side columns (archc.render.fold)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}; expected one of {', '.join(LEVELS)}")
        self.rankdir = str(self.rankdir).upper()
        if self.rankdir not in RANKDIRS:
            raise ValueError(f"unknown rankdir {self.rankdir!r}; expected one of {', '.join(RANKDIRS)}")
        if isinstance(self.annotate, str):
            self.annotate = tuple(a.strip() for a in self.annotate.split(",") if a.strip())
        bad = [a for a in self.annotate if a not in ANNOTATIONS]
        if bad:
            raise ValueError(f"unknown annotation {bad[0]!r}; expected a comma list of {', '.join(ANNOTATIONS)}")
        self.annotate = tuple(a for a in ANNOTATIONS if a in self.annotate)  # canonical order
        from archc.render.present import check_fit, check_font_scale

        self.font_scale = check_font_scale(self.font_scale)
        self.fit = check_fit(self.fit)
        from archc.render.fold import check_columns

        self.columns = check_columns(self.columns)
        if self.focus is not None and not str(self.focus).strip():
            raise ValueError("focus is empty: expected a path (stage3.block2) or a unique name (inception3a)")
        if self.columns > 1 and (self.focus or self.rankdir != "TB"):
            raise ValueError("columns folds the whole network drawn top to bottom: not with a focus or a rankdir "
                             "other than TB")
