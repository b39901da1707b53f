"""Grouped convs get a fan-out divided by groups (as timm does; torch's initialisers ignore groups).

Golden values by hand: a depthwise 3x3 conv feeds each input to 9 outputs, so kaiming fan_out gives
std sqrt(2/9) = 0.4714; ResNeXt-50 32x4d's first 3x3 (128 -> 128, groups 32) has fan-out
128*9/32 = 36, std sqrt(2/36) = 0.2357. torch's kaiming_normal_ would give sqrt(2/1152) and
sqrt(2/1152) = 0.0417 for both: the test can tell them apart by a factor of 11 and 5.7."""
import math

import pytest
import torch
from torch import nn

import archc
from archc.backends.modules import init_weights


def _spec(tmp_path, body: str, mode: str = "fan_out", scheme: str = "kaiming_normal"):
    path = tmp_path / "g.yaml"
    path.write_text(f"name: g\ninput: {{size: 8, channels: 256}}\nclasses: 4\ninit: {{conv: {scheme}, mode: {mode}}}\n"
                    f"stages:\n{body}")
    return archc.compile(archc.load(path), seed=0)


def _grouped(net):
    return [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.groups > 1]


def test_depthwise_fan_out_is_kernel_area(tmp_path):
    net = _spec(tmp_path, "  - conv: {out: 256, groups: 256}\n")
    (conv,) = _grouped(net)
    assert conv.weight.shape == (256, 1, 3, 3)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.05)


def test_depthwise_fan_in_unchanged(tmp_path):
    net = _spec(tmp_path, "  - conv: {out: 256, groups: 256}\n", mode="fan_in")
    (conv,) = _grouped(net)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.05)


def test_resnext_grouped_conv(tmp_path):
    net = _spec(tmp_path, "  - residual: {block: bottleneck, width: 64, groups: 32, base_width: 4, blocks: 3}\n")
    convs = _grouped(net)
    assert len(convs) == 3 and all(c.weight.shape == (128, 4, 3, 3) for c in convs)
    for conv in convs:
        assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 36), rel=0.06)


@pytest.mark.parametrize("scheme,std", [("xavier_normal", math.sqrt(2 / (9 + 9))),
                                        ("xavier_uniform", math.sqrt(2 / (9 + 9))),
                                        ("kaiming_uniform", math.sqrt(2 / 9))])
def test_other_schemes_use_the_grouped_fan(tmp_path, scheme, std):
    net = _spec(tmp_path, "  - conv: {out: 256, groups: 256}\n", scheme=scheme)
    (conv,) = _grouped(net)
    assert conv.weight.std().item() == pytest.approx(std, rel=0.06)


def test_ungrouped_conv_is_torchs_kaiming_bit_for_bit():
    conv = nn.Conv2d(16, 32, 3, bias=False)
    torch.manual_seed(3)
    init_weights(nn.Sequential(conv), {"conv": (nn.Conv2d,)}, conv="kaiming_normal", mode="fan_out")
    reference = torch.empty(32, 16, 3, 3)
    torch.manual_seed(3)
    nn.init.kaiming_normal_(reference, mode="fan_out", nonlinearity="relu")
    assert torch.equal(conv.weight.detach(), reference)


def test_generated_source_initialises_the_same(tmp_path):
    from codegen_helpers import import_generated

    path = tmp_path / "g.yaml"
    path.write_text("name: g\ninput: {size: 8, channels: 64}\nclasses: 4\n"
                    "stages:\n  - conv: {out: 64, groups: 64}\n")
    net = archc.compile(archc.load(path), seed=0)
    module = import_generated(archc.generate_source(archc.load(path)), tmp_path, "gen_g")
    torch.manual_seed(0)
    generated = getattr(module, "G")()
    assert _grouped(generated)[0].weight.std().item() == pytest.approx(_grouped(net)[0].weight.std().item(), rel=0.2)
