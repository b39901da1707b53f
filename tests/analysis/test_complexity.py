"""Analytic complexity against published figures, hand counts and fvcore's independent tracing."""
import math

import pytest

import archc
from archc.analysis import complexity, fvcore_crosscheck
from archc.cli import bundled_specs
from archc.errors import SpecError

# torchvision weights metadata: params, GMACs @224 (torchvision's "GFLOPS" count multiply-adds)
TORCHVISION = {
    "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664),
    "resnet50": (25_557_032, 4.089),
    "resnet101": (44_549_160, 7.801),
    "resnet152": (60_192_808, 11.514),
    "googlenet_tv": (6_624_904, 1.498),
}
# He et al. 2016, Table 1 ("FLOPs" = multiply-adds, x10^9), stride on the bottleneck's first 1x1
HE_TABLE1 = {"resnet18": 1.8, "resnet34": 3.6, "resnet50_v1": 3.8, "resnet101": 7.6, "resnet152": 11.3}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_totals_match_torchvision(name):
    c = complexity(archc.lower(f"specs/{name}.yaml"))
    params, gmacs = TORCHVISION[name]
    assert c["total"]["params"] == params
    assert round(c["total"]["macs"] / 1e9, 3) == gmacs
    assert c["total"]["flops"] == 2 * c["total"]["macs"]
    assert sum(s["macs"] for s in c["stages"]) == c["total"]["macs"]
    assert sum(s["params"] for s in c["stages"]) == params


PAPER_V1 = [f"stages.{i}.residual.stride_on=1x1" for i in range(4)]  # the bundled 101/152 are v1.5


@pytest.mark.parametrize("name", sorted(HE_TABLE1))
def test_he_table1_paper_variants(name):
    """The paper rounds to 0.1 GFLOPs, and not always in the same direction: within 2%."""
    overrides = PAPER_V1 if name in ("resnet101", "resnet152") else []
    macs = complexity(archc.lower(archc.load(f"specs/{name}.yaml", overrides)))["total"]["macs"]
    assert abs(macs / 1e9 - HE_TABLE1[name]) / HE_TABLE1[name] < 0.02


def test_v1_stride_on_1x1_is_cheaper_and_same_params():
    v1 = complexity(archc.lower("specs/resnet50_v1.yaml"))["total"]
    v15 = complexity(archc.lower("specs/resnet50.yaml"))["total"]
    assert v1["params"] == v15["params"]
    assert int(v1["macs"] / 1e8) == 38  # 3.8x10^9 as He et al. print it
    assert v15["macs"] - v1["macs"] > 0.2e9  # the 3x3 at stride 1 costs 4x in the first block of stages 2-4


def test_googlenet_with_aux_heads_matches_torchvision_code():
    """13,004,888 parameters counted from torchvision's GoogLeNet(aux_logits=True)."""
    c = complexity(archc.lower("specs/googlenet_tv.yaml"))
    assert c["total_with_aux"]["params"] == 13_004_888
    assert c["total"]["params"] == 6_624_904
    assert c["total_with_aux"]["macs"] > c["total"]["macs"]
    assert len(c["aux_heads"]) == 2


TINY = """
archc: 1
name: tiny
input: {channels: 3, size: 8}
classes: 10
defaults: {norm: batchnorm, act: relu}
stem:
  - conv: {out: 4, kernel: 3}
stages:
  - maxpool: {kernel: 2}
head:
  - gap: {}
  - fc: {}
"""


def test_hand_counted_tiny_net():
    c = complexity(archc.lower(archc.loads(TINY)), ops=True)
    conv_macs = 3 * 3 * 3 * 4 * 8 * 8
    fc_macs = 4 * 10
    assert c["total"]["macs"] == conv_macs + fc_macs
    assert c["total"]["params"] == 3 * 3 * 3 * 4 + 2 * 4 + 4 * 10 + 10  # conv (no bias), BN, fc + bias
    # outputs: conv, bn, relu 4x8x8 each; maxpool 4x4x4; gap 4; fc 10
    acts = 3 * 4 * 64 + 4 * 16 + 4 + 10
    assert c["total"]["activations"] == acts
    assert c["total"]["activation_bytes"] == 4 * acts
    assert c["weighted_ops"] == 2
    assert [r["kind"] for r in c["ops"]] == ["conv", "batchnorm", "relu", "maxpool", "gap", "fc"]


def test_input_size_override_rescales_conv_macs():
    base = complexity(archc.lower(archc.load("specs/resnet18.yaml")))
    double = complexity(archc.lower(archc.load("specs/resnet18.yaml", ["input.size=448"])))
    assert double["input"] == [3, 448, 448]
    # every map doubles in H and W (448 halves evenly down to 14 where 224 reaches 7): 4x the conv MACs
    assert double["by_category"]["conv"]["macs"] == 4 * base["by_category"]["conv"]["macs"]
    assert double["total"]["params"] == base["total"]["params"]


def _small_model(path):
    """The spec at a small input size where it lowers (conv/fc MACs stay comparable), else its own."""
    for size in (32, 64, 96):
        try:
            return archc.lower(archc.load(path, [f"input.size={size}"]))
        except SpecError:
            continue
    return archc.lower(archc.load(path))


@pytest.mark.parametrize("path", bundled_specs(), ids=lambda p: p.stem)
def test_fvcore_conv_and_linear_macs_equal_for_every_bundled_spec(path):
    model = _small_model(path)
    check = fvcore_crosscheck(model)
    assert check["ops_checked"] == sum(1 for op in model.body.ops() if op.op.category in ("conv", "linear")) + sum(
        1 for a in model.aux_heads for op in a.head.ops() if op.op.category in ("conv", "linear"))
    assert check["all_equal"], check["mismatches"]
    assert check["conv_linear_macs"]["analytic"] == check["conv_linear_macs"]["fvcore"] > 0


def test_fvcore_reports_unsupported_ops_and_extras():
    check = fvcore_crosscheck(archc.lower(archc.load("specs/resnet18.yaml", ["input.size=64"])))
    assert check["unsupported"]["aten::add"] == 8  # one residual add per basic block, not hidden
    assert "aten::max_pool2d" in check["unsupported"]
    assert check["fvcore_only"]["batch_norm"] > 0  # fvcore counts BN, archc's convention counts 0 MACs
    assert check["total_macs"]["fvcore"] > check["total_macs"]["analytic"]


def test_fvcore_covers_aux_heads():
    model = archc.lower("specs/googlenet.yaml")
    check = fvcore_crosscheck(model)
    aux_rows = [r for r in check["ops"] if r["path"].startswith("aux")]
    assert len(aux_rows) == 2 * 3  # conv, fc1, fc2 in each head
    assert all(r["equal"] for r in aux_rows)
    # aux1 conv: 1x1, 512 -> 128 on the 4x4 map that a 5x5/3 average pool leaves of inception4a's 14x14
    conv = next(r for r in aux_rows if r["path"] == "aux1.conv.conv")
    assert conv["fvcore_macs"] == 512 * 128 * 4 * 4
    assert math.isclose(check["total_macs"]["analytic"], complexity(model)["total_with_aux"]["macs"])
