"""Dilated ResNets: stage `dilation` and custom residual bodies equal torchvision's
replace_stride_with_dilation (same weights -> the same outputs, checked against torchvision itself)."""
from pathlib import Path

import pytest
import torch
import torchvision

import archc
from archc.weights import load_torchvision_weights

SPECS = Path(__file__).resolve().parent.parent / "specs"
HEAD = ("archc: 1\nname: dilated\ninput: {channels: 3, size: 64}\nclasses: 10\n"
        "stem:\n  - conv: {out: 64, kernel: 7, stride: 2}\n  - maxpool: {kernel: 3, stride: 2, padding: 1}\n")

BUILTIN = HEAD + """stages:
  - residual: {block: bottleneck, width: 64,  blocks: 3}
  - residual: {block: bottleneck, width: 128, blocks: 4, stride: 2}
  - residual: {block: bottleneck, width: 256, blocks: 6, dilation: 2, first_dilation: 1}
  - residual: {block: bottleneck, width: 512, blocks: 3, dilation: 4, first_dilation: 2}
"""


def _body(width: int, stride: int, dilation: int) -> str:
    """A bottleneck written out as custom layers; the last conv says nothing about its activation."""
    return (f"[{{conv: {{out: {width}, kernel: 1}}}}, "
            f"{{conv: {{out: {width}, kernel: 3, stride: {stride}, dilation: {dilation}}}}}, "
            f"{{conv: {{out: {4 * width}, kernel: 1}}}}]")


def _stage(width: int, blocks: int, stride: int, first: int, rest: int) -> str:
    out = f"  - residual: {{blocks: 1, layers: {_body(width, stride, first)}}}\n"
    if blocks > 1:
        out += f"  - residual: {{blocks: {blocks - 1}, layers: {_body(width, 1, rest)}}}\n"
    return out


CUSTOM = HEAD + "stages:\n" + _stage(64, 3, 1, 1, 1) + _stage(128, 4, 2, 1, 1) + _stage(256, 6, 1, 1, 2) \
    + _stage(512, 3, 1, 2, 4)


def _torchvision():
    torch.manual_seed(0)
    tv = torchvision.models.resnet50(weights=None, num_classes=10,
                                     replace_stride_with_dilation=[False, True, True])
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random BN statistics, so that every tensor matters
        for m in tv.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.num_features, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=gen))
                m.weight.copy_(1 + 0.1 * torch.randn(m.num_features, generator=gen))
    return tv.eval()


@pytest.mark.parametrize("text", [BUILTIN, CUSTOM], ids=["stage-dilation", "custom-bodies"])
def test_dilated_resnet50_equals_torchvision(tmp_path, text):
    path = tmp_path / "dilated.yaml"
    path.write_text(text)
    ir = archc.lower(archc.load(path))
    assert ir.body.items[-2].out_shape == (2048, 8, 8)  # output stride 8, as torchvision's
    net = archc.compile(ir).eval()
    tv = _torchvision()
    load_torchvision_weights(net, tv)  # checks every conv's stride, padding and dilation too
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(net(x), tv(x), atol=1e-4, rtol=1e-4)


def test_custom_body_last_conv_has_no_activation_unless_asked(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: c\ninput: {size: 8}\nclasses: 2\nstages:\n"
                    "  - residual: {layers: [{conv: {out: 3}}, {conv: {out: 3}}, {dropout: {}}]}\n"
                    "  - residual: {layers: [{conv: {out: 3}}, {conv: {out: 3, act: relu}}]}\n")
    ir = archc.lower(archc.load(path))
    first, second = ir.body.items[0].items[0], ir.body.items[1].items[0]
    assert [o.kind for o in first.body[1].ops()] == ["conv", "batchnorm"]  # act dropped: it follows the add
    assert [o.kind for o in first.body[0].ops()] == ["conv", "batchnorm", "relu"]
    assert [o.kind for o in second.body[1].ops()] == ["conv", "batchnorm", "relu"]  # said explicitly: kept


def test_plain_stage_dilation_keeps_the_size(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ninput: {size: 16}\nclasses: 2\nstages:\n"
                    "  - plain: {block: basic, width: 4, blocks: 2, dilation: 3, first_dilation: 2}\n")
    ir = archc.lower(archc.load(path))
    convs = [o for o in ir.body.items[0].ops() if o.kind == "conv"]
    assert [c.params.dilation for c in convs] == [2, 3, 3, 3]
    assert all(c.out_shape[1:] == (16, 16) for c in convs)


def test_dilation_with_custom_layers_refused(tmp_path):
    path = tmp_path / "d.yaml"
    path.write_text("name: d\ninput: {size: 8}\nclasses: 2\nstages:\n"
                    "  - residual: {dilation: 2, layers: [{conv: {out: 3}}]}\n")
    with pytest.raises(archc.SpecError, match="no effect with custom"):
        archc.lower(archc.load(path))
