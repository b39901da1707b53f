"""Pre-activation ResNets (He et al. 2016, "Identity Mappings in Deep Residual Networks") and the two ResNet-50
variants expressible with bottleneck options (ResNeXt-50 32x4d, Wide ResNet-50-2).

The pre-activation specs are checked against independent nn.Modules written below from the authors' Torch code
(KaimingHe/resnet-1k-layers resnet-pre-act.lua for the CIFAR ResNet-164/1001; facebookarchive/fb.resnet.torch
models/preresnet.lua for the ImageNet ResNet-18), sharing no code with archc, and against closed-form
parameter counts. The ResNet-50 variants are checked against torchvision (its weights metadata for params
and MACs, its modules for outputs)."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from codegen_helpers import import_generated
from torch import nn

import archc
from model_helpers import randomise_norms
from archc.analysis import path_counts
from archc.ir.dag import to_dag
from archc.ir.graph import ResidualNode
from archc.weights import load_torchvision_weights

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
TOLERANCE = 1e-5


# ---------------------------------------------------------------- independent reference modules


class RefPreActBottleneck(nn.Module):
    """resnet-pre-act.lua `bottleneck(nInputPlane, nOutputPlane, stride)`: BN-ReLU-conv x3; a unit that
    increases dimensions applies its first BN-ReLU before the split and projects with a bare 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        mid = c_out // 4
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, mid, 1, stride, 0, bias=False)  # the stride sits on this 1x1
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, c_out, 1, 1, 0, bias=False)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.relu(self.bn1(x))
        out = self.conv1(a)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + (x if self.shortcut is None else self.shortcut(a))


class RefPreActResNetCifar(nn.Module):
    """resnet-pre-act.lua, dataset cifar10: depth 9n+2, nStages {16, 64, 128, 256}."""

    def __init__(self, n: int, classes: int = 10) -> None:
        super().__init__()
        stages = (16, 64, 128, 256)
        self.conv1 = nn.Conv2d(3, stages[0], 3, 1, 1, bias=False)
        units = []
        for i, stride in enumerate((1, 2, 2)):
            units.append(RefPreActBottleneck(stages[i], stages[i + 1], stride))
            units += [RefPreActBottleneck(stages[i + 1], stages[i + 1], 1) for _ in range(n - 1)]
        self.units = nn.Sequential(*units)
        self.bn = nn.BatchNorm2d(stages[3])
        self.fc = nn.Linear(stages[3], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.units(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))  # Avg(8, 8) on the 8x8 map: the mean over it


class RefPreActBasic(nn.Module):
    """fb.resnet.torch preresnet.lua `basicblock(n, stride, type)`: 'both_preact' (BN-ReLU before the split),
    'no_preact' (none) or the default (BN-ReLU in the residual branch only); shortcut type B, a bare 1x1 conv."""

    def __init__(self, c_in: int, c_out: int, stride: int, preact: str, shortcut_type: str = "B") -> None:
        super().__init__()
        self.preact = preact
        self.bn0 = nn.BatchNorm2d(c_in) if preact != "no_preact" else None
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        project = c_in != c_out and shortcut_type == "B"
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False) if project else None
        self.pad = (c_out - c_in, stride) if c_in != c_out and not project else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.preact == "both_preact":
            x = F.relu(self.bn0(x))
            s = x
        elif self.preact == "no_preact":
            s = x
        else:
            s = F.relu(self.bn0(x))
        out = self.conv2(F.relu(self.bn1(self.conv1(s))))
        if self.shortcut is not None:
            return out + self.shortcut(x)
        if self.pad is not None:  # type A: SpatialAveragePooling(1, 1, stride, stride), then x and 0 * x
            extra, stride = self.pad
            x = x[:, :, ::stride, ::stride]
            x = torch.cat([x, torch.zeros(x.shape[0], extra, *x.shape[2:])], 1)
        return out + x


class RefPreResNetCifarBasic(nn.Module):
    """preresnet.lua, dataset cifar10 (depth 6n+2): a bare 3x3 conv, then every stage's first block
    'both_preact' (stage 1's too: its identity shortcut reads the pre-activated input), final BN-ReLU."""

    def __init__(self, n: int, shortcut_type: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        blocks, c_in = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            blocks.append(RefPreActBasic(c_in, width, stride, "both_preact", shortcut_type))
            blocks += [RefPreActBasic(width, width, 1, "", shortcut_type) for _ in range(n - 1)]
            c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(64)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


class RefPreActResNet18(nn.Module):
    """preresnet.lua, dataset imagenet, depth 18: conv-BN-ReLU-maxpool, stage 1 'first' (its first block
    'no_preact'), stages 2-4 'both_preact' first blocks, final BN-ReLU, average pool, fc."""

    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, c_in = [], 64
        for width, stride, first in ((64, 1, "no_preact"), (128, 2, "both_preact"), (256, 2, "both_preact"),
                                     (512, 2, "both_preact")):
            blocks += [RefPreActBasic(c_in, width, stride, first), RefPreActBasic(width, width, 1, "")]
            c_in = width
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(512)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = F.relu(self.bn(self.blocks(x)))
        return self.fc(x.mean(dim=(2, 3)))


# ---------------------------------------------------------------- closed-form counts


def preact_cifar_params(n: int, with_bn: bool = True) -> int:
    """Parameters of resnet-pre-act.lua's net, counted from its layer list (conv weights, BN scale+shift, fc)."""
    bn = (lambda c: 2 * c) if with_bn else (lambda c: 0)
    total, c_in = 3 * 3 * 3 * 16, 16
    for c_out in (64, 128, 256):
        mid = c_out // 4
        for i in range(n):
            cin = c_in if i == 0 else c_out
            total += bn(cin) + cin * mid + bn(mid) + 9 * mid * mid + bn(mid) + mid * c_out
            total += cin * c_out if cin != c_out else 0
        c_in = c_out
    return total + bn(256) + 256 * 10 + 10


def preact_resnet18_params() -> int:
    """preresnet.lua's ImageNet ResNet-18, counted from its layer list."""
    total = 7 * 7 * 3 * 64 + 2 * 64
    c_in = 64
    for width, first in ((64, "no_preact"), (128, "both"), (256, "both"), (512, "both")):
        for b in range(2):
            cin = c_in if b == 0 else width
            pre = 0 if (b == 0 and first == "no_preact") else 2 * cin
            total += pre + 9 * cin * width + 2 * width + 9 * width * width + (cin * width if cin != width else 0)
        c_in = width
    return total + 2 * 512 + 512 * 1000 + 1000


# ---------------------------------------------------------------- helpers


def compare(net: nn.Module, ref: nn.Module, size: int, what: str) -> float:
    """Copy ref's weights into net (layer by layer, configurations checked); eval outputs' max abs difference."""
    torch.manual_seed(5)
    randomise_norms(ref)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    net.eval()
    ref.eval()
    with torch.no_grad():
        before = (net(x) - ref(x)).abs().max().item()
        load_torchvision_weights(net, ref)
        ours, theirs = net(x), ref(x)
    diff = (ours - theirs).abs().max().item()
    print(f"{what}: max abs difference {diff:.3g} (before copying {before:.3g}; |output| up to "
          f"{theirs.abs().max().item():.3g})")
    assert not before <= 1e-2  # (NaN too: a fresh 1001-layer net overflows in eval mode, BN stats untrained)
    assert diff <= TOLERANCE * max(1.0, theirs.abs().max().item())
    return diff


# ---------------------------------------------------------------- pre-activation ResNets


@pytest.mark.parametrize("name,n", [("preact_resnet164", 18), ("preact_resnet1001", 111)])
def test_cifar_preact_params_equal_the_independent_module_and_the_paper(name, n):
    model = archc.lower(SPECS / "cifar" / f"{name}.yaml")
    ref = RefPreActResNetCifar(n)
    exact = {18: 1_703_258, 111: 10_327_706}[n]
    assert model.cost.params == preact_cifar_params(n) == sum(p.numel() for p in ref.parameters()) == exact
    # the paper (Table 3) prints 1.7M and 10.2M: the conv and fc weights (BN's scale and shift left out)
    weights = preact_cifar_params(n, with_bn=False)
    assert weights == {18: 1_679_034, 111: 10_178_490}[n]
    assert round(weights / 1e6, 1) == {18: 1.7, 111: 10.2}[n]
    assert round(exact / 1e6, 1) == {18: 1.7, 111: 10.3}[n]  # with BN, 1001 rounds to 10.3M
    # depth 9n+2: the weighted layers on the main path (conv and fc, projections not counted)
    projections = {op.path for b in model.walk() if isinstance(b, ResidualNode) and b.shortcut
                   for op in b.shortcut.ops()}
    assert len(projections) == 3
    weighted = [op for op in model.body.ops() if op.kind in ("conv", "fc") and op.path not in projections]
    assert len(weighted) == 9 * n + 2 == int(name.removeprefix("preact_resnet"))


def test_preact_resnet164_outputs_equal_the_authors_architecture():
    compare(archc.compile(SPECS / "cifar" / "preact_resnet164.yaml"), RefPreActResNetCifar(18), 32,
            "preact_resnet164 vs resnet-pre-act.lua")


def test_preact_resnet1001_outputs_equal_the_authors_architecture():
    net = archc.compile(archc.load(SPECS / "cifar" / "preact_resnet1001.yaml", ["input.size=16"]))
    compare(net, RefPreActResNetCifar(111), 16, "preact_resnet1001 vs resnet-pre-act.lua (16x16 input)")


def test_preact_training_gradients_equal_the_reference():
    """Train mode (batch statistics) forward and backward: the shared pre-activation, the in-place ReLUs and
    the bare projection give the reference's gradients."""
    net = archc.compile(archc.load(SPECS / "cifar" / "preact_resnet164.yaml", ["vars.n=2"]))
    ref = RefPreActResNetCifar(2)
    randomise_norms(ref)
    load_torchvision_weights(net, ref)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    grads = []
    for module in (net.train(), ref.train()):
        xi = x.clone().requires_grad_(True)
        module(xi).square().sum().backward()
        grads.append((xi.grad, [p.grad for p in module.parameters()]))
    (gx, gp), (rx, rp) = grads
    diff = max((gx - rx).abs().max().item(), *((a - b).abs().max().item() for a, b in zip(gp, rp)))
    print(f"preact n=2 train-mode gradients: max abs difference {diff:.3g}")
    assert torch.allclose(gx, rx, rtol=1e-4, atol=1e-5)
    for a, b in zip(gp, rp):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)


def test_preact_resnet18_params_and_outputs_equal_fb_resnet_torch():
    model = archc.lower(SPECS / "preact_resnet18.yaml")
    ref = RefPreActResNet18()
    assert model.cost.params == preact_resnet18_params() == sum(p.numel() for p in ref.parameters()) == 11_687_720
    assert model.cost.macs == archc.lower(SPECS / "resnet18.yaml").cost.macs  # BN moves, conv/fc MACs do not
    compare(archc.compile(model), ref, 64, "preact_resnet18 vs preresnet.lua (64x64 input)")


PRERESNET20 = """
archc: 1
name: preresnet20
input: {{size: 32}}
classes: 10
stem: [{{conv: {{out: 16, kernel: 3, norm: none, act: none, bias: false}}}}]
stages:
  - residual: {{block: preact_basic, width: 16, blocks: 3, shortcut: {s}}}
  - residual: {{block: preact_basic, width: 32, blocks: 3, stride: 2, shortcut: {s}}}
  - residual: {{block: preact_basic, width: 64, blocks: 3, stride: 2, shortcut: {s}}}
head: [batchnorm, relu, gap, fc]
"""


@pytest.mark.parametrize("shortcut,fb_type", [("projection", "B"), ("pad", "A")])
def test_cifar_basic_preresnet_equals_fb_resnet_torch(shortcut, fb_type):
    """Every stage's first block shares its pre-activation with the shortcut, whatever the shortcut: the
    identity of stage 1, a projection (type B) or a zero-pad (type A) of stages 2 and 3."""
    model = archc.lower(archc.loads(PRERESNET20.format(s=shortcut)))
    ref = RefPreResNetCifarBasic(3, fb_type)
    assert model.cost.params == sum(p.numel() for p in ref.parameters())
    assert model.find("stage1.block1").shortcut is None
    compare(archc.compile(model), ref, 32, f"preact basic CIFAR ResNet-20, {shortcut} vs preresnet.lua type {fb_type}")


@pytest.mark.parametrize("spec", ["cifar/preact_resnet164", "preact_resnet18"])
def test_identity_path_is_clean(spec):
    """No activation after any add; from one add to the next the identity shortcut passes no op; every
    projection is a bare 1x1 conv reading the stage's shared pre-activation."""
    model = archc.lower(SPECS / f"{spec}.yaml")
    g = to_dag(model)
    blocks = [n for n in model.walk() if isinstance(n, ResidualNode)]
    assert blocks and all(b.post is None for b in blocks)
    for prev, block in zip(blocks, blocks[1:]):
        if block.shortcut is None:
            assert g.has_edge(f"{prev.path}.add", f"{block.path}.add")
            assert g.edges[f"{prev.path}.add", f"{block.path}.add"]["shortcut"] == "identity"
        else:
            assert [op.kind for op in block.shortcut.ops()] == ["conv"]
            assert block.path.endswith(".block1")
            stage = block.path.split(".")[0]
            assert list(g.predecessors(f"{block.path}.shortcut.conv")) == [f"{stage}.preact.act"]
            assert list(g.predecessors(f"{block.path}.conv1.conv")) == [f"{stage}.preact.act"]


def binomial_row(n: int) -> dict[int, int]:
    return {k: math.comb(n, k) for k in range(n + 1)}


@pytest.mark.parametrize("name,n", [("preact_resnet164", 18), ("preact_resnet1001", 111)])
def test_path_counts_are_exactly_2_to_the_number_of_units(name, n):
    r = path_counts(archc.lower(SPECS / "cifar" / f"{name}.yaml"))
    blocks = 3 * n
    assert r.layers["output"].total == r.blocks["output"].total == 2 ** blocks
    assert r.blocks["output"].as_dict() == binomial_row(blocks)
    # lengths in weighted layers: stem conv and fc, then per stage (x^3 + x) for the first unit (body or
    # projection) and (x^3 + 1) for each other unit: the polynomial multiplied out here by hand
    poly = {2: 1}
    for _stage in range(3):
        for factor in [{3: 1, 1: 1}] + [{3: 1, 0: 1}] * (n - 1):
            out: dict[int, int] = {}
            for a, ca in poly.items():
                for b, cb in factor.items():
                    out[a + b] = out.get(a + b, 0) + ca * cb
            poly = out
    assert r.layers["output"].as_dict() == poly
    assert max(poly) == 9 * n + 2 and min(poly) == 5


def test_codegen_of_a_preact_spec_gives_identical_outputs(tmp_path):
    model = archc.lower(archc.load(SPECS / "cifar" / "preact_resnet164.yaml", ["vars.n=2"]))
    net = archc.compile(model, seed=3).eval()
    module = import_generated(archc.generate_source(model), tmp_path, model.name)
    generated = getattr(module, model.class_name)().eval()
    assert list(generated.state_dict()) == list(net.state_dict())
    generated.load_state_dict(net.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(generated(x), net(x))


# ---------------------------------------------------------------- ResNeXt-50 32x4d and Wide ResNet-50-2


TORCHVISION_WEIGHTS = {"resnext50_32x4d": torchvision.models.ResNeXt50_32X4D_Weights.IMAGENET1K_V1,
                       "wide_resnet50_2": torchvision.models.Wide_ResNet50_2_Weights.IMAGENET1K_V1}


@pytest.mark.parametrize("name", sorted(TORCHVISION_WEIGHTS))
def test_resnet50_variants_params_and_macs_equal_torchvision_metadata(name):
    """torchvision's `_ops` ("GFLOPS" in its docs) counts multiply-accumulates: ResNet-50's is 4.089, its
    conv/fc MACs / 1e9 (test_bundled_specs); printed to 3 significant digits for ResNeXt (4.23)."""
    meta = TORCHVISION_WEIGHTS[name].meta
    assert {"resnext50_32x4d": 25_028_904, "wide_resnet50_2": 68_883_240}[name] == meta["num_params"]
    model = archc.lower(SPECS / f"{name}.yaml")
    assert model.cost.params == meta["num_params"]
    gmacs = model.cost.macs / 1e9
    digits = len(str(meta["_ops"]).split(".")[1])
    assert round(gmacs, digits) == meta["_ops"], gmacs


@pytest.mark.parametrize("name", sorted(TORCHVISION_WEIGHTS))
def test_resnet50_variants_outputs_equal_torchvision(name):
    torch.manual_seed(123)
    tv = torchvision.models.get_model(name, weights=None)
    compare(archc.compile(SPECS / f"{name}.yaml"), tv, 64, f"{name} vs torchvision (64x64 input)")
