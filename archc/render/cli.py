"""`archc diagram` (one spec, one picture) and `archc figures` (the lecture figures)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from archc.cli import load_model, set_option
from archc.errors import ArchcError
from archc.io import check_writable_dir


def _bad(exc: ValueError) -> ArchcError:
    return ArchcError(str(exc))


def _split_out(out: Optional[str], fmt: Optional[str], default_dir: Path) -> tuple[Path, Optional[str], str]:
    """-o: a folder, or a file whose suffix names the format. Returns (folder, stem or None, format)."""
    from archc.render import FORMATS

    if out is None:
        return default_dir, None, fmt or "svg"
    path = Path(out)
    suffix = path.suffix.lower().lstrip(".")
    if out.endswith(("/", "\\")):  # a trailing slash says folder, whatever its name looks like
        return path, None, fmt or "svg"
    if suffix in FORMATS:
        if fmt and fmt != suffix:
            raise ArchcError(f"-o {out} names a .{suffix} file but --format is {fmt}",
                             expected="matching suffix and format, or -o FOLDER")
        return path.parent, path.stem, suffix
    if path.suffix and not path.is_dir():
        raise ArchcError(f"-o {out}: unknown file type {path.suffix!r}",
                         expected=f"a folder or a file ending in .{', .'.join(FORMATS)}")
    return path, None, fmt or "svg"


@click.command()
@click.argument("spec")
@click.option("--level", type=click.Choice(["stage", "block", "layer"]), default=None,
              help="stage: repeats collapsed (default); block: a cluster per block; layer: every op. "
                   "With --focus the default is layer.")
@click.option("-f", "--format", "fmt", type=click.Choice(["svg", "pdf", "png", "dot"]), default=None,
              help="Output format (default svg; dot: the Graphviz source, needs no Graphviz).")
@click.option("--focus", default=None, metavar="NODE",
              help="Draw one part: a path (stage3.block2) or a unique name (inception3a, aux1).")
@click.option("--rankdir", type=click.Choice(["TB", "LR", "BT", "RL"], case_sensitive=False), default="TB",
              show_default=True, help="Direction of the data flow.")
@click.option("--annotate", default="", metavar="LIST",
              help="Comma list of params, macs, share (share of the model's total) shown on nodes.")
@click.option("--no-shapes", is_flag=True, help="Leave the C×H×W output shapes off the edges.")
@click.option("--no-legend", is_flag=True, help="Leave the legend out.")
@click.option("--large/--no-large", "large", default=None,
              help="Straight layout without block boxes (stage titles on the edges), fast for very deep nets. "
                   "Default: on above 1,500 ops at block or layer level.")
@click.option("--title", default=None, metavar="TEXT",
              help="Title line instead of the spec's title and facts ('' for none).")
@click.option("--caption", default=None, metavar="TEXT", help="A caption under the drawing.")
@click.option("--generic-labels", is_flag=True,
              help='Label every weighted layer "weight layer" instead of "3x3 conv, 64" (He et al. Fig. 2).')
@click.option("--font-scale", type=float, default=1.0, show_default=True, metavar="X",
              help="Every font times X (0.5 to 4; slides: 1.5 to 2).")
@click.option("--fit", type=click.Choice(["slide", "a4", "a4-landscape"]), default=None,
              help="Scale the drawing to fit a 16:9 slide (13.33x7.5 in) or an A4 page (margins kept).")
@click.option("--columns", type=click.IntRange(1, 8), default=1, show_default=True, metavar="N",
              help="Fold a tall drawing into N side-by-side columns (stem, stages and head kept whole; "
                   "GoogLeNet at stage level: 3 for a slide). Not with --focus.")
@click.option("-o", "--out", default=None, metavar="PATH",
              help="Output folder or file (default build/<name>/<name>[_level].<format>).")
@set_option
def diagram(spec: str, level: Optional[str], fmt: Optional[str], focus: Optional[str], rankdir: str,
            annotate: str, no_shapes: bool, no_legend: bool, large: Optional[bool], title: Optional[str],
            caption: Optional[str], generic_labels: bool, font_scale: float, fit: Optional[str],
            columns: int, out: Optional[str], overrides: tuple) -> None:
    """Draw SPEC with Graphviz, straight from the spec (no model is run).

    \b
    archc diagram specs/resnet50.yaml
    archc diagram specs/resnet50.yaml --level block -f pdf
    archc diagram specs/googlenet.yaml --focus inception3a
    archc diagram specs/resnet34.yaml --rankdir LR --annotate params,macs
    archc diagram resnet34 --focus stage1.block1 --generic-labels --font-scale 1.6 --fit slide
    archc diagram googlenet --columns 3 --fit slide
    """
    from archc.outdir import OutputFolder
    from archc.render import diagram_stem, dot_source, write_rendered

    model = load_model(spec, overrides)
    level = level or ("layer" if focus else "stage")
    folder, stem, fmt = _split_out(out, fmt, Path("build") / model.name)
    # never replace a file archc did not write, nor the spec being drawn (checked before any work)
    output = OutputFolder(folder, "diagram", protect=[Path(str(model.source))] if model.source else [])
    try:
        stem = stem or diagram_stem(model, level, focus)
    except ValueError as exc:
        raise _bad(exc) from None
    formats = [f.strip() for f in str(fmt).split(",") if f.strip()]
    output.check(sorted({f"{stem}.{f}" for f in formats} | {f"{stem}.dot"}))
    try:
        source = dot_source(model, level, focus=focus, rankdir=rankdir.upper(), annotate=annotate,
                            shapes=not no_shapes, legend=not no_legend, large=large, title=title, caption=caption,
                            generic_labels=generic_labels, font_scale=font_scale, fit=fit, columns=columns)
    except ValueError as exc:
        raise _bad(exc) from None
    missing_dot: Optional[ArchcError] = None
    with output.stage() as staging:
        try:
            write_rendered(source, staging.path, stem, fmt, echo=click.echo, strict=True)
        except ArchcError as exc:  # no Graphviz: the DOT source was written; it goes in, then the error
            if not (staging.path / f"{stem}.dot").exists():
                raise
            missing_dot = exc
    if missing_dot is not None:
        missing_dot.message = missing_dot.message.replace(str(staging.path), str(folder))
        raise missing_dot
    click.echo("wrote " + ", ".join(str(p) for p in staging.written))


@click.command()
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="reports/figures",
              show_default=True, help="Folder for the figures.")
@click.option("-f", "--format", "fmts", default="svg,pdf,png", show_default=True, metavar="LIST",
              help="Comma list of svg, pdf, png, dot.")
@click.option("--only", multiple=True, metavar="NAME", help="Only these figures (repeatable); see --list.")
@click.option("--unravel-blocks", type=click.IntRange(1, 6), default=3, show_default=True,
              help="Residual blocks in the unraveled view (2^N paths).")
@click.option("--list", "list_only", is_flag=True, help="List the figures and exit.")
def figures(out_dir: str, fmts: str, only: tuple, unravel_blocks: int, list_only: bool) -> None:
    """Regenerate the lecture figures (all 11 of the GoogLeNet/ResNet lecture, plus a few) into
    reports/figures/, with index.md mapping each lecture figure to its files and command."""
    from archc.render.figset import FIGURES, figure_files, write_figures

    if list_only:
        for name, fig in FIGURES.items():
            nums = ",".join(map(str, fig.lecture)) or "-"
            click.echo(f"{name:<30} {nums:<5} {fig.doc}")
        return
    unknown = [n for n in only if n not in FIGURES]
    if unknown:
        raise ArchcError(f"unknown figure {unknown[0]!r}", expected="one of " + ", ".join(FIGURES))
    from archc.outdir import OutputFolder

    try:
        OutputFolder(Path(out_dir), "figures").check(figure_files(fmts, only or None))  # before any work
        written = write_figures(Path(out_dir), fmts, names=only or None, echo=click.echo,
                                unravel_blocks=unravel_blocks)
    except ValueError as exc:
        raise _bad(exc) from None
    click.echo(f"wrote {len(written)} files to {out_dir}")
