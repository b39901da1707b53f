"""Snapshots of a net's weights and buffers and its optimizer state, restored in place.

In place, so that a CUDA graph captured over these tensors stays valid; used to undo the warm-up steps before
a capture and to replay a run from its last logged step to the step where a non-finite value appeared."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _optimizer_tensors(net: nn.Module, opt: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [v for p in net.parameters() for _, v in sorted(opt.state.get(p, {}).items())
            if isinstance(v, torch.Tensor)]


def snapshot(net: nn.Module, opt: torch.optim.Optimizer) -> list[Any]:
    """[copies of every parameter and buffer, {id(param): copied optimizer state}]."""
    model = [t.detach().clone() for t in [*net.parameters(), *net.buffers()]]
    state = {id(p): {k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in st.items()}
             for p, st in opt.state.items()}
    return [model, state]


def restore(net: nn.Module, opt: torch.optim.Optimizer, snap: list[Any], fresh_optimizer: bool = False) -> None:
    """Copy a snapshot back into the same tensors; `fresh_optimizer`: zero the optimizer's tensors instead,
    so that SGD/Adam then step exactly as from an empty state."""
    model, saved_opt = snap
    with torch.no_grad():
        for t, saved in zip([*net.parameters(), *net.buffers()], model):
            t.copy_(saved)
        if fresh_optimizer:
            for t in _optimizer_tensors(net, opt):
                t.zero_()
            return
        for p in net.parameters():
            saved_state = saved_opt.get(id(p))
            if saved_state is None:
                opt.state.pop(p, None)
                continue
            state = opt.state[p]
            for key in list(state):
                if key not in saved_state:
                    del state[key]
            for key, value in saved_state.items():
                if isinstance(value, torch.Tensor) and isinstance(state.get(key), torch.Tensor):
                    state[key].copy_(value)
                else:
                    state[key] = value.clone() if isinstance(value, torch.Tensor) else value
