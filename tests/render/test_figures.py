"""The lecture figures: their numbers against independent hand counts, their structure, and the
committed copies in reports/figures/."""
from __future__ import annotations

import re
from math import comb
from pathlib import Path

import pytest

from archc.render.figset import FIGURES, index_text
from archc.render.figures import (COLUMN_PANELS, fig_columns, fig_inception, fig_residual_blocks, fig_shortcuts,
                                  fig_unraveled, inception_modules, lower_text, unraveled_paths)
from render_helpers import edges, nodes

REPORTS = Path(__file__).resolve().parents[2] / "reports" / "figures"
HW = 28 * 28  # output positions of the 28x28 inception maps


def test_inception_macs_match_hand_counts():
    # MACs = output positions x output channels x (kernel area x input channels)
    naive_5x5 = HW * 32 * (25 * 192)
    reduced_5x5 = HW * 16 * 192 + HW * 32 * (25 * 16)
    assert (naive_5x5, reduced_5x5) == (120_422_400, 12_443_648)
    naive = HW * 192 * (64 * 1 + 128 * 9 + 32 * 25)  # 1x1, 3x3, 5x5 on all 192 channels; the pool is free
    reduced = HW * (192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32)
    modules = inception_modules()
    assert modules["naive"].cost.macs == naive == 303_464_448
    assert modules["reduced"].cost.macs == reduced == 128_049_152
    assert modules["naive"].branches[2].cost.macs == naive_5x5
    assert modules["reduced"].branches[2].cost.macs == reduced_5x5
    assert modules["naive"].out_shape == (416, 28, 28) and modules["reduced"].out_shape == (256, 28, 28)
    src = fig_inception().source
    for number in (naive, reduced, naive_5x5, reduced_5x5):
        assert f"{number:,}" in src
    assert "total 303,464,448 MACs · output 416×28×28" in src


def test_residual_block_params_match_hand_counts():
    basic_conv, basic_bn = 2 * (3 * 3 * 64 * 64), 2 * 2 * 64
    bott_conv = 256 * 64 + 3 * 3 * 64 * 64 + 64 * 256
    bott_bn = 2 * (64 + 64 + 256)
    src = fig_residual_blocks().source
    assert f"{basic_conv + basic_bn:,} params: {basic_conv:,} in convs + {basic_bn:,} in BN" in src
    assert f"{bott_conv + bott_bn:,} params: {bott_conv:,} in convs + {bott_bn:,} in BN" in src
    assert (basic_conv, bott_conv) == (73_728, 69_632)
    ids = nodes(src)
    assert "identity" in [a.get("label", "").strip() for _, d, a in edges(src) if d == "bottleneck/stage1.block1.add"]
    assert "16,512 params" in ids["bottleneck/stage1.block1.conv1"]  # 256*64 + BN 128


def test_shortcut_figure_shows_three_kinds():
    src = fig_shortcuts().source
    proj = 3 * 3 * 64 * 128 + 3 * 3 * 128 * 128 + 64 * 128  # two 3x3 convs + the 1x1 projection
    assert f"{proj + 2 * 3 * 128:,} params" in src
    assert f"{proj - 64 * 128 + 2 * 2 * 128:,} params" in src  # zero-pad: no shortcut parameters
    styles = {a.get("style") for s, d, a in edges(src) if "shortcut" in d}
    assert {"dashed", "dotted"} <= styles


def test_unraveled_paths_are_binomial():
    three = unraveled_paths(lower_text("""
name: three
input: {channels: 8, size: 8}
stages: [residual: {block: basic, width: 8, blocks: 3}]"""))
    assert len(three) == 8 and len(set(three)) == 8
    assert [sum(1 for p in three if len(p) == k) for k in range(4)] == [1, 3, 3, 1]
    four = unraveled_paths(lower_text("""
name: four
input: {channels: 8, size: 8}
stages: [residual: {block: bottleneck, width: 2, blocks: 4}]"""))
    assert [sum(1 for p in four if len(p) == k) for k in range(5)] == [comb(4, k) for k in range(5)]
    src = fig_unraveled().source
    into_sum = [s for s, d, _ in edges(src) if d == "b/sum"]
    assert len(into_sum) == 8 and "b/x0" in into_sum  # the path through no block at all


def _ranks(src: str) -> list[list[str]]:
    return [re.findall(r'"([^"]+)"', body) for body in re.findall(r"\{\s*rank=same\s+([^}]*)\}", src)]


def test_three_columns_align_plain_and_residual():
    src = fig_columns().source
    assert "VGG-19" in src and "34-layer plain" in src and "34-layer residual" in src
    ids = nodes(src)
    assert sum(1 for i in ids if i.startswith("vgg/") and "conv" in i and "~" not in i) == 16
    plain_convs = [i for i in ids if i.startswith("plain/") and ".block" in i and ".conv" in i and "~" not in i]
    assert len(plain_convs) == 32  # 3+4+6+3 basic blocks of two convs (+ the stem conv, in the stem)
    assert sum(1 for i in ids if i.startswith("resnet/") and i.endswith(".add")) == 16
    rank_of = {v: k for k, rank in enumerate(_ranks(src)) for v in rank}
    # aligned tops: the three images on one row; the same layer of plain-34 and ResNet-34 on the same row
    assert rank_of["vgg/input"] == rank_of["plain/input"] == rank_of["resnet/input"]
    for layer in ("stem.maxpool1", "stage2.block1.conv1", "stage3.block1.conv1", "stage4.block1.conv1"):
        assert rank_of[f"plain/{layer}"] == rank_of[f"resnet/{layer}"]


def test_columns_mark_feature_map_sizes_where_the_maps_shrink():
    src = fig_columns().source
    for size in (224, 112, 56, 28, 14, 7):
        assert f"<B>{size}×{size}</B>" in src
    rank_of = {v: k for k, rank in enumerate(_ranks(src)) for v in rank}
    marks = re.findall(r'"(size/\d+/\d+)" \[label=<<FONT POINT-SIZE="13"[^>]*><B>(\d+)×', src)
    mark = {int(m): node for node, m in marks}
    # every net's first layer at a new size sits on the row of that size's mark (He et al.: rows by size)
    assert rank_of[mark[112]] == rank_of["vgg/pool1"] == rank_of["resnet/stem.conv1"]
    assert rank_of[mark[56]] == rank_of["vgg/pool2"] == rank_of["plain/stem.maxpool1"]
    assert rank_of[mark[28]] == rank_of["vgg/pool3"] == rank_of["resnet/stage2.block1.conv1"]
    assert rank_of[mark[14]] == rank_of["vgg/pool4"] == rank_of["plain/stage3.block1.conv1"]
    assert rank_of[mark[7]] == rank_of["vgg/pool5"] == rank_of["resnet/stage4.block1.conv1"]


def test_columns_fit_a_slide():
    """Folded into panels, the committed figure is about 16:9 (within 30%), not a 1:3 strip."""
    import struct

    png = (REPORTS / "vgg19_plain34_resnet34.png").read_bytes()
    width, height = struct.unpack(">II", png[16:24])
    assert abs(width / height - 16 / 9) <= 0.3 * 16 / 9, (width, height)
    assert fig_columns().source.count("(continued)") == 3 * (COLUMN_PANELS - 1)


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_committed_figures_exist_and_are_current(name):
    for fmt in ("svg", "pdf", "png"):
        assert (REPORTS / f"{name}.{fmt}").exists(), "run `archc figures` and commit reports/figures/"
    assert (REPORTS / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert (REPORTS / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    text = (REPORTS / f"{name}.svg").read_text(encoding="utf-8")
    fig = FIGURES[name]
    if fig.writes_itself:
        return
    made = fig.make()
    if not hasattr(made, "source"):  # a matplotlib figure
        return
    # every node of the current drawing is in the committed SVG (ids are stable paths)
    missing = [i for i in nodes(made.source) if f'id="{i}"' not in text and not i.startswith(("legend", "caption"))]
    assert not missing[:1], f"{name}.svg is stale: regenerate with `archc figures`"


def test_every_lecture_figure_is_in_the_index():
    numbers = sorted({n for f in FIGURES.values() for n in f.lecture})
    assert numbers == list(range(1, 12))
    committed = (REPORTS / "index.md").read_text(encoding="utf-8")
    assert committed == index_text(FIGURES, ["svg", "pdf", "png"])
    for n in range(1, 12):
        assert f"\n| {n} | " in committed


def test_unraveled_view_takes_a_block_count():
    src = fig_unraveled(4).source
    assert len([s for s, d, _ in edges(src) if d == "b/sum"]) == 16 and "2⁴ = 16 paths" in src
    with pytest.raises(ValueError, match="1 to 6 blocks"):
        fig_unraveled(7)


def test_tensor_view_is_generated_from_the_ir():
    from archc.render.tensors import _steps, tensor_view

    model = lower_text("""
name: seq
input: {channels: 3, size: 32}
stages: [conv: {out: 16, kernel: 3}, maxpool: {kernel: 2}, conv: {out: 32, kernel: 1}]""")
    steps = _steps(model)
    assert [op.out_shape for op, _ in steps] == [(16, 32, 32), (16, 16, 16), (32, 16, 16)]  # the head is left out
    texts = [t.get_text() for t in tensor_view(model).axes[0].texts]
    assert "32×32×3" in texts and "16×16×32" in texts
    assert any(t.startswith("16 filters of 3×3×3") for t in texts)
    assert any(t.startswith("32 filters of 1×1×16") for t in texts)
    conv1x1 = [t.get_text() for t in FIGURES["conv1x1_tensors"].make().axes[0].texts]
    assert "28×28×192" in conv1x1 and "28×28×64" in conv1x1
    assert any("64 filters of 1×1×192" in t and "12,288 weights + 64 biases" in t for t in conv1x1)  # 64*192 + 64


def test_inception_branches_start_on_one_row():
    src = fig_inception().source
    assert re.search(r'rank=same\s+"reduced/stage1\.inception3a\.branch1\.conv1"\s+"reduced/stage1\.inception3a\.branch2',
                     src)
