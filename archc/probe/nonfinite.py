"""Where a NaN or Inf first appeared in a training step: the input batch, a layer's output (forward, in
execution order), the loss, or a layer's gradient (backward order)."""
from __future__ import annotations

import math
from typing import Any, Callable, Optional

import torch
from torch import nn

from archc.probe.collectives import plain_bn_copy


def finite(value: float) -> bool:
    return math.isfinite(value)


def first_nonfinite_output(net: nn.Module, x: torch.Tensor, autocast: Callable[[], Any]) -> Optional[str]:
    """Run a copy of `net` (training mode, plain batch norm) on x; the first leaf module, in execution order,
    whose output is not finite, or None."""
    work = plain_bn_copy(net).train()
    found: list[str] = []
    handles = []
    for name, module in work.named_modules():
        if name and not any(True for _ in module.children()):
            def hook(mod: nn.Module, inputs: Any, out: Any, name: str = name) -> None:
                if not found and isinstance(out, torch.Tensor) and not bool(torch.isfinite(out).all()):
                    found.append(name)
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad(), autocast():
            work(x)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None


def diagnose(step: int, row: torch.Tensor, x: torch.Tensor, layers: list[str],
             first_output: Callable[[torch.Tensor], Optional[str]]) -> dict:
    """The report of a non-finite row [loss, correct, norm per layer] at `step`, whose batch was x."""
    loss = float(row[0])
    norms = [float(v) for v in row[2:]]
    bad = [i for i, v in enumerate(norms) if not finite(v)]
    what = "loss" if not finite(loss) else "gradient"
    info: dict[str, Any] = {"step": step, "what": what, "loss": loss if finite(loss) else None,
                            "nonfinite_layers": [layers[i] for i in bad]}
    if not bool(torch.isfinite(x).all()):
        info.update(where="input", layer="input batch")
    elif (layer := first_output(x)) is not None:
        info.update(where="forward", layer=layer)
    elif what == "loss":
        info.update(where="loss", layer="loss (all layer outputs finite)")
    else:
        info.update(where="backward", layer=layers[max(bad)] if bad else "?")
    place = {"input": "in the input batch", "forward": f"first in the output of {info['layer']}",
             "loss": "in the loss (every layer output finite)",
             "backward": f"first in the gradient of {info['layer']} (backward order)"}[info["where"]]
    info["message"] = f"non-finite {what} at step {step}: appeared {place}"
    return info


def undiagnosed(step: int, row: torch.Tensor, layers: list[str]) -> dict:
    """The report when the replay did not reproduce the non-finite value: the layers whose gradient was bad."""
    norms = [float(v) for v in row[2:]]
    bad = [layers[i] for i, v in enumerate(norms) if not finite(v)]
    what = "loss" if not finite(float(row[0])) else "gradient"
    first = bad[0] if bad else "?"
    return {"step": step, "what": what, "loss": None, "nonfinite_layers": bad, "where": "gradient",
            "layer": first, "message": f"non-finite {what} at step {step}: first layer with a non-finite "
            f"gradient: {first} (the replay did not reproduce it, so no forward trace)"}
