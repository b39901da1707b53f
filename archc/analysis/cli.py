"""`archc analyze` and `archc compare` (registered by archc.cli)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import click

from archc.cli import bundled_specs, bundled_specs_dir, load_model, repo_root, resolve_spec_arg, set_option
from archc.errors import ArchcError, SourceLoc, SpecError

_SIZE = re.compile(r"^\s*(\d{1,6})\s*(?:[x,]\s*(\d{1,6})\s*)?$")


def size_override(text: Optional[str]) -> list[str]:
    """'--input-size 128' or '160x128' -> ['input.size=...']; bad text -> SpecError (exit 2)."""
    if text is None:
        return []
    match = _SIZE.match(text)
    if not match or int(match.group(1)) < 1 or (match.group(2) is not None and int(match.group(2)) < 1):
        raise SpecError("bad --input-size", loc=SourceLoc(f"--input-size {text}"),
                        expected="a positive integer N (N x N) or HxW, e.g. 224 or 160x128")
    h = int(match.group(1))
    w = int(match.group(2)) if match.group(2) is not None else h
    return [f"input.size={h}" if h == w else f"input.size=[{h}, {w}]"]


def parse_window(text: str) -> tuple[int, int]:
    match = re.match(r"^\s*(\d+)\s*[:.]{1,2}\s*(\d+)\s*$", text)
    if not match or int(match.group(1)) > int(match.group(2)):
        raise SpecError("bad --window", loc=SourceLoc(f"--window {text}"), expected="LO:HI with LO <= HI, e.g. 5:17")
    return int(match.group(1)), int(match.group(2))


def _probe_runner(steps: int, batch: int, data: str):  # -> Callable[[Model], Any]
    try:
        from archc.probe import ProbeConfig, run_probe
    except ImportError as exc:
        raise ArchcError("--probe needs the training probe (archc.probe), which is not available here",
                         expected="archc with its probe package", got=str(exc)) from None
    return lambda model: run_probe(model, ProbeConfig(steps=steps, batch=batch, data=data))


def _bundled_rel(path: Path) -> Optional[Path]:
    try:
        return path.resolve().relative_to(bundled_specs_dir().resolve()).with_suffix("")
    except ValueError:
        return None


@click.command()
@click.argument("specs", nargs=-1)
@set_option
@click.option("--input-size", "input_size", default=None, metavar="N|HxW",
              help="Analyse at this input size (re-lowers with --set input.size=N).")
@click.option("--json", "as_json", is_flag=True, help="Print the report(s) as JSON on stdout; write no files.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Report root (default: reports/ in the current folder for bundled specs as they are, "
                   "else build/reports/).")
@click.option("--fvcore/--no-fvcore", default=None,
              help="Cross-check MACs with fvcore (imports torch, builds and traces the module). "
                   "Default: on for the committed reports (bundled specs as they are, into reports/), else off.")
@click.option("--init/--no-init", "init", default=None,
              help="Signal propagation at initialisation (CPU, seconds per spec). Default: as --fvcore.")
@click.option("--full", is_flag=True, help="Every analysis: the same as --fvcore --init.")
@click.option("--window", default="5:17", show_default=True, metavar="LO:HI",
              help="Path lengths (in blocks) counted as 'effective' (Veit et al.: 5..17 for ResNet-110).")
@click.option("--probe", "probe", is_flag=True, help="Also run the gradient-norm training probe (archc.probe).")
@click.option("--probe-steps", type=click.IntRange(min=1), default=100, show_default=True,
              help="Training steps of --probe.")
@click.option("--probe-batch", type=click.IntRange(min=1), default=128, show_default=True,
              help="Batch size of --probe.")
@click.option("--probe-data", default="digits", show_default=True, metavar="SOURCE",
              help="Data of --probe: digits | synthetic (fits any spec) | cifar10:PATH | folder:PATH.")
@click.option("--replot", "replot", is_flag=True,
              help="SPECS are report folders: rewrite report.md and the plots from their report.json.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None,
              help="Worker processes for several specs (default: the CPU count, at most 8).")
def analyze(specs: tuple, overrides: tuple, input_size: Optional[str], as_json: bool, out_dir: Optional[str],
            fvcore: Optional[bool], init: Optional[bool], full: bool, window: str, probe: bool, probe_steps: int,
            probe_batch: int, probe_data: str, replot: bool, jobs: Optional[int]) -> None:
    """Analyse specs: complexity, bottleneck savings, paths; opt-in: fvcore cross-check, init propagation.

    Without SPECS: every bundled spec -> reports/<name>/ and reports/index.md, with every analysis.
    """
    from archc.analysis.batch import Job, run_jobs
    from archc.analysis.report import ReportOptions, build_report, write_index
    from archc.io import to_json

    if replot:
        _replot(specs)
        return
    all_bundled = not specs
    extra = tuple(overrides) + tuple(size_override(input_size))
    win = parse_window(window)
    runner = _probe_runner(probe_steps, probe_batch, probe_data) if probe else None
    paths = bundled_specs() if all_bundled else [resolve_spec_arg(s) for s in specs]
    if all_bundled and not paths:
        raise SpecError("no bundled specs found", loc=SourceLoc(str(bundled_specs_dir())))
    models = [load_model(str(p), extra) for p in paths]  # every spec validates before any work starts
    rels = [_bundled_rel(p) for p in paths]
    pristine = not extra and all(r is not None for r in rels)
    # in the current folder, never inside the installed package unless run from the repository's root
    root = Path(out_dir) if out_dir else (Path("reports") if pristine else Path("build") / "reports")
    if not as_json:
        from archc.io import check_writable_dir

        check_writable_dir(root, "-o/--out")
    # the committed reports (the repository's reports/) hold every analysis
    committed = pristine and not as_json and root.resolve() == (repo_root() / "reports").resolve()
    options = ReportOptions(fvcore=_choose(fvcore, full, committed), init=_choose(init, full, committed),
                            window=win, probe=runner,
                            # a variant (--set, --input-size) is drawn by no committed figure and no build of
                            # the spec as it is: it gets no diagram rather than another network's
                            diagram_dirs=(repo_root() / "reports" / "figures", Path("build")) if pristine else (),
                            link_root=root)
    if as_json:
        from archc.analysis.complexity import op_rows

        reports = []
        for model in models:
            report = build_report(model, options, root=repo_root())
            report.pop("_probe", None)
            report["complexity"]["ops"] = op_rows(model)
            reports.append(report)
        click.echo(to_json(reports[0] if len(reports) == 1 else reports), nl=False)
        return
    job_list = []
    for path, model, rel in zip(paths, models, rels):
        rel_dir = (rel if rel is not None and not extra else Path(model.name)).as_posix()
        job_list.append(Job(str(path), extra, root / rel_dir, rel_dir))
    dirs = [j.rel_dir for j in job_list]
    if len(set(dirs)) != len(dirs):
        raise SpecError("two specs would write the same report folder", loc=SourceLoc(", ".join(specs)),
                        expected="specs with different names")
    from archc.analysis.report import REPORT_NAMES
    from archc.outdir import OutputFolder

    for job in job_list:  # before any work: no file archc did not write is in the way
        OutputFolder(job.out_dir, "analyze").check(REPORT_NAMES)
    if all_bundled:
        OutputFolder(root, "analyze").check(("index.md", "index.json"))
    rows = run_jobs(job_list, options, repo_root(), jobs,
                    echo=lambda report, where, seconds: click.echo(_line(report, where, seconds)))
    if all_bundled:
        written = write_index(rows, root)
        click.echo(f"wrote {next(p for p in written if p.suffix == '.md')} ({len(rows)} specs)")


def _replot(folders: tuple) -> None:
    """--replot: each folder's report.md and plots again from its report.json; a folder under the repository's
    reports/ links the committed figures, any other the diagrams under build/."""
    from archc.analysis.report import replot

    if not folders:
        raise SpecError("--replot needs report folders", loc=SourceLoc("--replot"), expected="e.g. reports/resnet50")
    committed = (repo_root() / "reports").resolve()
    for folder in map(Path, folders):
        if not (folder / "report.json").is_file():
            raise SpecError("no report.json in the folder", loc=SourceLoc(str(folder)),
                            expected="a folder written by archc analyze")
        inside = committed in folder.resolve().parents
        try:
            written = replot(folder, (committed / "figures",) if inside else (committed / "figures", Path("build")),
                             committed if inside else folder.parent)
        except ValueError as exc:
            raise SpecError(str(exc), loc=SourceLoc(str(folder))) from None
        click.echo(f"redrew {folder} ({len(written)} files)")


def _choose(flag: Optional[bool], full: bool, committed: bool) -> bool:
    """An opt-in analysis runs when asked (--x or --full), is off when refused (--no-x), else runs only for
    the committed reports."""
    return flag if flag is not None else (full or committed)


def _load_side(spec: str, overrides: tuple):  # -> Model
    """One side of `compare`: a --set error says which spec it failed on (--set applies to both)."""
    try:
        return load_model(spec, overrides)
    except SpecError as exc:
        if exc.loc is None or not str(exc.loc.file).startswith("--set"):
            raise
        raise SpecError(f"{exc.message} (in {spec}; --set applies to both specs)", loc=exc.loc,
                        spec_path=exc.spec_path, expected=exc.expected, got=exc.got) from None


def _line(report: dict[str, Any], where: Path, seconds: float) -> str:
    from archc.analysis.markdown import big

    c = report["complexity"]["total"]
    main = report["paths"]["outputs"]["output"]
    fv = report.get("fvcore")
    check = "" if fv is None else ("  fvcore conv+fc: equal" if fv["all_equal"]
                                   else f"  fvcore conv+fc: DIFFERENT at {len(fv['mismatches'])} ops")
    from archc.formats import format_macs

    return (f"{report['name']:<16} {c['params']:>13,} params {format_macs(c['macs']):>13}  "
            f"paths {big(main['paths'], main['paths_log2'])}{check}  -> {where}/report.md ({seconds:.1f}s)")


@click.command()
@click.argument("spec_a")
@click.argument("spec_b")
@set_option
@click.option("--input-size", "input_size", default=None, metavar="N|HxW", help="Compare at this input size.")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(spec_a: str, spec_b: str, overrides: tuple, input_size: Optional[str], as_json: bool) -> None:
    """Two specs side by side, per stage: output shape, params, MACs; totals and paths."""
    from archc.analysis.compare import compare as run
    from archc.analysis.markdown import render_compare
    from archc.io import to_json

    extra = tuple(overrides) + tuple(size_override(input_size))
    a, b = _load_side(spec_a, extra), _load_side(spec_b, extra)
    result = run(a, b)
    click.echo(to_json(result) if as_json else render_compare(result), nl=False)
