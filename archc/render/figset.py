"""The set of lecture figures `archc figures` makes, their lecture numbers, how each is written
(Graphviz drawing, matplotlib figure or a writer of its own), and the index page reports/figures/index.md."""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import graphviz

from archc.render import figures as gv
from archc.render import lecture

DEFAULT_FORMATS = "svg,pdf,png"
INDEX = "index.md"


@dataclass(frozen=True)
class Figure:
    make: Callable[..., Any]  # () -> graphviz.Digraph | matplotlib Figure; or (base, formats) -> paths
    doc: str
    lecture: tuple[int, ...]  # the lecture's figure numbers it stands for
    command: str = ""  # a direct command that draws the same (besides `archc figures --only NAME`)
    writes_itself: bool = False

    @property
    def is_diagram(self) -> bool:
        """A Graphviz drawing (it has DOT source), not a matplotlib chart: by `make`'s return annotation."""
        import inspect

        return not self.writes_itself and "Digraph" in str(inspect.signature(self.make).return_annotation)


FIGURES: dict[str, Figure] = {
    "probe_plain_depth": Figure(lecture.fig_probe_plain, "plain-20 vs plain-56: training and test error (probe run)",
                                (1,), "archc probe --replot reports/probe/degradation --runs Plain-20,Plain-56",
                                writes_itself=True),
    "inception_naive_vs_reduced": Figure(gv.fig_inception, "naive inception module vs 1x1 reductions, MAC totals",
                                         (2, 3)),
    "conv1x1_tensors": Figure(lecture.fig_conv1x1, "how a 1x1 convolution works: H×W×C boxes, F filters of 1×1×C",
                              (4,)),
    "googlenet_stage": Figure(gv.fig_googlenet, "GoogLeNet (paper) with its two aux classifiers, stage level", (5,),
                              "archc diagram googlenet --columns 3"),
    "googlenet_aux1": Figure(lecture.fig_aux1, "one auxiliary classifier (aux1) in detail, training only, loss × 0.3",
                             (6,), "archc diagram googlenet --focus aux1"),
    "probe_plain_vs_residual": Figure(lecture.fig_probe_both, "plain vs residual nets: training and test error",
                                      (7,), "archc probe --replot reports/probe/degradation", writes_itself=True),
    "residual_block_generic": Figure(lecture.fig_generic_block, "x → weight layer → relu → weight layer → +x → relu",
                                     (8,), "archc diagram SPEC --focus stage1.block1 --generic-labels"),
    "residual_basic_vs_bottleneck": Figure(gv.fig_residual_blocks, "basic vs bottleneck residual block, params", ()),
    "residual_shortcuts": Figure(gv.fig_shortcuts, "identity vs projection vs zero-pad shortcut", ()),
    "unraveled_paths": Figure(gv.fig_unraveled, "n residual blocks as 2^n paths (--unravel-blocks, default 3)",
                              (9,)),
    "vgg19_plain34_resnet34": Figure(gv.fig_columns, "He et al. Fig. 3: VGG-19 / plain-34 / ResNet-34, 16:9 slide",
                                     (10,)),
    "vgg19_plain34_resnet34_a4": Figure(gv.fig_columns_page, "the same in two panels, for an A4 page (portrait)",
                                        (10,)),
    "he_init": Figure(lecture.fig_he_init, "He initialisation: activations across depth, norm layers removed", (11,),
                      "archc analyze plain34 --full (the numbers)"),
    "resnet50_stage": Figure(gv.fig_resnet50, "ResNet-50 at stage level", (), "archc diagram resnet50"),
}
# the lectures after ResNet: each bundled network at stage level (spec, title, columns)
AFTER_RESNET = (("preact_resnet18", "pre-activation ResNet-18", 1), ("cifar/preact_resnet164", "pre-activation "
                 "ResNet-164 (CIFAR)", 1), ("resnext50_32x4d", "ResNeXt-50 32x4d", 1),
                ("wide_resnet50_2", "Wide ResNet-50-2", 1), ("se_resnet50", "SE-ResNet-50", 1),
                ("densenet121", "DenseNet-121", 1), ("mobilenet_v2", "MobileNet-V2", 1),
                ("inception_v3", "Inception-v3 with its aux classifier", 3))
for _spec, _title, _columns in AFTER_RESNET:
    FIGURES[f"{_spec.rsplit('/', 1)[-1]}_stage"] = Figure(
        partial(gv.fig_stage, _spec, _columns), f"{_title} at stage level", (),
        f"archc diagram {_spec}" + (f" --columns {_columns}" if _columns > 1 else ""))
LECTURE_TITLES = {
    1: "deeper plain nets do worse (plain-20 vs plain-56)", 2: "the naive inception module",
    3: "the inception module with 1×1 reductions", 4: "how a 1×1 convolution works",
    5: "the whole GoogLeNet with its auxiliary classifiers", 6: "one auxiliary classifier in detail",
    7: "training error of plain vs residual nets", 8: "the residual building block",
    9: "the unraveled view", 10: "VGG-19 / 34-layer plain / 34-layer residual", 11: "He initialisation",
}


def write_one(name: str, base: Path, fmts: list[str], echo: Callable[[str], None],
              unravel_blocks: int = 3) -> list[Path]:
    from archc.render import write_rendered

    fig = FIGURES[name]
    if fig.writes_itself:
        return fig.make(base, fmts)
    made = fig.make(unravel_blocks) if name == "unraveled_paths" else fig.make()
    if isinstance(made, graphviz.Digraph):
        return write_rendered(made.source, base.parent, base.name, fmts, echo=echo, strict=True)
    return lecture.save_figure(made, base, fmts)


def index_text(names: Iterable[str], fmts: list[str], unravel_blocks: int = 3) -> str:
    """reports/figures/index.md: each lecture figure, its files and the command that made them."""
    chosen = list(names)
    by_number: dict[int, list[str]] = {}
    for name in chosen:
        for n in FIGURES[name].lecture:
            by_number.setdefault(n, []).append(name)
    option = f" --unravel-blocks {unravel_blocks}" if unravel_blocks != 3 else ""
    lines = ["# Lecture figures", "", "Made by `archc figures` (all of them: `archc figures -f "
             f"{','.join(fmts)}{option}`); one figure: `archc figures --only NAME`. Generated; do not edit.", "",
             "| # | lecture figure | files | command |", "|---|---|---|---|"]
    for number, title in LECTURE_TITLES.items():
        for k, name in enumerate(by_number.get(number, [])):
            files = " · ".join(f"[{f}]({name}.{f})" for f in fmts if f != "dot" or not FIGURES[name].writes_itself)
            direct = f"; `{FIGURES[name].command}`" if FIGURES[name].command else ""
            what = title if k == 0 else f"{title}: {FIGURES[name].doc}"
            lines.append(f"| {number} | {what} | `{name}` ({files}) | `archc figures --only {name}`{direct} |")
    extra = [n for n in chosen if not FIGURES[n].lecture]
    if extra:
        lines += ["", "Also drawn: " + ", ".join(f"`{n}` ({FIGURES[n].doc})" for n in extra) + "."]
    return "\n".join(lines) + "\n"


def write_figures(out_dir: Path, fmts: str = DEFAULT_FORMATS, names: Optional[Iterable[str]] = None,
                  echo: Callable[[str], None] = print, unravel_blocks: int = 3) -> list[Path]:
    """Draw the figures into `out_dir` (atomically, all together), with index.md when all are drawn.
    Without Graphviz every diagram's DOT source is written first, then GraphvizMissing is raised."""
    from archc.io import atomic_write
    from archc.outdir import OutputFolder
    from archc.render import parse_formats, write_rendered
    from archc.render.tool import INSTALL_HINT, GraphvizMissing, find_dot

    chosen = list(names) if names else list(FIGURES)
    formats = parse_formats(fmts)
    if formats == ["dot"] and not any(FIGURES[name].is_diagram for name in chosen):
        raise ValueError(f"{', '.join(chosen)}: charts, not Graphviz diagrams, have no DOT source; "
                         "expected -f svg, pdf or png")
    folder = OutputFolder(out_dir, "figures")
    show = lambda line: echo(line.replace(str(stage.path), str(folder.path)))  # noqa: E731
    if any(f != "dot" for f in formats) and find_dot() is None:
        with folder.stage() as stage:
            for name in chosen:
                made = FIGURES[name]
                if made.is_diagram:
                    write_rendered((made.make(unravel_blocks) if name == "unraveled_paths" else made.make()).source,
                                   stage.path, name, "dot", echo=show)
        raise GraphvizMissing(f"Graphviz `dot` was not found on PATH; wrote the DOT sources of the diagrams to "
                              f"{out_dir} instead; {INSTALL_HINT}")
    with folder.stage() as stage:  # all figures appear together; never over a file archc did not write
        for name in chosen:
            paths = write_one(name, stage.path / name, formats, show, unravel_blocks)
            if paths:
                show("  " + ", ".join(str(p) for p in paths))
            else:  # a matplotlib figure has no DOT source
                show(f"  {name}: not drawn: a chart, not a Graphviz diagram, has no DOT source (-f svg, pdf or png)")
        if not names:
            atomic_write(stage.path / INDEX, index_text(chosen, formats, unravel_blocks))
    return stage.written


def figure_files(fmts: str, names: Optional[Iterable[str]] = None) -> list[str]:
    """The file names `write_figures` writes (for the check before any work)."""
    from archc.render import parse_formats

    chosen = list(names) if names else list(FIGURES)
    return [f"{name}.{f}" for name in chosen for f in parse_formats(fmts)] + ([] if names else [INDEX])


