"""Analysis reports: one dict per model (-> report.json), rendered to report.md with SVG plots,
and an index over many models. Everything written is deterministic and atomic."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from archc.analysis import plots
from archc.analysis.complexity import complexity
from archc.analysis.initprop import InitConfig, init_propagation, studied_layers
from archc.analysis.paths import VEIT_WINDOW, path_counts
from archc.analysis.savings import bottleneck_savings
from archc.io import atomic_write, atomic_write_json
from archc.ir.graph import Model
from archc.outdir import OutputFolder

REPORT_FORMAT = 1


@dataclass(frozen=True)
class ReportOptions:
    fvcore: bool = True
    init: bool = True
    init_config: InitConfig = InitConfig()
    window: tuple[int, int] = VEIT_WINDOW
    probe: Optional[Callable[[Model], Any]] = None  # model -> probe result (markdown_section(), to_dict())
    diagram_dirs: tuple[Path, ...] = field(default_factory=tuple)  # where to look for a diagram to show
    link_root: Optional[Path] = None  # diagrams under this folder are linked; any other is copied into the report


def spec_display(model: Model, root: Optional[Path] = None) -> str:
    """The spec's path relative to the repository root when inside it (stable across machines)."""
    source = Path(model.source) if model.source else None
    if source is None:
        return ""
    root = root or Path.cwd()
    try:
        return Path(os.path.relpath(source.resolve(), root.resolve())).as_posix()
    except ValueError:
        return source.as_posix()


def build_report(model: Model, options: ReportOptions = ReportOptions(), root: Optional[Path] = None) -> dict[str, Any]:
    """Every analysis of one model as one JSON-ready dict."""
    spec = model.spec
    report: dict[str, Any] = {
        "archc_report": REPORT_FORMAT,
        "name": model.name,
        "title": model.title,
        "spec": spec_display(model, root),
        "overrides": list(model.overrides),
        "references": list(spec.references),
        "input": list(model.input_shape),
        "classes": model.classes if model.is_classifier else None,
        "complexity": complexity(model),
    }
    if options.fvcore:
        from archc.analysis.crosscheck import fvcore_crosscheck

        check = fvcore_crosscheck(model)
        check["ops"] = [row for row in check["ops"] if not row["equal"]]  # only disagreements, if any
        report["fvcore"] = check
    report["savings"] = bottleneck_savings(model)
    report["paths"] = path_counts(model).to_dict(options.window)
    init = options.init and bool(studied_layers(model))  # a pool or a gate alone: no layer to study
    if init:
        report["init"] = init_propagation(model, options.init_config)
    skipped = [{"analysis": name, "option": flag} for name, flag, ran in
               (("fvcore cross-check", "--fvcore", options.fvcore),
                ("signal propagation at initialisation", "--init", init)) if not ran]
    if skipped:
        report["skipped"] = skipped
    if options.probe is not None:
        result = options.probe(model)
        report["probe"] = result.to_dict()
        report["_probe"] = result  # not JSON: write_report takes its Markdown section and plots
    return report


DIAGRAM_STEMS = ("{name}", "{name}_stage", "{name}_block", "{name}_layer")  # as archc.render names them


def _own_diagram(name: str, dirs: tuple[Path, ...]) -> Optional[Path]:
    for folder in dirs:
        for where in (folder, folder / name):
            for stem in DIAGRAM_STEMS:
                candidate = where / (stem.format(name=name) + ".svg")
                if candidate.is_file():
                    return candidate
    return None


def find_diagrams(name: str, dirs: tuple[Path, ...]) -> list[Path]:
    """Diagrams of the model in `dirs`: its own (`<name>.svg`, `<name>_stage.svg`, ..., also in `<dir>/<name>/`
    where `archc build` writes), then figures named after several models (`vgg19_plain34_resnet34.svg`)."""
    own = _own_diagram(name, dirs)
    found = [own] if own is not None else []
    for folder in dirs:
        if folder.is_dir():
            found += [p for p in sorted(folder.glob("*.svg")) if p != own and _lists(p.stem, name)]
    return found


def _lists(stem: str, name: str, known: Optional[set[str]] = None) -> bool:
    """True when `stem` is two or more known model names joined by '_' and `name` is one of them."""
    if known is None:
        from archc.bundled import bundled_specs

        known = {p.stem for p in bundled_specs()}
    parts = stem.split("_")
    # splits[i]: the ways parts[:i] divide into known names (lists of names), kept small by construction
    splits: list[list[list[str]]] = [[[]]] + [[] for _ in parts]
    for i in range(1, len(parts) + 1):
        for j in range(i):
            word = "_".join(parts[j:i])
            if word in known:
                splits[i] += [prev + [word] for prev in splits[j]]
    return any(len(way) >= 2 and name in way for way in splits[-1])


def report_plots(report: dict[str, Any]) -> dict[str, str]:
    """File name -> SVG text for the report's plots."""
    out: dict[str, str] = {}
    title = report["title"]
    stages = report["complexity"]["stages"]
    out["cost_per_stage.svg"] = plots.stage_costs(title, [s["name"] for s in stages], [s["params"] for s in stages],
                                                  [s["macs"] for s in stages])
    inc = report["savings"]["inception"]["modules"]
    if inc:
        out["savings_inception.svg"] = plots.paired_bars(
            f"{title}: {report['savings']['inception'].get('title', 'inception modules').split(':')[0].lower()} "
            "with and without 1x1 reductions",
            [".".join(m["module"].split(".")[-2 if m.get("kind") == "dense" else -1:]) for m in inc], [m["specified"]["macs"] for m in inc],
            [m["naive"]["macs"] for m in inc], "without 1x1 reductions", "MMACs")
    res = report["savings"]["residual"]["stages"]
    if res:
        out["savings_blocks.svg"] = plots.paired_bars(
            f"{title}: blocks as specified vs the other block kind", [s["stage"] for s in res],
            [s["specified"]["macs"] for s in res], [s["counterpart"]["macs"] for s in res],
            "counterpart blocks", "MMACs")
    dw = report["savings"].get("depthwise")
    if dw:
        out["savings_depthwise.svg"] = plots.paired_bars(
            f"{title}: depthwise + pointwise vs a dense conv", [s["stage"] for s in dw["stages"]],
            [s["specified"]["macs"] for s in dw["stages"]], [s["dense"]["macs"] for s in dw["stages"]],
            "dense convs", "MMACs")
    main = report["paths"]["outputs"]["output"]
    out["paths.svg"] = plots.path_histogram(
        f"{title}: input-to-output path lengths",
        {int(k): v for k, v in main["blocks"]["distribution"].items()},
        {int(k): v for k, v in main["layers"]["distribution"].items()},
        tuple(report["paths"]["effective_window"]))
    if "init" in report:
        out["init_propagation.svg"] = plots.init_curves(f"{title}: signal at initialisation", report["init"])
    return out


def _inside(path: Path, root: Optional[Path]) -> bool:
    return root is not None and Path(root).resolve() in path.resolve().parents


def write_report(report: dict[str, Any], out_dir: Path, diagram_dirs: tuple[Path, ...] = (),
                 link_root: Optional[Path] = None) -> list[Path]:
    """report.json, report.md and the plots in out_dir (staged, then moved in together; stale plots removed).
    A diagram found in `diagram_dirs` is linked when it lies under `link_root` (the report root: the folder
    travels whole), else copied into out_dir, so that a report written anywhere is self-contained."""
    from archc.analysis.markdown import render_report
    from archc.mdtext import md_text, md_url

    out_dir = Path(out_dir)
    svgs = report_plots(report)
    found = find_diagrams(report["name"], diagram_dirs)
    copies = {d.name: d for d in found if not _inside(d, link_root) and d.name not in svgs}
    links = [d.name if d.name in copies else Path(os.path.relpath(d.resolve(), out_dir.resolve())).as_posix()
             for d in found if d.name in copies or _inside(d, link_root)]
    probe = report.pop("_probe", None)
    folder = OutputFolder(out_dir, "analyze")
    # the report's files appear together, or none do; plots an earlier analyze wrote here and this one
    # did not are removed, nothing else (a build's diagram in the same folder stays)
    with folder.stage(prune=True) as stage:
        for name, text in sorted(svgs.items()):
            atomic_write(stage.path / name, text)
        for name, source in sorted(copies.items()):
            atomic_write(stage.path / name, source.read_bytes())
        probe_md = None
        if probe is not None:
            probe_files = [Path(p) for p in probe.plots(stage.path, ("svg",))]
            probe_md = probe.markdown_section(settings=True).rstrip() + "\n\n" + "\n\n".join(
                f"![{md_text(p.stem)}]({md_url(p.name)})" for p in probe_files if p.suffix == ".svg")
        atomic_write(stage.path / "report.md", render_report(report, sorted(svgs), links, probe_md))
        atomic_write_json(stage.path / "report.json", report)
    return stage.written


REPORT_NAMES = ("report.md", "report.json", "cost_per_stage.svg", "paths.svg")  # written for every model


def replot(folder: Path, diagram_dirs: tuple[Path, ...] = (), link_root: Optional[Path] = None) -> list[Path]:
    """Rewrite a finished report's report.md and plots from its report.json (no analysis runs again):
    the Markdown and the plots are pure functions of the JSON."""
    import json

    report = json.loads((Path(folder) / "report.json").read_text(encoding="utf-8"))
    if report.get("archc_report") != REPORT_FORMAT:
        raise ValueError(f"{folder}/report.json is not an archc report (format {REPORT_FORMAT})")
    if "probe" in report:  # its section and plots come from the probe's result object, not from the JSON
        raise ValueError(f"{folder} holds a training-probe section; run `archc analyze --probe` again instead")
    return write_report(report, Path(folder), diagram_dirs, link_root)


def index_row(report: dict[str, Any], rel_dir: str) -> dict[str, Any]:
    c = report["complexity"]
    main = report["paths"]["outputs"]["output"]
    fv = report.get("fvcore")
    return {"name": report["name"], "title": report["title"], "dir": rel_dir, "input": report["input"],
            "params": c["total"]["params"], "params_with_aux": c["total_with_aux"]["params"],
            "macs": c["total"]["macs"], "depth": main["layers"]["max"], "weighted_ops": c["weighted_ops"],
            "blocks": report["paths"]["blocks_on_main_path"], "paths": main["paths"],
            "paths_log2": main["paths_log2"], "aux_heads": len(c["aux_heads"]),
            "fvcore_equal": None if fv is None else fv["all_equal"]}


def write_index(rows: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    from archc.analysis.markdown import render_index

    for row in rows:  # the network's stage diagram among the lecture figures, when there is one
        own = _own_diagram(row["name"], (Path(out_dir) / "figures",))
        row["diagram"] = own.relative_to(out_dir).as_posix() if own is not None else None
    with OutputFolder(out_dir, "analyze").stage() as stage:
        atomic_write(stage.path / "index.md", render_index(rows))
        atomic_write_json(stage.path / "index.json", {"archc_report": REPORT_FORMAT, "models": rows})
    return stage.written
