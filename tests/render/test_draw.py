"""Diagram DOT generation (no `dot` needed): levels, shortcuts, inception, aux heads, annotations, focus,
node values, determinism, and golden DOT files.

Regenerate the golden files after an intended change of the drawing:
    ARCHC_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render/test_draw.py -k golden
"""
from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path

import pytest

import archc
from archc.errors import ArchcError
from archc.render import DrawOptions, dot_source, resolve_focus
from archc.formats import si
from archc.render.style import VALUE_PALETTE, ValueScale
from render_helpers import INCEPTION_AUX, PAD_NET, edges, lower_text, nodes

GOLDEN = Path(__file__).parents[1] / "golden" / "diagrams"


@pytest.fixture(scope="module")
def r50():
    return archc.lower("specs/resnet50.yaml")


@pytest.fixture(scope="module")
def r18():
    return archc.lower("specs/resnet18.yaml")


@pytest.fixture(scope="module")
def incep():
    return lower_text(INCEPTION_AUX)


# ---------------------------------------------------------------- levels


def test_stage_level_collapses_repeats(r50):
    src = dot_source(r50, "stage")
    ids = nodes(src)
    stage_nodes = [i for i in ids if re.fullmatch(r"stage\d", i)]
    assert stage_nodes == ["stage1", "stage2", "stage3", "stage4"]
    for n, blocks in zip(stage_nodes, (3, 4, 6, 3)):
        assert f"Bottleneck ×{blocks}" in ids[n]
    assert "1 projection + 5 identity" in ids["stage3"]
    assert not any(".block" in i for i in ids), "no block is drawn at stage level"
    chain = [(s, d) for s, d, _ in edges(src) if d != "legend"]
    assert ("stem.maxpool1", "stage1") in chain and ("stage4", "head.gap1") in chain
    shapes = {d: a.get("label", "").strip() for s, d, a in edges(src)}
    assert shapes["stage2"] == "256×56×56" and shapes["head.gap1"] == "2048×7×7"


def test_block_level_draws_each_block_with_add_and_shortcut(r50):
    src = dot_source(r50, "block")
    ids = nodes(src)
    assert len(re.findall(r'subgraph "cluster_stage\d\.block\d+"', src)) == 16
    adds = [i for i in ids if i.endswith(".add")]
    assert len(adds) == 16
    es = edges(src)
    identity = [(s, d) for s, d, a in es if a.get("label", "").strip() == "identity"]
    assert len(identity) == 12 and all(d.endswith(".add") for _, d in identity)
    # projection: a shortcut node on a dashed path into the add of each stage's first block
    for stage in range(1, 5):
        sc = f"stage{stage}.block1.shortcut"
        assert "1x1 conv" in ids[sc]
        into = [a for s, d, a in es if d == sc]
        out = [a for s, d, a in es if s == sc and d == f"stage{stage}.block1.add"]
        assert into[0]["style"] == "dashed" and out[0]["style"] == "dashed"
    assert "stage1.block1.conv1.conv" not in ids, "units are one node at block level"
    assert ">relu</FONT>" in ids["stage1.block1.add"], "the post-add relu is written in the add node"


def test_layer_level_draws_every_op(r18):
    src = dot_source(r18, "layer")
    ids = nodes(src)
    ops = [op.path for op in r18.body.ops()]
    assert all(p in ids for p in ops)
    adds = [i for i in ids if i.endswith(".add")]
    assert len(ids) == len(ops) + len(adds) + 3  # + input, output, legend
    es = {(s, d) for s, d, _ in edges(src)}
    assert ("stage1.block1.add", "stage1.block1.act") in es  # the post-add relu is its own node


def test_zero_pad_shortcut_is_dotted_and_parameter_free():
    model = lower_text(PAD_NET)
    src = dot_source(model, "block")
    ids = nodes(src)
    assert "zero-pad +16ch, /2" in ids["stage2.block1.shortcut"]  # 16 -> 32 channels: 16 zero channels added
    dotted = [(s, d) for s, d, a in edges(src) if a.get("style") == "dotted"]
    assert dotted == [("stage1.block2.add", "stage2.block1.shortcut"), ("stage2.block1.shortcut", "stage2.block1.add")]
    assert "zero-pad shortcut" in ids["legend"] and "projection shortcut" not in ids["legend"]


def test_inception_branches_side_by_side_with_explicit_concat(incep):
    src = dot_source(incep, "block")
    es = edges(src)
    firsts = [d for s, d, _ in es if s == "input"]
    assert firsts == [f"stage1.inception3a.branch{i}.{n}" for i, n in
                      ((1, "conv1"), (2, "conv1"), (3, "conv1"), (4, "pool"))]
    into_cat = [(s, a.get("label", "").strip()) for s, d, a in es if d == "stage1.inception3a.concat"]
    assert [s.split(".")[2] for s, _ in into_cat] == ["branch1", "branch2", "branch3", "branch4"]
    assert [label for _, label in into_cat] == ["64×28×28", "128×28×28", "32×28×28", "32×28×28"]
    # a fan-out shows its shape once, not on each of the four edges
    assert [a.get("label", "").strip() for s, d, a in es if s == "input"] == ["192×28×28", "", "", ""]
    stage = nodes(dot_source(incep, "stage"))["stage1.inception3a"]
    assert stage.count("<TD BORDER") == 4 and "1x1 conv, 16<BR/>5x5 conv, 32" in stage


def test_aux_head_marked_training_only(incep):
    for level in ("block", "layer"):
        src = dot_source(incep, level)
        assert re.search(r'subgraph cluster_aux1 \{\s*\n\s*bgcolor=[^\n]*label="aux1: auxiliary classifier on '
                         r'inception3a · training only"', src)
        aux_in = [a for s, d, a in edges(src) if s == "stage1.inception3a.concat" and d == "aux1.avgpool1"]
        assert aux_in and aux_in[0]["style"] == "dashed"
        assert "aux loss × 0.3 (training only)" in nodes(src)["aux1.output"]
    assert "params with aux heads (training only)" in dot_source(incep, "stage")


def test_stage_level_draws_an_aux_head_as_one_dashed_node(incep):
    """Stage level: the head's layers listed in one node, not a cluster (GoogLeNet then fits a page)."""
    src = dot_source(incep, "stage")
    assert "cluster_aux1" not in src and "aux1.avgpool1" not in nodes(src)
    label = nodes(src)["aux1"]
    head = incep.aux_heads[0].head
    for op in head.ops():
        if op.op.category != "act":
            assert html.escape(op.label) in label
    assert "loss × 0.3 · training only" in label and "on inception3a" in label
    aux_in = [a for s, d, a in edges(src) if s == "stage1.inception3a" and d == "aux1"]
    assert aux_in and aux_in[0]["style"] == "dashed"


def test_stage_attach_inside_collapsed_stage_goes_to_the_stage_node():
    model = archc.lower(archc.loads("""
name: auxres
input: {channels: 3, size: 32}
stages:
  - residual: {name: s1, block: basic, width: 16, blocks: 2}
  - residual: {name: s2, block: basic, width: 32, blocks: 2, stride: 2}
aux_heads: [{attach: s1, layers: [gap: {}, fc: {out: 10}]}]
"""))
    es = edges(dot_source(model, "stage"))
    assert ("s1", "aux1") in [(s, d) for s, d, _ in es]
    es = edges(dot_source(model, "block"))
    assert ("s1.block2.add", "aux1.gap1") in [(s, d) for s, d, _ in es]  # block level: from the stage's last add


# ---------------------------------------------------------------- options


def test_annotations_exact_numbers(r18):
    # independent count: 7x7x3x64 conv = 9,408 + BN 128; MACs 9,408 * 112 * 112
    src = dot_source(r18, "block", annotate="params,macs,share")
    stem = nodes(src)["stem.conv1"]
    assert "9.54K params (0.1%)" in stem and "118M MACs (6.5%)" in stem
    exact = nodes(dot_source(r18, "block", annotate=("params", "macs"), exact_numbers=True))["stem.conv1"]
    assert "9,536 params" in exact and "118,013,952 MACs" in exact
    assert "params" not in nodes(src)["stem.maxpool1"], "nothing to annotate on a pool"
    layer = nodes(dot_source(r18, "layer", annotate="params,macs"))
    assert "128 params" in layer["stem.conv1.bn"] and "MACs" not in layer["stem.conv1.bn"], "no '0 MACs' on BN"
    share_only = nodes(dot_source(r18, "stage", annotate="share"))["stage4"]
    pct = 100 * r18.find("stage4").cost.macs / r18.cost.macs
    assert f"({pct:.1f}%)" in share_only and "params" not in share_only


def test_si_format():
    assert [si(v) for v in (0, 999, 9536, 118_013_952, 4_089_184_256)] == ["0", "999", "9.54K", "118M", "4.09G"]


def test_options_are_validated():
    with pytest.raises(ValueError, match="unknown level 'blocks'"):
        DrawOptions(level="blocks")
    with pytest.raises(ValueError, match="unknown rankdir 'XY'"):
        DrawOptions(rankdir="XY")
    with pytest.raises(ValueError, match="unknown annotation 'flops'.*params, macs, share"):
        DrawOptions(annotate="params,flops")


def test_rankdir_shapes_legend_and_title(r18):
    src = dot_source(r18, "block", rankdir="lr", shapes=False, legend=False, title="")
    assert "rankdir=LR" in src and "legend" not in nodes(src) and "label=<<B>" not in src
    assert not [a for _, _, a in edges(src) if "×" in a.get("label", "")]


def test_focus_by_name_and_path(incep, r50):
    assert resolve_focus(incep, "inception3a").path == "stage1.inception3a"
    assert resolve_focus(r50, "stage3.block2").path == "stage3.block2"
    assert resolve_focus(incep, "inception3b.branch2").path == "stage1.inception3b.branch2"
    src = dot_source(incep, "layer", focus="inception3a")
    ids = set(nodes(src)) - {"input", "output", "legend"}
    assert ids and all(i.startswith("stage1.inception3a.") for i in ids)
    assert "stage1.inception3a.branch2.conv2.conv" in ids and "stage1.inception3a.branch2.conv2.act" in ids
    assert "aux1" not in src, "aux heads attached outside the focus are left out"
    with pytest.raises(ArchcError, match="ambiguous.*stage1.block1"):
        resolve_focus(r50, "block1")
    with pytest.raises(ArchcError, match="did you mean 'inception3a'"):
        resolve_focus(incep, "incepton3a")


def test_node_values_colour_the_nodes(r18):
    values = {op.path: float(i + 1) for i, op in enumerate(r18.body.ops()) if op.op.weighted}
    src = dot_source(r18, "layer", node_values=values, value_label="grad norm")
    ids = nodes(src)
    last = max(values, key=values.get)
    first = min(values, key=values.get)
    assert f'fillcolor="{VALUE_PALETTE[-1]}"' in ids[last] and f'fillcolor="{VALUE_PALETTE[0]}"' in ids[first]
    assert "fillcolor=white" in ids["stem.conv1.bn"], "no value: no colour"
    assert "grad norm (linear scale)" in ids["legend"]
    stage = nodes(dot_source(r18, "stage", node_values=values))["stage4"]
    assert "fillcolor=" in stage and "tooltip=\"stage4: value = " in stage  # mean of the values inside
    assert ValueScale({"a": 1e-4, "b": 1.0}).scale == "log"
    with pytest.raises(ValueError, match="no finite number"):
        ValueScale({"a": float("nan")})


def test_deterministic_and_ids_are_paths(incep):
    a = dot_source(incep, "layer", annotate="params,macs")
    b = dot_source(lower_text(INCEPTION_AUX), "layer", annotate="params,macs")
    assert a == b
    assert set(nodes(a)) - {"input", "output", "legend"} <= {n.path for n in incep.walk()} | {
        "stage1.inception3a.concat", "stage1.inception3b.concat", "aux1.output"}


# ---------------------------------------------------------------- golden DOT files

GOLDEN_CASES = {
    "resnet50_stage": lambda: dot_source(archc.lower("specs/resnet50.yaml"), "stage"),
    "tiny_inception_block": lambda: dot_source(lower_text(INCEPTION_AUX), "block", annotate="macs"),
    "tiny_inception_layer": lambda: dot_source(lower_text(INCEPTION_AUX), "layer"),
    "tiny_pad_block": lambda: dot_source(lower_text(PAD_NET), "block", annotate="params,share"),
    "resnet50_focus_stage2_block1": lambda: dot_source(archc.lower("specs/resnet50.yaml"), "layer",
                                                       focus="stage2.block1", rankdir="LR"),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_golden_dot(case):
    path = GOLDEN / f"{case}.dot"
    source = GOLDEN_CASES[case]()
    if os.environ.get("ARCHC_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    assert path.exists(), f"missing {path}; run with ARCHC_UPDATE_GOLDEN=1 to create it"
    assert source == path.read_text(encoding="utf-8"), f"{case} changed; if intended, regenerate with ARCHC_UPDATE_GOLDEN=1"


def _node_xs(plain: str, needle: str) -> set:
    return {round(float(line.split()[2]), 2) for line in plain.splitlines()
            if line.startswith("node ") and needle in line.split()[1]}


def test_very_deep_nets_get_the_large_layout_straight_and_without_block_boxes():
    """Above LARGE_OPS ops (CIFAR ResNet-1202 has 4,207): no clusters, dot's network-simplex iterations off,
    each stage's title on the edge into it; every conv, BN and add on one column."""
    import subprocess

    from archc.render.style import LARGE_OPS

    deep = archc.lower(archc.load("specs/cifar/resnet110.yaml", ["vars.n=200"]))
    assert sum(1 for _ in deep.body.ops()) > LARGE_OPS
    source = dot_source(deep, "layer")
    assert "subgraph cluster" not in source and "nslimit=0" in source and "nslimit1=0" in source
    for title in ("stem", "stage1 · residual · Basic block ×200", "stage3 · residual · Basic block ×200"):
        assert f'label=" {title}' in source, title
    small = archc.lower("specs/resnet152.yaml")
    assert "nslimit" not in dot_source(small, "layer") and "subgraph cluster" in dot_source(small, "layer")
    forced = dot_source(archc.lower(archc.load("specs/cifar/resnet110.yaml", ["vars.n=3"])), "layer", large=True)
    assert "subgraph cluster" not in forced
    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot not installed")
    plain = subprocess.run(["dot", "-Tplain"], input=forced, capture_output=True, text=True, check=True).stdout
    assert len(_node_xs(plain, "conv") | _node_xs(plain, ".bn") | _node_xs(plain, ".add")) == 1
