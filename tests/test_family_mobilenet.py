"""MobileNet-V2 (Sandler et al. 2018): depthwise convs, the inverted residual block, the bundled spec, and the
depthwise-factorisation savings.

Golden numbers: torchvision's MobileNet_V2_Weights.IMAGENET1K_V1 metadata (3,504,872 params, 0.301 GMACs), the
paper's Table 2 through the hand-written counters below (which share no code with archc), torchvision's own
`use_res_connect` flags, and hand-counted MACs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

import archc
from model_helpers import generated_and_compiled, randomise_norms
from archc.analysis import bottleneck_savings
from archc.analysis.crosscheck import fvcore_crosscheck
from archc.ir.graph import OpNode, ResidualNode, SeqNode
from archc.weights import from_torchvision, load_torchvision_weights

from model_helpers import TOLERANCE, max_diff

SPEC = Path(__file__).resolve().parent.parent / "specs" / "mobilenet_v2.yaml"

# Sandler et al. Table 2: expansion t, output channels c, blocks n, stride s (of the first block)
TABLE2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
TORCHVISION_PARAMS = 3_504_872  # MobileNet_V2_Weights.IMAGENET1K_V1.meta["num_params"]
TORCHVISION_GMACS = 0.301  # MobileNet_V2_Weights.IMAGENET1K_V1.meta["_ops"]


def table2_counts(size: int = 224, classes: int = 1000) -> tuple[int, int]:
    """(params, MACs) by hand from Table 2: conv weights k*k*(C_in/groups)*C_out, BN 2*C, MACs = weights x H x W
    of the output; the 3x3 stem /2, blocks (1x1 expand unless t = 1, 3x3 depthwise, 1x1 project), 1x1 to 1280,
    fc 1280 -> classes."""
    params = macs = 0

    def conv_bn(cin: int, cout: int, k: int, hw: int, groups: int = 1) -> None:
        nonlocal params, macs
        weights = k * k * (cin // groups) * cout
        params += weights + 2 * cout
        macs += weights * hw * hw

    hw = (size + 1) // 2
    conv_bn(3, 32, 3, hw)
    cin = 32
    for t, c, n, s in TABLE2:
        for i in range(n):
            hidden = cin * t
            if t != 1:
                conv_bn(cin, hidden, 1, hw)
            hw = (hw - 1) // (s if i == 0 else 1) + 1
            conv_bn(hidden, hidden, 3, hw, groups=hidden)
            conv_bn(hidden, c, 1, hw)
            cin = c
    conv_bn(cin, 1280, 1, hw)
    return params + 1280 * classes + classes, macs + 1280 * classes


# ---------------------------------------------------------------- the bundled spec


def test_params_and_macs_match_torchvision_and_table2():
    model = archc.lower(SPEC)
    assert model.input_shape == (3, 224, 224)
    assert model.cost.params == TORCHVISION_PARAMS == table2_counts()[0]
    assert model.cost.macs == table2_counts()[1] == 300_774_272
    assert round(model.cost.macs / 1e9, 3) == TORCHVISION_GMACS


def test_outputs_equal_torchvision_with_weights_copied():
    net, tv = from_torchvision(archc.load(SPEC, ["input.size=64"]))  # the spec's name is torchvision's
    torch.manual_seed(1)
    randomise_norms(tv)
    with torch.no_grad():
        for p in tv.classifier.parameters():
            p.normal_(0, 0.1)  # torchvision's fc init (std 0.01) would make tiny logits
    tv.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = net(x)
        pairs = load_torchvision_weights(net, tv)
        ours, theirs = net(x), tv(x)
    diff = max_diff(ours, theirs)
    scale = theirs.abs().max().item()
    print(f"mobilenet_v2 vs torchvision: max abs difference {diff:.3g}, output scale {scale:.3g}")
    assert max_diff(before, theirs) > 1e-2 * scale  # the two nets really started different
    assert scale > 0.1 and diff <= TOLERANCE * scale
    assert len(pairs) == sum(1 for m in tv.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d,
                                                                        torch.nn.Linear)))


def test_shortcuts_exactly_where_torchvision_uses_res_connect():
    model = archc.lower(SPEC)
    blocks = [b for stage in model.stages if stage.role == "stage" for b in stage.items]
    tv = torchvision.models.mobilenet_v2()
    tv_blocks = [m for m in tv.features if isinstance(m, torchvision.models.mobilenetv2.InvertedResidual)]
    assert [isinstance(b, ResidualNode) for b in blocks] == [m.use_res_connect for m in tv_blocks]
    assert sum(isinstance(b, ResidualNode) for b in blocks) == sum(n - 1 for _, _, n, _ in TABLE2) == 10
    for b in blocks:
        units = b.body if isinstance(b, ResidualNode) else b.items
        assert [u.name for u in units][-2:] == ["depthwise", "project"]
        assert [op.kind for op in units[-1].ops()] == ["conv", "batchnorm"]  # linear bottleneck: no activation
        if isinstance(b, ResidualNode):
            assert b.post is None and b.shortcut is None  # identity, nothing after the add
    assert [u.name for u in blocks[0].items] == ["depthwise", "project"]  # t = 1: no expansion conv


def test_generated_source_gives_identical_outputs(tmp_path):
    model = archc.lower(archc.load(SPEC, ["input.size=32"]))
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    generated, compiled = generated_and_compiled(model, archc.generate_source(model), tmp_path, "gen_mobilenet_v2", x)
    assert torch.equal(generated, compiled)


def test_fvcore_counts_the_analytic_macs_of_every_conv():
    check = fvcore_crosscheck(archc.lower(archc.load(SPEC, ["input.size=32"])))
    assert check["all_equal"], check["mismatches"]
    assert check["ops_checked"] == 53


# ---------------------------------------------------------------- depthwise convs

def _spec(stages: str, channels: int = 8, size: int = 16) -> str:
    return f"name: t\ninput: {{channels: {channels}, size: {size}}}\nclasses: 3\nstages:\n{stages}"


def test_depthwise_conv_takes_groups_and_out_from_its_input():
    model = archc.lower(archc.loads(_spec("  - conv: {kernel: 3, stride: 2, depthwise: true}\n"
                                          "  - conv: {out: 24, kernel: 5, depthwise: true}\n")))
    net = archc.compile(model)
    first, second = net.conv1.conv, net.conv2.conv
    assert (first.in_channels, first.out_channels, first.groups, first.stride) == (8, 8, 8, (2, 2))
    assert (second.in_channels, second.out_channels, second.groups) == (8, 24, 8)  # channel multiplier 3
    assert model.find("conv2").out_shape == (24, 8, 8)
    assert model.find("conv2.conv").cost.params == 5 * 5 * 1 * 24 == second.weight.numel()
    assert model.find("conv1.conv").label == "3x3 conv, 8, /2, dw"


def test_depthwise_conv_in_custom_layers_and_its_errors_are_located():
    text = _spec("  - plain:\n      layers:\n        - conv: {kernel: 3, depthwise: true, out: 12}\n")
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(text, "t.yaml"))
    line = info.value.format()
    assert line.startswith("t.yaml:7:") and "stages[0].plain.layers[0].conv.out" in line and "\n" not in line
    assert "not a multiple of its 8 input channels" in line


# ---------------------------------------------------------------- the inverted block

def test_inverted_block_by_hand():
    """16 -> 16 channels, t = 4, stride 1: a residual block; then 16 -> 24 /2: no shortcut."""
    model = archc.lower(archc.loads(_spec("  - residual: {block: inverted, width: 16, expansion: 4}\n"
                                          "  - residual: {block: inverted, width: 24, expansion: 4, stride: 2}\n",
                                          channels=16)))
    first, second = model.find("stage1.block1"), model.find("stage2.block1")
    assert isinstance(first, ResidualNode) and first.post is None
    assert isinstance(second, SeqNode) and second.meta["shortcut"] == "none"
    assert [(u.name, u.out_shape) for u in first.body] == [("expand", (64, 16, 16)), ("depthwise", (64, 16, 16)),
                                                          ("project", (16, 16, 16))]
    assert second.out_shape == (24, 8, 8)
    # params: 1x1 16->64 + BN, 3x3 depthwise 64 + BN, 1x1 64->16 + BN
    assert first.cost.params == (16 * 64 + 128) + (9 * 64 + 128) + (64 * 16 + 32)
    net = archc.compile(model).eval()
    x = torch.randn(1, 16, 16, 16)
    block = net.stage1.block1
    with torch.no_grad():
        assert torch.allclose(block(x), x + block.project(block.depthwise(block.expand(x))))


def test_inverted_blocks_in_a_plain_stage_have_no_shortcut_and_dilation_reaches_the_depthwise_conv():
    model = archc.lower(archc.loads(_spec("  - plain: {block: inverted, width: 8, blocks: 2, dilation: 2}\n")))
    assert not any(isinstance(n, ResidualNode) for n in model.walk())
    dw = model.find("stage1.block2.depthwise.conv")
    assert isinstance(dw, OpNode) and dw.params.dilation == 2 and dw.params.resolved_padding() == (2, 2)
    assert dw.out_shape == (48, 16, 16)  # default expansion 6


# ---------------------------------------------------------------- savings

def test_depthwise_savings_of_one_block_by_hand():
    """stage2.block2 at 224: depthwise 3x3 on 144 channels at 56x56, pointwise 144 -> 24, vs a dense 3x3 144 -> 24."""
    dw = bottleneck_savings(archc.lower(SPEC))["depthwise"]
    block = next(b for b in dw["blocks"] if b["block"] == "stage2.block2")
    hw = 56 * 56
    assert (block["depthwise"], block["pointwise"]) == ("stage2.block2.depthwise.conv", "stage2.block2.project.conv")
    assert block["specified"]["macs"] == 3 * 3 * 144 * hw + 144 * 24 * hw == 14_902_272
    assert block["dense"]["macs"] == 3 * 3 * 144 * 24 * hw == 97_542_144
    assert block["specified"]["params"] == 3 * 3 * 144 + 144 * 24
    assert block["dense"]["params"] == 3 * 3 * 144 * 24
    assert block["macs_factor"] == round(1 / (1 / 24 + 1 / 9), 4)  # Howard et al. eq. 5: 1/N + 1/k^2
    assert block["dense"]["convs"][0]["formula"] == "3*3*144*24*56*56 = 97,542,144"
    assert len(dw["blocks"]) == sum(n for _, _, n, _ in TABLE2) == 17
    stage2 = next(s for s in dw["stages"] if s["stage"] == "stage2")
    assert stage2["pairs"] == 2
    assert stage2["dense"]["macs"] == 3 * 3 * 96 * 24 * hw + 3 * 3 * 144 * 24 * hw  # block1's depthwise is /2
    assert dw["total"]["dense"]["macs"] == sum(b["dense"]["macs"] for b in dw["blocks"])


def test_depthwise_savings_find_pairs_in_custom_layers_only_where_a_pointwise_follows():
    text = _spec("  - conv: {kernel: 3, depthwise: true}\n  - conv: {out: 16, kernel: 1}\n"
                 "  - conv: {kernel: 3, depthwise: true}\n  - conv: {out: 16, kernel: 3}\n")
    dw = bottleneck_savings(archc.lower(archc.loads(text)))["depthwise"]
    assert [(b["depthwise"], b["pointwise"]) for b in dw["blocks"]] == [("conv1.conv", "conv2.conv")]
    assert dw["blocks"][0]["dense"]["macs"] == 3 * 3 * 8 * 16 * 16 * 16
    assert "depthwise" not in bottleneck_savings(archc.lower("specs/resnet18.yaml"))
