"""Squeeze-excitation (Hu et al. 2018, "Squeeze-and-Excitation Networks"): specs/se_resnet50.yaml against an
independent SE-ResNet-50 written here by hand in timm's `seresnet50` layout (timm is not a dependency), the
`se` layer in custom bodies, and the command line on the bundled spec.

Golden figures: 28,088,024 params (timm's seresnet50, printed 28.09M; the paper's Table 1: 28.1M), counted
here by the hand-written module and by a closed-form count from the paper's Fig. 3 / Table 1, which also
gives the MACs."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Optional

import pytest
import torch
from click.testing import CliRunner
from codegen_helpers import import_generated
from model_helpers import randomise_norms
from torch import nn

import archc
from archc.cli import main

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "se_resnet50.yaml"
SE_RESNET50_PARAMS = 28_088_024
STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))  # (width, blocks, stride): He et al. Table 1
REDUCTION = 16


# ---------------------------------------------------------------- the independent model (timm's layout)


class SEModule(nn.Module):
    """timm.layers.SEModule: mean over H x W, fc1 (1x1 conv, bias), ReLU, fc2 (1x1 conv, bias), sigmoid, times x."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(self.act(self.fc1(s))))


class SEBottleneck(nn.Module):
    """timm's Bottleneck with attn_layer='se': the stride on the 3x3, the gate after bn3, before the add."""

    def __init__(self, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        out = 4 * width
        self.conv1 = nn.Conv2d(c_in, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.se = SEModule(out, out // REDUCTION)
        self.downsample: Optional[nn.Module] = None
        if stride != 1 or c_in != out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        y = torch.relu(self.bn2(self.conv2(y)))
        y = self.se(self.bn3(self.conv3(y)))
        shortcut = x if self.downsample is None else self.downsample(x)
        return torch.relu(y + shortcut)


class SEResNet50(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in = 64
        for i, (width, blocks, stride) in enumerate(STAGES):
            layers = []
            for b in range(blocks):
                layers.append(SEBottleneck(c_in, width, stride if b == 0 else 1))
                c_in = 4 * width
            self.add_module(f"layer{i + 1}", nn.Sequential(*layers))
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for i in range(len(STAGES)):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(x.mean((2, 3)), 1))


def closed_form(size: int = 224) -> tuple[int, int]:
    """(params, MACs) of SE-ResNet-50 from the paper's tables: every conv k*k*C_in*C_out (+ 2 C_out BN, or
    + C_out bias in a gate), its MACs times H x W of its output (a gate's convs work on 1 x 1)."""
    params = 7 * 7 * 3 * 64 + 2 * 64
    h = size // 2
    macs = 7 * 7 * 3 * 64 * h * h
    h //= 2  # max pool
    c_in = 64
    for width, blocks, stride in STAGES:
        for b in range(blocks):
            s = stride if b == 0 else 1
            out, hidden, h_out = 4 * width, 4 * width // REDUCTION, h // s
            params += c_in * width + 9 * width * width + width * out + 2 * (width + width + out)
            macs += c_in * width * h * h + 9 * width * width * h_out * h_out + width * out * h_out * h_out
            params += 2 * out * hidden + hidden + out  # the gate
            macs += 2 * out * hidden
            if s != 1 or c_in != out:
                params += c_in * out + 2 * out
                macs += c_in * out * h_out * h_out
            c_in, h = out, h_out
    return params + 2048 * 1000 + 1000, macs + 2048 * 1000


def randomise(model: nn.Module, seed: int = 1) -> None:
    """Random BN affine parameters and statistics (as the torchvision tests do), random conv biases (the
    gates'): so copying them is tested too."""
    randomise_norms(model, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d) and m.bias is not None:
                m.bias.copy_(0.5 * torch.randn(m.bias.shape, generator=gen))


# ---------------------------------------------------------------- tests


def test_params_and_macs_equal_the_independent_counts() -> None:
    model = archc.lower(SPEC)
    params, macs = closed_form()
    assert params == SE_RESNET50_PARAMS == sum(p.numel() for p in SEResNet50().parameters())
    assert model.cost.params == SE_RESNET50_PARAMS
    assert model.cost.macs == macs == 4_091_699_200  # ResNet-50's 4,089,184,256 + 2,514,944 in the gates
    assert round(model.cost.params / 1e6, 1) == 28.1  # Hu et al. Table 1


def test_outputs_equal_the_hand_written_module_after_copying_weights() -> None:
    torch.manual_seed(0)
    reference = SEResNet50()
    randomise(reference)
    net = archc.compile(archc.lower(archc.load(SPEC, ["input.size=64"])), seed=0)
    ours, theirs = net.state_dict(), reference.state_dict()
    assert len(ours) == len(theirs)
    for (key, value), (ref_key, ref_value) in zip(ours.items(), theirs.items()):  # registration order = layout
        assert value.shape == ref_value.shape, (key, ref_key)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    net.eval()
    reference.eval()
    with torch.no_grad():
        before = (net(x) - reference(x)).abs().max().item()
        net.load_state_dict(dict(zip(ours, theirs.values())))
        out, ref = net(x), reference(x)
    diff = (out - ref).abs().max().item()
    print(f"SE-ResNet-50 vs hand-written: max abs difference {diff:.3g} (before copying {before:.3g}, "
          f"outputs up to {ref.abs().max().item():.3g})")
    assert before > 1e-2
    assert diff <= 1e-5 * max(1.0, ref.abs().max().item())


def test_a_gate_in_a_custom_body_is_the_same_as_the_stage_option() -> None:
    """`se` as a layer after the last conv of a custom body builds exactly the basic block with `se:`."""
    head = "archc: 1\nname: t\ninput: {size: 16}\nclasses: 4\nstem: [{conv: {out: 16}}]\n"
    option = archc.lower(archc.loads(head + "stages:\n  - residual: {block: basic, width: 16, se: {reduction: 4}}\n"))
    custom = archc.lower(archc.loads(head + "stages:\n  - residual:\n      layers: [{conv: {out: 16}}, "
                                     "{conv: {out: 16}}, {se: {reduction: 4, name: se}}]\n"))
    a, b = archc.compile(option, seed=0).eval(), archc.compile(custom, seed=0).eval()
    assert list(a.state_dict()) == list(b.state_dict())
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_the_command_line_on_se_resnet50(tmp_path: Path) -> None:
    """build (the generated .py imports and gives the compiled outputs), analyze --fvcore, diagram at every
    level, on the bundled spec at 64 x 64."""
    small = ["--set", "input.size=64"]
    runner = CliRunner()
    build = runner.invoke(main, ["build", str(SPEC), "-o", str(tmp_path / "build"), *small])
    assert build.exit_code == 0, build.output
    generated = import_generated((tmp_path / "build" / "se_resnet50.py").read_text(), tmp_path, "gen_se50")
    gen = generated.SeResnet50().eval()
    net = archc.compile(archc.load(SPEC, ["input.size=64"]), seed=0).eval()
    gen.load_state_dict(net.state_dict())
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(gen(x), net(x))
    analyze = runner.invoke(main, ["analyze", str(SPEC), "-o", str(tmp_path / "report"), "--fvcore", "--no-init",
                                   *small])
    assert analyze.exit_code == 0, analyze.output
    report = json.loads((tmp_path / "report" / "se_resnet50" / "report.json").read_text())
    fv = report["fvcore"]
    assert fv["all_equal"] and fv["ops_checked"] == 54 + 32  # ResNet-50's 53 convs + fc, the gates' 32
    assert fv["unsupported"]["aten::mul"] == 16  # the gates' multiplies: not counted by fvcore (nor archc)
    assert report["paths"]["outputs"]["output"]["paths"] == 2 ** 16  # the gates add none
    assert report["paths"]["outputs"]["output"]["layers"]["max"] == 50
    for level in ("stage", "block", "layer"):
        done = runner.invoke(main, ["diagram", str(SPEC), "--level", level, "-f", "dot", "-o",
                                    str(tmp_path / f"d_{level}.dot")])
        assert done.exit_code == 0, done.output
    layer = (tmp_path / "d_layer.dot").read_text()
    assert len(re.findall(r'^\s*"[^"]*\.se\.mul" \[', layer, re.M)) == 16  # one multiply node per gate
    assert "stage4.block3.se.expand.act" in layer


@pytest.mark.parametrize("where", ["residual", "plain", "inception"])
def test_se_items_work_in_every_kind_of_body(where: str) -> None:
    bodies = {
        "residual": "  - residual: {layers: [{conv: {out: 32}}, {se: {reduction: 2}}, {conv: {out: 32}}]}\n",
        "plain": "  - plain: {layers: [{conv: {out: 8}}, {se: {reduction: 2}}], blocks: 2}\n",
        "inception": "  - inception: {modules: {a: {branches: [[{conv: {out: 4}}, {se: {reduction: 2}}], [{se: {}}]]}}}\n",
    }
    text = "archc: 1\nname: t\ninput: {size: 8}\nclasses: 3\nstem: [{conv: {out: 32}}]\nstages:\n" + bodies[where]
    model = archc.lower(archc.loads(text))
    net = archc.compile(model, seed=0).eval()
    assert sum(p.numel() for p in net.parameters()) == model.cost.params
    with torch.no_grad():
        assert net(torch.randn(2, 3, 8, 8)).shape == (2, 3)
