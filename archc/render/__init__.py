"""Diagrams from the IR: Graphviz DOT built with the `graphviz` package, rendered by the real `dot`.

    from archc.render import write_diagram, dot_source
    write_diagram(archc.lower("specs/resnet50.yaml"), Path("build/resnet50"), level="block", fmt="pdf")
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Union

from archc.io import atomic_write
from archc.ir.graph import Model
from archc.render.diagram import dot_source, resolve_focus, to_dot
from archc.render.draw import ANNOTATIONS, LEVELS, RANKDIRS, DrawOptions
from archc.render.tool import FORMATS, INSTALL_HINT, GraphvizMissing, find_dot, render_source

__all__ = ["write_diagram", "write_rendered", "diagram_stem", "dot_source", "to_dot", "resolve_focus",
           "render_source", "find_dot", "DrawOptions", "GraphvizMissing", "LEVELS", "FORMATS", "ANNOTATIONS",
           "RANKDIRS", "INSTALL_HINT"]


def diagram_stem(model: Model, level: str = "stage", focus: Optional[str] = None) -> str:
    """File name stem: `resnet50` (stage level, as `archc build` writes it), `resnet50_block`,
    `resnet50_layer`, `googlenet_inception3a` (a focus at the default layer level)."""
    if focus:
        target = resolve_focus(model, focus)
        stem = f"{model.name}_{target.path.replace('.', '_')}"
        return stem if level == "layer" else f"{stem}_{level}"
    return model.name if level == "stage" else f"{model.name}_{level}"


def parse_formats(fmt: Union[str, Iterable[str]]) -> list[str]:
    from archc.render.tool import check_format

    items = fmt.split(",") if isinstance(fmt, str) else list(fmt)
    out = []
    for item in items:
        f = check_format(item.strip())
        if f not in out:
            out.append(f)
    if not out:
        raise ValueError(f"no output format given; expected one of {', '.join(FORMATS)}")
    return out


def write_rendered(source: str, out_dir: Path, stem: str, fmt: Union[str, Iterable[str]] = "svg",
                   echo: Callable[[str], None] = print, strict: bool = False) -> list[Path]:
    """Write `<stem>.<fmt>` for each format, atomically. Without Graphviz the DOT source is written
    instead and a note printed (strict=True raises GraphvizMissing after writing it)."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    for f in parse_formats(fmt):
        target = out_dir / f"{stem}.{f}"
        try:
            data = render_source(source, f, warn=echo)
        except GraphvizMissing as exc:
            dot_path = out_dir / f"{stem}.dot"
            if dot_path not in written:
                written.append(atomic_write(dot_path, source))
            message = f"{exc.message}. Wrote the DOT source to {dot_path} instead."
            if strict:
                raise GraphvizMissing(message) from None
            echo(f"note: {message}")
            return written
        written.append(atomic_write(target, data))
    return written


def write_diagram(model: Model, out_dir: Path, level: str = "stage", fmt: str = "svg",
                  echo: Callable[[str], None] = print, *, stem: Optional[str] = None, strict: bool = False,
                  **options: Any) -> list[Path]:
    """Draw `model` and write `<out_dir>/<stem>.<fmt>` (fmt: svg, pdf, png, dot, or a comma list).

    Options are DrawOptions fields: rankdir, annotate ("params,macs,share"), focus, shapes, legend,
    clusters, node_values (IR path -> number, coloured), value_label, title. A missing `dot` writes
    `<stem>.dot` and prints a note saying how to install Graphviz (strict=True: raises instead)."""
    source = dot_source(model, level, **options)
    name = stem or diagram_stem(model, level, options.get("focus"))
    return write_rendered(source, Path(out_dir), name, fmt, echo=echo, strict=strict)
