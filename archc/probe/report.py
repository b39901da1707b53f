"""Markdown for probe results: one section per run, and a report comparing several runs."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from archc.formats import number as fmt
from archc.formats import percent
from archc.mdtext import md_code, md_text, table
from archc.probe.layers import LayerInfo

STATUS_TEXT = {"completed": "completed", "interrupted": "interrupted (Ctrl-C): partial",
               "nonfinite": "stopped: NaN/Inf"}


def pct(value: float) -> str:
    return percent(value, decimals=1)


def _extreme(layers: Sequence[LayerInfo], norms: Sequence[float], pick: type = min) -> str:
    main = [(v, layer.path) for layer, v in zip(layers, norms) if layer.role == "main"]
    if not main:
        return "n/a"
    value, path = pick(main)
    return f"{fmt(value)} (`{path}`)"


def result_section(result, level: int = 3) -> str:  # result: ProbeResult (import cycle otherwise)
    h = "#" * level
    cfg = result.config
    m, d = result.model, result.data
    lines = [f"{h} {md_text(result.label)}", ""]
    source = md_code(m["source"]) if m.get("source") else md_text(result.name)
    overrides = f" with {md_code('--set ' + ' '.join(m['overrides']))}" if m.get("overrides") else ""
    lines.append(f"{source}{overrides} · {m.get('params', 0):,} params · {fmt(m.get('macs', 0) / 1e6, 4)} MMACs · "
                 f"data {d.get('name')} ({d.get('images', 0):,} training images "
                 f"{'x'.join(map(str, d.get('shape', [])))}, {d.get('classes')} classes)"
                 + "".join(f"; {note}" for note in d.get("notes", [])))
    rows: list[tuple[str, str]] = []
    status = STATUS_TEXT[result.status]
    if result.status == "interrupted" and result.steps_done == cfg.steps:
        status = "interrupted (Ctrl-C) after training, before the path gradients"
    rows.append(("status", f"{status}, {result.steps_done} of {cfg.steps} steps"))
    if result.nonfinite:
        rows.append(("where it stopped", result.nonfinite["message"]))
    if result.loss:
        head = result.loss[: max(1, min(10, len(result.loss)))]
        rows.append((f"training loss: first {len(head)} steps → last 10% of steps",
                     f"{fmt(sum(head) / len(head))} → {fmt(result.final_loss)}"))
        rows.append(("training error (1 - batch accuracy), last 10% of steps", pct(result.final_train_error)))
    if result.test_error:
        tested = d.get("test_images", 0)
        rows.append((f"test error ({tested:,} held-out images, eval mode): at init → step {result.test_steps[-1]} "
                     "(best)", f"{pct(result.test_error[0])} → {pct(result.final_test_error)} "
                     f"({pct(result.best_test_error)})"))
        rows.append((f"test loss at step {result.test_steps[-1]}", fmt(result.final_test_loss)))
    init = result.init_norms
    if init:
        end_step = result.norm_steps[-1]
        rows.append((f"first/last layer gradient norm: init → step {end_step}",
                     f"{fmt(result.ratio('init'))} → {fmt(result.ratio('end'))}"))
        rows.append(("smallest layer gradient norm at init", _extreme(result.layers, init, min)))
        rows.append(("largest layer gradient norm at init", _extreme(result.layers, init, max)))
    timing = result.timing
    if timing.get("steps_per_s"):
        tested = f", of which testing {timing['test_seconds']:.1f} s" if timing.get("test_seconds") else ""
        rows.append((f"training speed ({result.run.get('device')}, "
                     f"{result.run.get('machine', {}).get('torch_threads', '?')} torch threads; after step 1, so "
                     "compilation and warm-up excluded, testing excluded)",
                     f"{timing['steps_per_s']:.3g} steps/s, {timing.get('samples_per_s', 0):,.0f} images/s "
                     f"(whole run {timing.get('seconds', 0):.1f} s{tested})"))
    lines += ["", table(["measure", "value"], rows, align="ll")]
    if init:
        stage_init, stage_end = result.grouped("stage", "init"), result.grouped("stage", "end")
        counts: dict[str, int] = {}
        for layer in result.layers:
            counts[layer.stage] = counts.get(layer.stage, 0) + 1
        lines += ["", f"Gradient norm by stage (L2 over the stage's conv/fc weight gradients), at step 1 and "
                      f"step {result.norm_steps[-1]}:", "",
                  table(["stage", "weights", "at init", "at end"],
                        [(stage, counts[stage], fmt(value), fmt(stage_end.get(stage)))
                         for stage, value in stage_init.items()])]
    pg = result.path_gradients
    if pg:
        s = pg["summary"]
        first, last = pg["mean"][0], pg["mean"][-1]
        verb = "falls" if first is not None and last is not None and first > last else "goes"
        lines += ["", f"Path gradients (Veit et al. 2016, Sec. 5) over {pg['blocks']} residual blocks "
                      f"({pg['settings']['measurements']:,} sampled paths, after training, BN in eval mode): "
                      f"gradient magnitude at the input {verb} from {fmt(pg['mean'][0])} for the all-skip path "
                      f"(k=0) to {fmt(pg['mean'][-1])} for the path through every block (k={pg['blocks']}); "
                      f"weighted by the number of paths, 90% of the gradient comes from paths of length "
                      f"{s['range90'][0]}–{s['range90'][1]} (mode {s['mode_k']}, mean {fmt(s['mean_k'])}), "
                      f"while path lengths themselves average {fmt(s['mean_path_length'])}."]
    elif result.path_note:
        lines += ["", f"Path gradients: {result.path_note}."]
    return "\n".join(lines) + "\n"


def settings_text(results: Sequence) -> str:
    cfg = results[0].config
    run = results[0].run
    machine = run.get("machine", {})
    hw = machine.get("gpu") or f"{machine.get('cpu', '?')} ({machine.get('cpu_cores', '?')} cores, " \
                                f"{machine.get('torch_threads', '?')} torch thread(s))"
    data = results[0].data
    split = data.get("split") or "no test part (runs recorded before the probe held data out)"
    fit = "".join(f"; {note}" for note in dict.fromkeys(data.get("notes", [])) if "spec's input" in note)
    sets = f"{md_code('--set ' + ' '.join(results[0].model['overrides']))}, " if results[0].model.get("overrides") else ""
    return (f"Hardware: {hw}, {run.get('device', '?')}, torch {machine.get('torch', '?')}, "
            f"{run.get('world_size', 1)} process(es). Data: {cfg.data}, {data.get('images', 0):,} training images; "
            f"test: {split}{fit}. Settings: {sets}{cfg.optimizer.upper()} lr {cfg.lr} "
            f"({cfg.lr_schedule} schedule), "
            f"{'momentum ' + str(cfg.momentum) if cfg.optimizer == 'sgd' else 'betas (0.9, 0.999)'}, "
            f"weight decay {cfg.weight_decay}, batch {cfg.batch}, {cfg.steps} steps, seed {cfg.seed}, "
            f"{run.get('dtype', 'float32')}, amp {run.get('amp')}, channels_last {run.get('channels_last')}, "
            f"compile {run.get('compile')}, "
            f"CUDA graphs {run.get('cuda_graphs')}; norms kept and the test error measured every {cfg.log_every} "
            f"steps.")


def report_markdown(results: Sequence, title: str = "Training probe", figures: Sequence[Path] = (),
                    base: Optional[Path] = None, notes: str = "") -> str:
    lines = [f"# {md_text(title)}", "", settings_text(results) if results else "No runs.", ""]
    if notes:
        lines += [notes.strip(), ""]
    if results:
        rows = []
        for r in results:
            test = f"{pct(r.final_test_error)} ({pct(r.best_test_error)})" if r.test_error else "n/a"
            rows.append((md_text(r.label), f"{r.model.get('params', 0):,}", r.status, r.steps_done, fmt(r.final_loss),
                         pct(r.final_train_error), test, fmt(r.ratio("init")), fmt(r.ratio("end"))))
        lines += [table(["run", "params", "status", "steps", "loss, last 10%", "training error, last 10%",
                         "test error at the end (best)", "first/last grad norm at init", "at end"], rows,
                        align="lrlrrrrrr"), ""]
    for path in figures:
        rel = path.relative_to(base) if base is not None else path
        lines += [f"![{path.stem}]({rel.as_posix()})", ""]
    for r in results:
        lines.append(r.markdown_section(level=2))
    return "\n".join(lines).rstrip() + "\n"
