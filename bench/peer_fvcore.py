"""The peer script `archc analyze` is measured against (issue 17): build the network in plain PyTorch,
count it with fvcore (`FlopCountAnalysis` + `flop_count_table`), write the per-module table as Markdown and
the counts as JSON. What a user without archc would run to get a network's params and MACs per layer.

    python bench/peer_fvcore.py resnet50 OUT_DIR        # torchvision's resnet50 at 224x224
    python bench/peer_fvcore.py cifar1202 OUT_DIR       # He et al.'s CIFAR ResNet-1202 (n = 200, option A)

Torch runs on one thread, as archc runs it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn


class _Basic(nn.Module):
    """A CIFAR basic block with the option-A shortcut (strided identity, zero-padded channels)."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.pad = c_out - c_in
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x[:, :, ::self.stride, ::self.stride] if self.stride > 1 else x
        if self.pad:
            short = nn.functional.pad(short, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return torch.relu(out + short)


def cifar_resnet(n: int) -> nn.Module:
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(n):
            layers.append(_Basic(c_in, width, stride if i == 0 else 1))
            c_in = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def main() -> None:
    from fvcore.nn import FlopCountAnalysis, flop_count_table

    name, out = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    if name == "resnet50":
        import torchvision

        net, size = torchvision.models.resnet50(), 224
    else:
        net, size = cifar_resnet(200), 32
    net.eval()
    with torch.no_grad():
        flops = FlopCountAnalysis(net, torch.zeros(1, 3, size, size))
        flops.unsupported_ops_warnings(False)
        flops.uncalled_modules_warnings(False)
        table = flop_count_table(flops, max_depth=10)
        by_module = flops.by_module()
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in net.named_modules()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(f"# {name}\n\n{table}\n")
    (out / "report.json").write_text(json.dumps({"macs": dict(by_module), "params": params}, indent=1))
    print(f"{name}: {by_module['']:,} MACs, {params['']:,} params -> {out}")


if __name__ == "__main__":
    main()
