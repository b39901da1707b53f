"""Every bundled spec: golden parameter counts from published figures or independent counts, and a
forward + backward pass on CPU in which every parameter gets a finite gradient.

Golden numbers come from papers, torchvision's metadata, or the closed-form counters below, which
are written from the papers' tables and share no code with archc."""
from pathlib import Path

import pytest
import torch

import archc

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
BUNDLED = sorted(str(p.relative_to(SPECS).with_suffix("")) for p in SPECS.rglob("*.yaml") if not p.name.startswith("_"))




# ---------------------------------------------------------------- independent counters


def conv_bn(cin: int, cout: int, k: int) -> int:
    """k x k conv without bias, then BN (scale + shift per channel)."""
    return k * k * cin * cout + 2 * cout


def fc(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def basic_resnet_params(blocks: tuple, shortcuts: bool, classes: int = 1000) -> int:
    """He et al. Table 1, 18/34-layer columns: 7x7 stem, pairs of 3x3 convs; 1x1 projections (option B)."""
    total, cin = conv_bn(3, 64, 7), 64
    for width, n in zip((64, 128, 256, 512), blocks):
        for _ in range(n):
            total += conv_bn(cin, width, 3) + conv_bn(width, width, 3)
            if shortcuts and cin != width:
                total += conv_bn(cin, width, 1)
            cin = width
    return total + fc(512, classes)


def cifar_params(n: int) -> int:
    """He et al. Sec. 4.2: 3x3 conv 16, 3 x n pairs of 3x3 convs (16/32/64), fc 10; option A adds nothing."""
    total, cin = conv_bn(3, 16, 3), 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += conv_bn(cin, width, 3) + conv_bn(width, width, 3)
            cin = width
    return total + fc(64, 10)


# GoogLeNet, Szegedy et al. 2015 Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
GOOGLENET_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}
# the table's "ops" column (millions of multiply-adds), printed to about 1M. Two rows do not follow from
# their own numbers and are left out: conv1 (34M; 7x7x3x64 at 112x112 is 118M) and 5a (54M; its row
# at 7x7x832 gives 51.1M, and 5a's params column, 1072K, is off by the same 3%).
GOOGLENET_TABLE_MOPS = {"conv2": 360, "3a": 128, "3b": 304, "4a": 73, "4b": 88, "4c": 100, "4d": 119, "4e": 170,
                        "5b": 71, "linear": 1}
GOOGLENET_MAP_SIZE = {"3": 28, "4": 14, "5": 7}


def googlenet_params(batchnorm: bool, five: int) -> tuple[int, int]:
    """(body, body + two aux heads). Paper: biases, no BN, 5x5; torchvision: BN (no bias), '5x5' is 3x3."""

    def conv(cin: int, cout: int, k: int) -> int:
        return conv_bn(cin, cout, k) if batchnorm else k * k * cin * cout + cout

    total = conv(3, 64, 7) + conv(64, 64, 1) + conv(64, 192, 3)
    cin, aux_in = 192, []
    for key, (n1, r3, n3, r5, n5, pp) in GOOGLENET_TABLE.items():
        total += conv(cin, n1, 1) + conv(cin, r3, 1) + conv(r3, n3, 3) + conv(cin, r5, 1) + conv(r5, n5, five)
        total += conv(cin, pp, 1)
        cin = n1 + n3 + n5 + pp
        if key in ("4a", "4d"):
            aux_in.append(cin)
    body = total + fc(1024, 1000)
    # aux: pool to 4x4, 1x1 conv 128, fc 2048 -> 1024, fc 1024 -> 1000
    aux = sum(conv(c, 128, 1) + fc(128 * 4 * 4, 1024) + fc(1024, 1000) for c in aux_in)
    return body, body + aux


# ---------------------------------------------------------------- golden counts

TORCHVISION_RESNETS = {  # torchvision weights metadata (DESIGN.md)
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808,
}
CIFAR_N = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18}
CIFAR_PAPER_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}  # He et al. Table 6, as printed

GOLDEN: dict[str, tuple[int, int]] = {  # spec -> (params without aux heads, params with aux heads)
    **{name: (n, n) for name, n in TORCHVISION_RESNETS.items()},
    "resnet50_v1": (TORCHVISION_RESNETS["resnet50"],) * 2,  # moving the stride changes no weight
    "googlenet_tv": (6_624_904, 13_004_888),  # torchvision; with aux heads counted from its code
    "googlenet": googlenet_params(batchnorm=False, five=5),
    "inception_v3": (23_834_568, 27_161_264),  # torchvision metadata (with aux); less its aux head counted by hand
    "plain34": (basic_resnet_params((3, 4, 6, 3), shortcuts=False),) * 2,
    "vgg19": (143_667_240, 143_667_240),  # torchvision vgg19 metadata
    "se_resnet50": (28_088_024,) * 2,  # timm seresnet50 (28.09M; Hu et al. Table 1: 28.1M); counted by hand and by
                                       # an independent module in tests/test_family_se.py
    "densenet121": (7_978_856, 7_978_856),  # torchvision densenet121 metadata
    "mobilenet_v2": (3_504_872, 3_504_872),  # torchvision mobilenet_v2 metadata
    **{f"cifar/resnet{d}": (cifar_params(n),) * 2 for d, n in CIFAR_N.items()},
    **{f"cifar/plain{d}": (cifar_params(n),) * 2 for d, n in CIFAR_N.items()},
    # torchvision metadata; pre-activation ResNets: independent modules and counts in tests/test_family_preact.py
    "resnext50_32x4d": (25_028_904,) * 2, "wide_resnet50_2": (68_883_240,) * 2,
    "preact_resnet18": (11_687_720,) * 2, "cifar/preact_resnet164": (1_703_258,) * 2,
    "cifar/preact_resnet1001": (10_327_706,) * 2,
}


def test_every_bundled_spec_has_a_golden_count():
    assert set(BUNDLED) == set(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_parameter_count_matches_golden(name):
    model = archc.lower(SPECS / f"{name}.yaml")
    body, with_aux = GOLDEN[name]
    assert model.cost.params == body
    assert model.cost_with_aux().params == with_aux


def test_independent_counters_reproduce_published_numbers():
    """The counters used as goldens above agree with published figures where those exist."""
    assert basic_resnet_params((2, 2, 2, 2), shortcuts=True) == TORCHVISION_RESNETS["resnet18"]
    assert basic_resnet_params((3, 4, 6, 3), shortcuts=True) == TORCHVISION_RESNETS["resnet34"]
    assert googlenet_params(batchnorm=True, five=3) == GOLDEN["googlenet_tv"]
    for depth, n in CIFAR_N.items():
        assert 6 * n + 2 == depth
        assert round(cifar_params(n) / 1e6, 2 if depth < 100 else 1) == CIFAR_PAPER_M[depth]


@pytest.mark.parametrize("depth", sorted(CIFAR_N))
def test_cifar_nets_round_to_the_papers_table(depth):
    for kind in ("resnet", "plain"):
        params = archc.lower(SPECS / "cifar" / f"{kind}{depth}.yaml").cost.params
        assert round(params / 1e6, 2 if depth < 100 else 1) == CIFAR_PAPER_M[depth]


def test_cifar_family_depth_is_6n_plus_2_weighted_layers():
    for depth, n in CIFAR_N.items():
        for kind in ("resnet", "plain"):
            model = archc.lower(SPECS / "cifar" / f"{kind}{depth}.yaml")
            weighted = [op for op in model.body.ops() if op.kind in ("conv", "fc") and op.role != "shortcut"]
            assert len(weighted) == depth
            assert model.spec.vars["n"] == n


def test_macs_match_published_figures():
    torchvision_gmacs = {"resnet18": 1.814, "resnet34": 3.664, "resnet50": 4.089, "resnet101": 7.801,
                         "resnet152": 11.514, "googlenet_tv": 1.498, "vgg19": 19.632,
                         "mobilenet_v2": 0.301, "densenet121": 2.834}
    for name, gmacs in torchvision_gmacs.items():
        assert round(archc.lower(SPECS / f"{name}.yaml").cost.macs / 1e9, 3) == gmacs, name
    # He et al. Table 1 prints GFLOPs (multiply-adds) truncated to one decimal: 1.8, 3.6, 3.8
    for name, paper in {"resnet18": 1.8, "resnet34": 3.6, "resnet50_v1": 3.8, "plain34": 3.6}.items():
        gmacs = archc.lower(SPECS / f"{name}.yaml").cost.macs / 1e9
        assert paper <= gmacs < paper + 0.1, name


def test_googlenet_modules_match_the_papers_ops_column():
    model = archc.lower(SPECS / "googlenet.yaml")
    conv2 = model.find("stem.conv2").cost.macs + model.find("stem.conv3").cost.macs  # 1x1 reduce 64 + 3x3 192
    assert abs(conv2 / 1e6 - GOOGLENET_TABLE_MOPS["conv2"]) <= 1
    assert abs(model.find("head.fc").cost.macs / 1e6 - GOOGLENET_TABLE_MOPS["linear"]) <= 1
    for key in GOOGLENET_TABLE:
        node = model.find(f"inception{key[0]}.inception{key}")
        size = GOOGLENET_MAP_SIZE[key[0]]
        assert node.out_shape == (sum(GOOGLENET_TABLE[key][i] for i in (0, 2, 4, 5)), size, size)
        if key in GOOGLENET_TABLE_MOPS:
            assert abs(node.cost.macs / 1e6 - GOOGLENET_TABLE_MOPS[key]) <= 1, key
    assert model.find("head.fc").in_shape[0] == 1024


def test_googlenet_aux_heads_are_on_4a_and_4d_with_weight_0_3():
    for name in ("googlenet", "googlenet_tv"):
        model = archc.lower(SPECS / f"{name}.yaml")
        assert [(a.attach.rsplit(".", 1)[-1], a.loss_weight) for a in model.aux_heads] == \
            [("inception4a", 0.3), ("inception4d", 0.3)]


# ---------------------------------------------------------------- forward and backward on CPU

SMALL_INPUT = {"googlenet": 224, "googlenet_tv": 64, "vgg19": 32}  # paper GoogLeNet ends in a fixed 7x7 avg pool
SMALL_INPUT["inception_v3"] = 299  # its aux head's 5x5 conv needs Mixed_6e at 17x17


def small_size(name: str) -> int:
    if name in SMALL_INPUT:
        return SMALL_INPUT[name]
    return 32 if name.startswith("cifar/") else 64


@pytest.mark.parametrize("name", BUNDLED)
def test_forward_backward_every_parameter_gets_a_gradient(name):
    size = small_size(name)
    model = archc.lower(archc.load(SPECS / f"{name}.yaml", [f"input.size={size}"]))
    net = archc.compile(model, seed=0).train()
    assert sum(p.numel() for p in net.parameters()) == model.cost_with_aux().params
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([1, 2])
    out = net(x)
    if model.aux_heads:
        logits, aux = out
        assert set(aux) == {a.name for a in model.aux_heads}
        loss = torch.nn.functional.cross_entropy(logits, target)
        for head, weight in net.aux_loss_weights.items():
            assert aux[head].shape == (2, model.classes)
            loss = loss + weight * torch.nn.functional.cross_entropy(aux[head], target)
    else:
        logits = out
        loss = torch.nn.functional.cross_entropy(logits, target)
    assert logits.shape == (2, model.classes)
    loss.backward()
    assert torch.isfinite(loss)
    missing = [n for n, p in net.named_parameters() if p.grad is None]
    assert not missing
    bad = [n for n, p in net.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad
    net.eval()
    with torch.no_grad():
        assert net(x).shape == (2, model.classes)  # eval mode: logits only, aux heads dropped
