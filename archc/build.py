"""`archc build`: compile a lowered model and write its outputs (source, summary, diagram) atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from archc.io import atomic_write, atomic_write_json, staged_dir
from archc.ir.graph import Model
from archc.summary import format_table, summary_dict


def build_outputs(model: Model, out: Path, *, seed: int = 0, diagram: bool = True, check: bool = True,
                  echo: Callable[[str], None] = print) -> list[Path]:
    """Compile to torch (proving it builds and runs), print the summary, write <name>.py + summary.json."""
    import torch

    from archc.backends.codegen import generate
    from archc.backends.torch_backend import to_torch

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
    with staged_dir(out) as stage:  # all outputs appear together, or none do
        staged = [
            atomic_write(stage / f"{model.name}.py", generate(model)),
            atomic_write_json(stage / "summary.json", summary),
        ]
        if diagram:
            from archc.render import write_diagram

            staged.extend(write_diagram(model, stage, level="stage", fmt="svg",
                                        echo=lambda line: echo(line.replace(str(stage), str(out)))))
    return [out / p.name for p in staged]
