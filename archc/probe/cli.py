"""`archc probe`: short training runs of one or more specs; JSON + Markdown + plots under reports/probe/."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import click
from click.core import ParameterSource

from archc.cli import load_model, set_option
from archc.errors import ArchcError
from archc.probe.config import (AMP_MODES, COMPILE_MODES, DEVICES, DTYPES, LR_SCHEDULES, MAX_LR, MAX_SEED, OPTIMIZERS,
                                ProbeConfig)
from archc.probe.experiments import EXPERIMENTS
from archc.probe.naming import OVERRIDE_WORDS

EXIT_INTERRUPTED = 130


def _summary_line(result) -> str:  # result: ProbeResult
    from archc.probe.report import fmt, pct

    text = (f"{result.label}: {result.status}, {result.steps_done}/{result.config.steps} steps, "
            f"loss {fmt(result.final_loss)}, training error {pct(result.final_train_error)}")
    if result.test_error:
        at = "" if result.test_steps[-1] == result.steps_done else f" at step {result.test_steps[-1]}"
        text += f", test error {pct(result.final_test_error)}{at} (best {pct(result.best_test_error)})"
    text += (f", first/last grad norm {fmt(result.ratio('init'))} at init, {fmt(result.ratio('end'))} at the end")
    if result.timing.get("steps_per_s"):
        text += f"; {result.timing['steps_per_s']:.3g} steps/s, {result.timing.get('samples_per_s', 0):,.0f} images/s"
    if result.path_gradients:
        s = result.path_gradients["summary"]
        lo, hi = s["range90"]
        text += f"; 90% of path gradient from lengths {lo}-{hi} of {result.path_gradients['blocks']}"
    return text


def write_outputs(results: list, out_dir: Path, formats: tuple, title: str, notes: str = "",
                  shown: Optional[list] = None, protect: Sequence[Path] = (), figure_title: str = "") -> list[Path]:
    """probe.json (every result), probe.md and the figures of the `shown` results (default: all, in order),
    staged and moved into out_dir together through `archc.outdir.OutputFolder`: a file archc did not write is
    never replaced, and only the earlier probe outputs there that this run does not write again (and nobody
    changed since) are removed."""
    from archc.io import atomic_write, atomic_write_json
    from archc.outdir import OutputFolder
    from archc.probe.naming import unique_slugs
    from archc.probe.figure_set import comparison_plots
    from archc.probe.report import report_markdown

    runs = results if shown is None else shown
    folder = OutputFolder(out_dir, "probe", protect=list(protect))
    with folder.stage(prune=True) as staging:
        stage = staging.path
        written = comparison_plots(runs, stage, formats, figure_title)
        per_run = []
        for r, stem in zip(runs, unique_slugs([r.label for r in runs])):
            per_run += r.plots(stage, formats, stem=stem)
        figures = [p for p in written if p.suffix == f".{formats[0]}"]
        md = report_markdown(runs, title, figures, base=stage, notes=notes)
        links = [f"[{p.stem}]({p.relative_to(stage).as_posix()})" for p in per_run if p.suffix == f".{formats[0]}"]
        if links:
            md += "\nPer-run figures: " + ", ".join(links) + "\n"
        written += per_run
        files = sorted([p.relative_to(stage).as_posix() for p in written] + ["probe.json", "probe.md"])
        doc = {"archc_probe": 1, "title": title, "figure_title": figure_title, "notes": notes, "files": files,
               "shown": [r.label for r in runs], "results": [r.to_dict() for r in results]}
        atomic_write_json(stage / "probe.json", doc)
        atomic_write(stage / "probe.md", md)
    return staging.written


def output_names(labels: Sequence[str], formats: Sequence[str]) -> list[str]:
    """Every file a probe of runs with these labels may write (checked before training: a user's file in the
    way is refused then, not after the runs)."""
    from archc.probe.naming import unique_slugs

    stems = ["error_curves", "gradnorm_depth", "training_curves", "path_gradients"]
    stems += [f"{stem}_{kind}" for stem in unique_slugs(list(labels)) for kind in ("gradnorm", "training", "paths")]
    return ["probe.json", "probe.md"] + [f"{stem}.{fmt}" for stem in stems for fmt in formats]


def check_batch_norm(models: Sequence, configs: Sequence) -> None:
    """Batch norm in training mode needs more than one value per channel: refuse, before any run, a batch so
    small that some BN layer would see a single value (batch 1 on 1x1 maps)."""
    from archc.ir.graph import OpNode

    for model, config in zip(models, configs):
        local = config.batch // max(1, int(os.environ.get("WORLD_SIZE", "1")))
        for node in model.walk():
            if isinstance(node, OpNode) and node.op.category == "norm" and len(node.in_shape) == 3:
                per_channel = local * node.in_shape[1] * node.in_shape[2]
                if per_channel < 2:
                    raise ArchcError(f"{model.name}: batch norm {node.path} would see one value per channel "
                                     f"(batch {local} of {node.in_shape[1]}x{node.in_shape[2]} maps)",
                                     expected="--batch 2 or more")


@click.command()
@click.argument("specs", nargs=-1)
@click.option("--experiment", type=click.Choice(sorted(EXPERIMENTS)), default=None,
              help="Run a lecture experiment: its nets and settings (options given here win). "
                   "degradation: plain-20/56 vs ResNet-20/56, train and test error; degradation-nobn: the same "
                   "without batch norm.")
@click.option("--steps", type=click.IntRange(min=1), default=100, show_default=True, help="Training steps per spec.")
@click.option("--batch", type=click.IntRange(min=1), default=128, show_default=True,
              help="Global batch size (split over --nproc / torchrun processes).")
@click.option("--lr", type=click.FloatRange(min=0, max=MAX_LR, min_open=True), default=0.1, show_default=True)
@click.option("--lr-schedule", type=click.Choice(LR_SCHEDULES), default="constant", show_default=True,
              help="step: lr/10 at 50% and lr/100 at 75% of the steps (He et al.); cosine: from lr to 0.")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=0.9, show_default=True)
@click.option("--wd", "weight_decay", type=click.FloatRange(min=0, max=MAX_LR), default=1e-4, show_default=True,
              help="Weight decay.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True)
@click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True,
              help="Seed for weights, data split and batch order.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True,
              help="Keep per-layer gradient norms and measure the test error every N steps (and at the end).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--threads", type=click.IntRange(1, 1024), default=None,
              help="torch threads per process [default: the usable cores, divided among the processes, less "
                   "those other work keeps busy].")
@click.option("--amp", type=click.Choice(AMP_MODES), default="auto", show_default=True,
              help="bf16 autocast; auto: on CUDA only (never with --dtype float64).")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Weights and activations; float64 is for numerical checks (slow).")
@click.option("--channels-last/--no-channels-last", default=None, help="Memory format; default: on CUDA only.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the model.")
@click.option("--compile-mode", type=click.Choice(COMPILE_MODES), default="default", show_default=True,
              help="torch.compile mode, implies --compile (reduce-overhead also uses CUDA graphs).")
@click.option("--cuda-graphs", is_flag=True, help="Capture the whole training step in one CUDA graph.")
@click.option("--data", default="digits", show_default=True, metavar="SOURCE",
              help="digits (scikit-learn's 1,797 handwritten digits, resized to the spec's input) | synthetic | "
                   "cifar10:PATH | folder:PATH.")
@click.option("--test-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Share of each class held out for the test error, where the data has no test split of its "
                   "own (0: no test error).")
@click.option("--synthetic-size", type=click.IntRange(min=2), default=8192, show_default=True,
              help="Images in the synthetic set.")
@click.option("--paths/--no-paths", default=True, show_default=True,
              help="Path-length gradients (Veit et al. 2016) for residual nets.")
@click.option("--path-repeats", type=click.IntRange(min=1), default=16, show_default=True,
              help="Backward passes with fresh random paths per path batch.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes on this machine (DDP; gloo on CPU). Or launch with torchrun.")
@set_option
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="reports/probe", show_default=True,
              help="Output folder [default: reports/probe, or reports/probe/EXPERIMENT].")
@click.option("--format", "plot_format", type=click.Choice(["svg", "png", "both"]), default="svg", show_default=True)
@click.option("--title", default="Training probe", show_default=True, help="Report title.")
@click.option("--notes", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A Markdown file whose text goes into the report under the title.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--replot", "replot_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="No training: redraw the report and figures of this folder's probe.json (into -o when given). "
                   "Takes --runs, --title and --format.")
@click.option("--runs", default=None, metavar="A,B,...",
              help="With --replot: the runs to show, by label or model name, in this order (probe.json keeps all).")
def probe(specs: tuple, **options: Any) -> None:
    """Train each SPEC briefly and record how its gradients flow, and its training and test error.

    Records the gradient norm of every conv/fc weight (by block and stage) at step 1 and every
    --log-every steps, the training loss and error, the test loss and error on held-out data, and for
    residual nets the path-length gradients. Writes OUT/probe.json, OUT/probe.md and figures.
    `archc probe --experiment degradation` runs the lecture's degradation experiment (5-9 minutes on
    a 2-core CPU). Multi-GPU: `torchrun --nproc-per-node N -m archc probe ...` (only rank 0 writes).
    """
    ctx = click.get_current_context()
    explicit = {name for name in options if ctx.get_parameter_source(name) is not ParameterSource.DEFAULT}
    formats = ("svg", "png") if options["plot_format"] == "both" else (options["plot_format"],)
    if options["replot_dir"] is not None:
        if specs or options["experiment"]:
            raise click.UsageError("--replot redraws a finished run: give no SPECS and no --experiment")
        folder = Path(options["replot_dir"])
        out = Path(options["out_dir"]) if "out_dir" in explicit else folder
        title = options["title"] if "title" in explicit else None
        written = replot(folder, formats, out, _run_names(options["runs"]), title)  # a title given heads the figure
        click.echo(f"redrew {len(written)} files in {out}/ from {folder / 'probe.json'}")
        return
    if options["runs"] is not None:
        raise click.UsageError("--runs selects the runs of --replot")
    experiment = EXPERIMENTS.get(options["experiment"] or "")
    if experiment is not None:
        if specs:
            raise click.UsageError(f"--experiment {experiment.name} runs its own specs ({', '.join(experiment.specs)})"
                                   ": give no SPECS")
        specs = experiment.specs
        options["overrides"] = experiment.with_overrides(tuple(options["overrides"]))
        options.update({k: v for k, v in experiment.settings.items() if k not in explicit})
        if "title" not in explicit:
            options["title"] = experiment.title
        if "out_dir" not in explicit:
            options["out_dir"] = f"reports/probe/{experiment.name}"
    if not specs:
        raise click.UsageError("Missing argument 'SPECS...' (or --experiment NAME).")
    options["title_given"] = "title" in explicit
    _run(specs, options, formats, experiment.describe(options["overrides"]) if experiment else "")


def _run(specs: tuple, options: dict, formats: tuple, about: str) -> None:
    from archc.probe.collectives import env_info
    from archc.probe.launch import spawn_local
    from archc.probe.hardware import choose_threads, usable_cores
    from archc.probe.naming import run_label
    from archc.probe.train import require_classifier, run_probe

    info = env_info()
    nproc, overrides = options["nproc"], tuple(options["overrides"])
    if nproc > 1 and info.active:
        raise click.UsageError("--nproc starts processes itself; do not combine it with torchrun")
    models = [load_model(spec, overrides) for spec in specs]  # every spec checked before any training
    for model in models:
        require_classifier(model)
    names = [model.name for model in models]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ArchcError(f"{', '.join(twice)} given more than once", expected="each spec once (runs are named after "
                         "their model, and their figures would overwrite each other)")
    title = " ".join(options["title"].split()) or "Training probe"
    local = int(os.environ.get("LOCAL_WORLD_SIZE", info.world)) if info.active else nproc
    threads, why = choose_threads(local, options["threads"])
    configs = []
    for model in models:
        # the legend names what differs in words ("without BN"); other overrides are in the report's settings
        label = run_label(model.name, model.title, [o for o in model.overrides if o in OVERRIDE_WORDS])
        try:
            configs.append(ProbeConfig(
                steps=options["steps"], batch=options["batch"], lr=options["lr"], lr_schedule=options["lr_schedule"],
                momentum=options["momentum"], weight_decay=options["weight_decay"], optimizer=options["optimizer"],
                seed=options["seed"], log_every=options["log_every"], data=options["data"],
                synthetic_size=options["synthetic_size"], test_fraction=options["test_fraction"],
                device=options["device"], amp=options["amp"], dtype=options["dtype"],
                channels_last=options["channels_last"],
                compile=options["use_compile"] or options["compile_mode"] != "default",
                compile_mode=options["compile_mode"], cuda_graphs=options["cuda_graphs"],
                path_gradients=options["paths"], path_repeats=options["path_repeats"],
                progress=not options["no_progress"], threads=threads, label=label))
        except ValueError as exc:
            raise click.UsageError(_option_names(str(exc))) from None
    # everything that can be refused is refused before the first spec trains
    note_text = "\n\n".join(t for t in (about, _read_notes(options["notes"])) if t)
    out_dir = Path(options["out_dir"])
    from archc.outdir import OutputFolder

    OutputFolder(out_dir, "probe").check(output_names([c.label or m.name for m, c in zip(models, configs)], formats))
    check_batch_norm(models, configs)
    datasets = _checked_data(models, configs)
    if info.is_main and threads * local > usable_cores():
        click.echo(f"archc: note: {threads} torch thread(s) x {local} process(es) on {usable_cores()} usable core(s): "
                   "threads that wait for each other make a CPU run far slower than fewer threads", err=True)
    if info.is_main:
        click.echo(f"archc: probe: {threads} torch thread(s) per process ({why}); "
                   f"{len(models)} run(s) of {options['steps']} steps, batch {options['batch']}", err=True)
    results = []
    interrupted = False
    failure: Optional[BaseException] = None
    for model, config in zip(models, configs):
        given = datasets.get(_data_key(model, config))
        try:
            if nproc > 1:
                result = spawn_local(model, config, nproc, data=given)
            else:
                result = run_probe(model, config, data=given, overrides=overrides)
        except KeyboardInterrupt:
            interrupted = True
            break
        except Exception as exc:  # noqa: BLE001 - the runs already finished are written before it is raised
            failure = exc
            break
        results.append(result)
        if info.is_main:
            for note in result.data.get("notes", []):
                click.echo(f"archc: note: {result.label}: {note}", err=True)
            click.echo(_summary_line(result))
            if result.status == "nonfinite" and result.nonfinite:
                click.echo(f"archc: warning: {result.label}: {result.nonfinite['message']}", err=True)
        if result.status == "interrupted":
            interrupted = True
            break
    if info.is_main and results:
        from archc.interrupts import deferred

        with deferred():  # a Ctrl-C now is noted (exit 130) but does not throw away the runs that finished
            written = write_outputs(results, out_dir, formats, title, note_text,
                                    figure_title=title if options.get("title_given") else "")
        click.echo(f"wrote {len(written)} files to {out_dir}/ (probe.md, probe.json, figures"
                   + (f"; the {len(results)} run(s) before the failure" if failure is not None else "") + ")")
    if failure is not None:
        raise failure
    if interrupted:
        if info.is_main:
            from archc.interrupts import report_interrupt

            kept = "kept the runs measured so far" if results else "nothing was measured yet"
            report_interrupt(lambda text: click.echo(text, err=True), f"archc: interrupted; {kept}")
        sys.exit(EXIT_INTERRUPTED)


def _run_names(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise click.UsageError("--runs needs at least one run name")
    return names


def replot(folder: Path, formats: tuple, out_dir: Optional[Path] = None, runs: Optional[list[str]] = None,
           title: Optional[str] = None) -> list[Path]:
    """Rewrite the report and figures of folder's probe.json with this version of archc, into out_dir (default:
    folder). `runs`: labels or model names to show, in that order (default: those shown last time); `title`:
    a new title (default: the run's). The probe.json written keeps every result."""
    import json

    from archc.probe.result import ProbeResult

    source = folder / "probe.json"
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
        results = [ProbeResult.from_dict(r) for r in doc["results"]]
        shown_before = doc.get("shown")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ArchcError(f"{source}: not a probe result ({type(exc).__name__}: {exc})",
                         expected="the probe.json written by `archc probe`") from None
    if not results:
        raise ArchcError(f"{source}: holds no runs", expected="the probe.json written by `archc probe`")
    if runs is None and isinstance(shown_before, list):
        runs = [name for name in shown_before if isinstance(name, str)]
    shown = select_runs(results, runs, source) if runs is not None else results
    from archc.outdir import OutputFolder

    OutputFolder(out_dir or folder, "probe").check(["probe.json", "probe.md"])
    return write_outputs(results, out_dir or folder, formats, title or doc.get("title", "Training probe"),
                         doc.get("notes", ""), shown, figure_title=title or doc.get("figure_title", ""))


def select_runs(results: list, names: list[str], source: Path) -> list:
    """The results named (by label or model name, exactly), in the order named; ArchcError for an unknown or
    ambiguous name, listing the runs there are."""
    chosen = []
    for name in names:
        matches = [r for r in results if r.label == name] or [r for r in results if r.name == name]
        if len(matches) != 1:
            available = "; ".join(f"{r.label} ({r.name})" for r in results)
            why = "no run" if not matches else f"{len(matches)} runs"
            raise ArchcError(f"--runs {name!r}: {why} of that label or name in {source}",
                             expected=f"one of: {available}")
        if matches[0] in chosen:
            raise ArchcError(f"--runs names {name!r} twice", expected="each run once")
        chosen.append(matches[0])
    return chosen


OPTION_OF_FIELD = {"lr_schedule": "--lr-schedule", "test_fraction": "--test-fraction", "threads": "--threads",
                   "lr": "--lr", "momentum": "--momentum", "weight_decay": "--wd", "steps": "--steps",
                   "batch": "--batch", "log_every": "--log-every", "synthetic_size": "--synthetic-size",
                   "device": "--device", "amp": "--amp", "dtype": "--dtype", "optimizer": "--optimizer",
                   "compile_mode": "--compile-mode", "path_repeats": "--path-repeats", "data": "--data"}


def _option_names(message: str) -> str:
    """ProbeConfig's messages name its fields; on the command line they are options."""
    import re

    return re.sub(r"ProbeConfig\.(\w+)", lambda m: OPTION_OF_FIELD.get(m.group(1), m.group(0)), message)


def _read_notes(notes: Optional[str]) -> str:
    if not notes:
        return ""
    try:
        return Path(notes).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArchcError(f"--notes {notes}: not UTF-8 text (byte {exc.start})", expected="a UTF-8 Markdown file") \
            from None


def _data_key(model, config: ProbeConfig) -> tuple:
    return (config.data, tuple(model.input_shape), model.classes)


def _checked_data(models: list, configs: list) -> dict:
    """Load each real data source once per input shape and check it against every spec that uses it; the
    synthetic set is made from the spec's own shape, so only its size is checked here."""
    from archc.probe.data import DataError, synthetic_size
    from archc.probe.sources import load_data

    loaded: dict = {}
    for model, config in zip(models, configs):
        if config.data == "synthetic":
            size = synthetic_size(model.input_shape, model.classes, config.synthetic_size)
            per_class = [size // model.classes + (c < size % model.classes) for c in range(model.classes)]
            train = size - sum(int(round(config.test_fraction * n)) for n in per_class)
            if train < config.batch:
                held = f" ({size - train:,} held out for testing)" if train < size else ""
                raise DataError(f"{model.name}: the synthetic set for {model.input_shape[1]}px images and "
                                f"{model.classes} classes holds {train:,} training images{held}, fewer than one "
                                f"batch of {config.batch}", expected=f"--batch {train} or less")
            continue
        key = _data_key(model, config)
        if key not in loaded:
            loaded[key] = load_data(config.data, model.input_shape, model.classes, config.seed,
                                    config.synthetic_size, config.test_fraction)
        try:
            loaded[key] = loaded[key].check_against(model.input_shape, model.classes, config.batch)
        except DataError as exc:  # several specs may share the data: name the one it does not fit
            raise DataError(f"{model.name}: {exc.message}", expected=exc.expected) from None
    return loaded
