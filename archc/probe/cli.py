"""`archc probe`: short training runs of one or more specs; JSON + Markdown + plots under reports/probe/."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import click

from archc.cli import load_model, set_option
from archc.errors import ArchcError
from archc.io import check_writable_dir
from archc.probe.config import AMP_MODES, COMPILE_MODES, DEVICES, DTYPES, OPTIMIZERS, ProbeConfig

EXIT_INTERRUPTED = 130


def _summary_line(result) -> str:  # result: ProbeResult
    from archc.probe.report import fmt, pct

    text = (f"{result.label}: {result.status}, {result.steps_done}/{result.config.steps} steps, "
            f"loss {fmt(result.final_loss)}, batch acc {pct(result.final_acc)}, "
            f"first/last grad norm {fmt(result.ratio('init'))} at init, {fmt(result.ratio('end'))} at the end")
    if result.path_gradients:
        s = result.path_gradients["summary"]
        lo, hi = s["range90"]
        text += f"; 90% of path gradient from lengths {lo}-{hi} of {result.path_gradients['blocks']}"
    return text


def write_outputs(results: list, out_dir: Path, formats: tuple, title: str, notes: str = "") -> list[Path]:
    """probe.json, probe.md and the figures: staged, then moved into out_dir together."""
    from archc.io import atomic_write, atomic_write_json, staged_dir
    from archc.probe.plots import comparison_plots
    from archc.probe.report import report_markdown

    previous = _previous_outputs(out_dir)
    with staged_dir(out_dir) as stage:
        written = comparison_plots(results, stage, formats)
        per_run = []
        for r in results:
            per_run += r.plots(stage, formats)
        figures = [p for p in written if p.suffix == f".{formats[0]}"]
        md = report_markdown(results, title, figures, base=stage, notes=notes)
        links = [f"[{p.stem}]({p.relative_to(stage).as_posix()})" for p in per_run if p.suffix == f".{formats[0]}"]
        if links:
            md += "\nPer-run figures: " + ", ".join(links) + "\n"
        written += per_run
        files = sorted([p.relative_to(stage).as_posix() for p in written] + ["probe.json", "probe.md"])
        doc = {"archc_probe": 1, "title": title, "notes": notes, "files": files,
               "results": [r.to_dict() for r in results]}
        written.append(atomic_write_json(stage / "probe.json", doc))
        written.append(atomic_write(stage / "probe.md", md))
    for stale in sorted(previous - set(files)):  # an earlier probe's figures that this one did not redraw
        (out_dir / stale).unlink(missing_ok=True)
    return [out_dir / p.relative_to(stage) for p in written]


def _previous_outputs(out_dir: Path) -> set[str]:
    """The files an earlier `archc probe` wrote into out_dir (listed in its probe.json), if any."""
    import json

    try:
        listed = json.loads((out_dir / "probe.json").read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError):
        return set()
    return {name for name in listed if isinstance(name, str) and "/" not in name and not name.startswith(".")}


@click.command()
@click.argument("specs", nargs=-1)
@click.option("--steps", type=click.IntRange(min=1), default=100, show_default=True, help="Training steps per spec.")
@click.option("--batch", type=click.IntRange(min=1), default=128, show_default=True,
              help="Global batch size (split over --nproc / torchrun processes).")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True)
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=0.9, show_default=True)
@click.option("--wd", "weight_decay", type=click.FloatRange(min=0), default=1e-4, show_default=True,
              help="Weight decay.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights, data and batch order.")
@click.option("--log-every", type=click.IntRange(min=1), default=10, show_default=True,
              help="Keep per-layer gradient norms every N steps (and at step 1 and the last step).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--amp", type=click.Choice(AMP_MODES), default="auto", show_default=True,
              help="bf16 autocast; auto: on CUDA only (never with --dtype float64).")
@click.option("--dtype", type=click.Choice(DTYPES), default="float32", show_default=True,
              help="Weights and activations; float64 is for numerical checks (slow).")
@click.option("--channels-last/--no-channels-last", default=None, help="Memory format; default: on CUDA only.")
@click.option("--compile", "use_compile", is_flag=True, help="torch.compile the model.")
@click.option("--compile-mode", type=click.Choice(COMPILE_MODES), default="default", show_default=True,
              help="torch.compile mode, implies --compile (reduce-overhead also uses CUDA graphs).")
@click.option("--cuda-graphs", is_flag=True, help="Capture the whole training step in one CUDA graph.")
@click.option("--data", default="synthetic", show_default=True, metavar="SOURCE",
              help="synthetic | cifar10:PATH | folder:PATH | digits (needs scikit-learn).")
@click.option("--synthetic-size", type=click.IntRange(min=2), default=8192, show_default=True,
              help="Images in the synthetic set.")
@click.option("--paths/--no-paths", default=True, show_default=True,
              help="Path-length gradients (Veit et al. 2016) for residual nets.")
@click.option("--path-repeats", type=click.IntRange(min=1), default=16, show_default=True,
              help="Backward passes with fresh random paths per path batch.")
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Data-parallel processes on this machine (DDP; gloo on CPU). Or launch with torchrun.")
@set_option
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default="reports/probe", show_default=True)
@click.option("--format", "plot_format", type=click.Choice(["svg", "png", "both"]), default="svg", show_default=True)
@click.option("--title", default="Training probe", show_default=True, help="Report title.")
@click.option("--notes", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A Markdown file whose text goes into the report under the title.")
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
@click.option("--replot", "replot_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="No training: redraw the report and figures in this folder from its probe.json "
                   "(e.g. after upgrading archc). Takes --format; the title and notes are the run's.")
def probe(specs: tuple, steps: int, batch: int, lr: float, momentum: float, weight_decay: float, optimizer: str,
          seed: int, log_every: int, device: str, amp: str, dtype: str, channels_last: Optional[bool], use_compile: bool,
          compile_mode: str, cuda_graphs: bool, data: str, synthetic_size: int, paths: bool, path_repeats: int,
          nproc: int, overrides: tuple, out_dir: str, plot_format: str, title: str, notes: Optional[str],
          no_progress: bool, replot_dir: Optional[str]) -> None:
    """Train each SPEC briefly and record how its gradients flow.

    Records the gradient norm of every conv/fc weight (by block and stage) at step 1 and every
    --log-every steps, the training loss and accuracy, and for residual nets the path-length gradients.
    Writes OUT/probe.json, OUT/probe.md and figures. Several specs share the figures' axes: e.g.
    `archc probe cifar/plain20 cifar/plain56 cifar/resnet20 cifar/resnet56` is the degradation experiment.
    Multi-GPU: `torchrun --nproc-per-node N -m archc probe ...` (only rank 0 writes).
    """
    from archc.probe.dist import env_info, spawn_local
    from archc.probe.train import run_probe

    formats = ("svg", "png") if plot_format == "both" else (plot_format,)
    if replot_dir is not None:
        if specs:
            raise click.UsageError("--replot redraws a finished run: give no SPECS")
        written = replot(Path(replot_dir), formats)
        click.echo(f"redrew {len(written)} files in {replot_dir}/ from its probe.json")
        return
    if not specs:
        raise click.UsageError("Missing argument 'SPECS...'.")
    info = env_info()
    if nproc > 1 and info.active:
        raise click.UsageError("--nproc starts processes itself; do not combine it with torchrun")
    models = [load_model(spec, overrides) for spec in specs]  # every spec checked before any training
    names = [model.name for model in models]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ArchcError(f"{', '.join(twice)} given more than once", expected="each spec once (runs are named after "
                         "their model, and their figures would overwrite each other)")
    title = " ".join(title.split()) or "Training probe"
    configs = []
    for model in models:
        try:
            configs.append(ProbeConfig(
                steps=steps, batch=batch, lr=lr, momentum=momentum, weight_decay=weight_decay, optimizer=optimizer,
                seed=seed, log_every=log_every, data=data, synthetic_size=synthetic_size, device=device, amp=amp, dtype=dtype,
                channels_last=channels_last, compile=use_compile or compile_mode != "default",
                compile_mode=compile_mode, cuda_graphs=cuda_graphs,
                path_gradients=paths,
                path_repeats=path_repeats, progress=not no_progress))
        except ValueError as exc:
            raise click.UsageError(_option_names(str(exc))) from None
    # everything that can be refused is refused before the first spec trains
    note_text = _read_notes(notes)
    check_writable_dir(Path(out_dir), "-o/--out")
    datasets = _checked_data(models, configs)
    results = []
    interrupted = False
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
        written = write_outputs(results, Path(out_dir), formats, title, note_text)
        click.echo(f"wrote {len(written)} files to {out_dir}/ (probe.md, probe.json, figures)")
    if interrupted:
        if info.is_main:
            click.echo("archc: interrupted; kept the runs measured so far", err=True)
        sys.exit(EXIT_INTERRUPTED)


def replot(folder: Path, formats: tuple) -> list[Path]:
    """Rewrite folder's probe.md and figures from its probe.json with this version of archc."""
    import json

    from archc.probe.result import ProbeResult

    source = folder / "probe.json"
    try:
        doc = json.loads(source.read_text(encoding="utf-8"))
        results = [ProbeResult.from_dict(r) for r in doc["results"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArchcError(f"{source}: not a probe result ({type(exc).__name__}: {exc})",
                         expected="the probe.json written by `archc probe`") from None
    return write_outputs(results, folder, formats, doc.get("title", "Training probe"), doc.get("notes", ""))


OPTION_OF_FIELD = {"lr": "--lr", "momentum": "--momentum", "weight_decay": "--wd", "steps": "--steps",
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
    from archc.probe.data import DataError, load_data, synthetic_size

    loaded: dict = {}
    for model, config in zip(models, configs):
        if config.data == "synthetic":
            size = synthetic_size(model.input_shape, model.classes, config.synthetic_size)
            if size < config.batch:
                raise DataError(f"{model.name}: the synthetic set for {model.input_shape[1]}px images and "
                                f"{model.classes} classes holds {size:,} images, fewer than one batch of {config.batch}",
                                expected=f"--batch {size} or less")
            continue
        key = _data_key(model, config)
        if key not in loaded:
            loaded[key] = load_data(config.data, model.input_shape, model.classes, config.seed,
                                    config.synthetic_size)
        try:
            loaded[key].check_against(model.input_shape, model.classes, config.batch)
        except DataError as exc:  # several specs may share the data: name the one it does not fit
            raise DataError(f"{model.name}: {exc.message}", expected=exc.expected) from None
    return loaded
