"""archc.probe.nonfinite: a NaN is traced to the input, the first layer output, the loss, or a gradient."""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn

from archc.probe.nonfinite import diagnose, first_nonfinite_output, undiagnosed


class Blows(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * float("inf")


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), Blows(), nn.Flatten(), nn.Linear(8, 2))


def test_the_first_non_finite_output_is_named_in_execution_order():
    x = torch.ones(1, 1, 2, 2)
    assert first_nonfinite_output(_net(), x, nullcontext) == "2"  # the Blows module, before the linear layer
    assert first_nonfinite_output(nn.Sequential(nn.Conv2d(1, 2, 1)), x, nullcontext) is None


def test_diagnosis_says_where_it_appeared():
    row = torch.tensor([float("nan"), 1.0, 0.5, float("nan")])
    layers = ["stem.conv", "head.fc"]
    bad_input = diagnose(7, row, torch.tensor([float("nan")]), layers, lambda x: None)
    assert bad_input["where"] == "input" and bad_input["message"] == (
        "non-finite loss at step 7: appeared in the input batch")
    forward = diagnose(7, row, torch.ones(1), layers, lambda x: "stage1.block1.conv1")
    assert forward["where"] == "forward" and forward["nonfinite_layers"] == ["head.fc"]
    grad = diagnose(3, torch.tensor([1.0, 1.0, float("inf"), 2.0]), torch.ones(1), layers, lambda x: None)
    assert grad["where"] == "backward" and grad["layer"] == "stem.conv" and grad["loss"] == 1.0
    assert undiagnosed(3, torch.tensor([1.0, 1.0, 0.1, float("inf")]), layers)["layer"] == "head.fc"
