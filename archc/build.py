"""`archc build`: compile a lowered model and write its outputs (source, summary, diagram) atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Union

from archc.io import atomic_write, atomic_write_json
from archc.ir.graph import Model
from archc.outdir import OutputFolder
from archc.summary import format_table, summary_dict


def output_names(model: Model, diagram: bool = True) -> list[str]:
    """The files `archc build` writes (the diagram is `.dot` instead when Graphviz is missing)."""
    return [f"{model.name}.py", "summary.json"] + ([f"{model.name}.svg"] if diagram else [])


def output_folder(model: Model, out: Union[Path, OutputFolder]) -> OutputFolder:
    """Where `archc build` writes: the spec itself is never replaced."""
    if isinstance(out, OutputFolder):
        return out
    return OutputFolder(out, "build", protect=[model.source] if model.source else [])


def build_outputs(model: Model, out: Union[Path, OutputFolder], *, seed: int = 0, diagram: bool = True, check: bool = True,
                  echo: Callable[[str], None] = print) -> list[Path]:
    """Compile to torch (proving it builds and runs), print the summary, write <name>.py + summary.json."""
    import torch

    from archc.backends.codegen import generate
    from archc.backends.torch_backend import to_torch

    folder = output_folder(model, out)
    folder.check(output_names(model, diagram))  # before any work
    net = to_torch(model, seed=seed)
    built_params = sum(p.numel() for p in net.parameters())
    expected = model.cost_with_aux().params
    if built_params != expected:  # the registry's analytic count and torch must agree
        raise RuntimeError(f"built module has {built_params:,} parameters, the IR says {expected:,}")
    if check:
        net.eval()
        with torch.no_grad():
            logits = net(torch.zeros(1, *model.input_shape))
        if tuple(logits.shape) != (1, *model.body.out_shape):
            raise RuntimeError(f"forward gave {tuple(logits.shape)}, the IR says {model.body.out_shape}")
        echo(f"check: forward pass on a 1 x {' x '.join(map(str, model.input_shape))} batch gave "
             f"{tuple(logits.shape)}, as the IR says; {built_params:,} parameters built")
    echo(format_table(model))
    summary = summary_dict(model)
    summary["seed"] = seed
    with folder.stage() as stage:  # all outputs appear together, or none do; never over a file archc did not write
        atomic_write(stage.path / f"{model.name}.py", generate(model))
        atomic_write_json(stage.path / "summary.json", summary)
        if diagram:
            from archc.render import write_diagram

            write_diagram(model, stage.path, level="stage", fmt="svg",
                          echo=lambda line: echo(line.replace(str(stage.path), str(folder.path))))
    return stage.written
