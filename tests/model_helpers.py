"""Helpers for tests that compare two modules: random batch-norm state, torchvision references, output
differences, and generated source against the compiled module."""
from __future__ import annotations

import torch
import torchvision  # a test dependency (archc[test])

from codegen_helpers import import_generated

TOLERANCE = 1e-5  # max abs output difference of two float32 nets with the same weights


def randomise_norms(model: torch.nn.Module, seed: int = 1) -> None:
    """Give every BN random affine parameters and running statistics, so loading them is tested too."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(1 + 0.2 * torch.randn(c, generator=gen))
                m.bias.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(c, generator=gen))


def generated_and_compiled(ir, source: str, tmp_path, name: str, x: torch.Tensor) -> tuple:
    """(generated module's output, compiled module's output) on x, in eval mode, with the same weights."""
    import archc

    net = archc.compile(ir, seed=0).eval()
    twin = getattr(import_generated(source, tmp_path, name), ir.class_name)()
    twin.load_state_dict(net.state_dict(), strict=True)
    with torch.no_grad():
        return twin.eval()(x), net(x)


def torchvision_model(name: str, **kwargs) -> torch.nn.Module:
    """torchvision's `name`, untrained, seeded, with random batch-norm state."""
    torch.manual_seed(123)
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    randomise_norms(model)
    return model


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest absolute difference of two outputs of the same shape."""
    assert a.shape == b.shape
    return (a - b).abs().max().item()


def train_outputs(net: torch.nn.Module, reference: torch.nn.Module, x: torch.Tensor, seed: int = 7) -> tuple:
    """(net's, reference's) outputs on x in train mode, each run after the same seed: batch statistics, and the
    same dropout masks only if both nets run the same random layers in the same order."""
    with torch.no_grad():
        net.train()
        reference.train()
        torch.manual_seed(seed)
        ours = net(x)
        torch.manual_seed(seed)
        return ours, reference(x)
