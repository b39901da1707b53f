"""DenseNet (Huang et al. 2017): the `dense` stage, specs/densenet121.yaml against torchvision, the paper's
parameter counts, exact path counts against brute-force enumeration, the bottleneck savings, the diagrams,
codegen and the probe's view of it.

Golden numbers: torchvision's weights metadata (num_params, _ops = GMACs at 224x224), the paper's Table 2
(parameters in millions, as printed), and counts written here from the paper's description, sharing no code
with archc."""
from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import networkx as nx
import pytest
import torch
import torchvision

import archc
from model_helpers import randomise_norms
from archc.analysis import path_counts
from archc.analysis.savings import bottleneck_savings
from archc.ir.dag import to_dag
from archc.ir.graph import ConcatNode, SeqNode
from archc.render import dot_source
from archc.weights import load_torchvision_weights
from codegen_helpers import import_generated

SPECS = Path(__file__).resolve().parent.parent / "specs"
DENSENET121 = SPECS / "densenet121.yaml"

# torchvision.models.DenseNet*_Weights.IMAGENET1K_V1.meta: (num_params, _ops in GMACs at 224x224)
TORCHVISION = {"densenet121": (7_978_856, 2.834), "densenet169": (14_149_480, 3.36),
               "densenet201": (20_013_928, 4.291), "densenet161": (28_681_000, 7.728)}
# the other torchvision DenseNets as --set overrides of densenet121.yaml
VARIANTS = {
    "densenet169": ["stages[2].dense.layers=32", "stages[3].dense.layers=32"],
    "densenet201": ["stages[2].dense.layers=48", "stages[3].dense.layers=32"],
    "densenet161": ["stem[0].conv.out=96"] + [f"stages[{i}].dense.growth_rate=48" for i in range(4)]
    + ["stages[2].dense.layers=36", "stages[3].dense.layers=24"],
}


# ---------------------------------------------------------------- independent counts (from the paper)


def bn(c: int) -> int:
    return 2 * c  # scale and shift


def densenet_params(init: int, k: int, blocks: tuple, *, bottleneck: bool = True, compression: float = 0.5,
                    classes: int = 1000, stem_kernel: int = 7, stem_bn: bool = True) -> int:
    """Huang et al. Sec. 3: stem conv (no bias) [+ BN]; a layer is BN + 1x1 conv C -> 4k + BN + 3x3 conv 4k -> k
    (DenseNet-B) or BN + 3x3 conv C -> k; a transition BN + 1x1 conv C -> floor(theta C); final BN; fc."""
    total = stem_kernel * stem_kernel * 3 * init + (bn(init) if stem_bn else 0)
    c = init
    for i, layers in enumerate(blocks):
        for _ in range(layers):
            if bottleneck:
                total += bn(c) + c * 4 * k + bn(4 * k) + 9 * 4 * k * k
            else:
                total += bn(c) + 9 * c * k
            c += k
        if i < len(blocks) - 1:
            out = math.floor(compression * c)
            total += bn(c) + c * out
            c = out
    return total + bn(c) + c * classes + classes


def cifar_spec(k: int, depth: int, bc: bool) -> str:
    """The paper's CIFAR nets: a 3x3 conv (16 channels, 2k for BC), three dense blocks of equal size,
    transitions between them (compression 0.5 for BC, else 1), BN-ReLU, global pool, fc 10."""
    n = (depth - 4) // (6 if bc else 3)
    extra = "" if bc else ", bottleneck: false"
    theta = 0.5 if bc else 1
    init = 2 * k if bc else 16
    return textwrap.dedent(f"""\
        name: densenet_cifar
        input: {{channels: 3, size: 32}}
        classes: 10
        stem:
          - conv: {{out: {init}, kernel: 3, norm: none, act: none, bias: false}}
        stages:
          - dense: {{layers: {n}, growth_rate: {k}{extra}, transition: {{compression: {theta}}}}}
          - dense: {{layers: {n}, growth_rate: {k}{extra}, transition: {{compression: {theta}}}}}
          - dense: {{layers: {n}, growth_rate: {k}{extra}}}
        head: [batchnorm, relu, gap, fc]
        """)


# Huang et al. Table 2 (C10/C100 columns' "Params", in millions as printed): (k, depth L, BC) -> M
PAPER_TABLE2 = {(12, 40, False): 1.0, (12, 100, False): 7.0, (24, 100, False): 27.2,
                (12, 100, True): 0.8, (24, 250, True): 15.3, (40, 190, True): 25.6}


def tiny(layers: int = 3, growth: int = 4, extra: str = "", size: int = 16, transition: bool = True) -> str:
    tr = ", transition: {}" if transition else ""
    return textwrap.dedent(f"""\
        name: tiny_dense
        input: {{channels: 3, size: {size}}}
        classes: 5
        stem:
          - conv: {{out: 8, kernel: 3}}
        stages:
          - dense: {{layers: {layers}, growth_rate: {growth}{tr}{extra}}}
        head: [batchnorm, relu, gap, fc]
        """)


# ---------------------------------------------------------------- densenet121 and torchvision


def test_densenet121_params_and_macs_are_torchvisions():
    model = archc.lower(DENSENET121)
    params, gmacs = TORCHVISION["densenet121"]
    assert model.cost.params == params == densenet_params(64, 32, (6, 12, 24, 16))
    assert model.input_shape == (3, 224, 224)
    assert round(model.cost.macs / 1e9, 3) == gmacs
    assert model.cost.macs == 2_834_161_664


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_other_torchvision_densenets_by_overrides(name):
    model = archc.lower(archc.load(DENSENET121, VARIANTS[name]))
    params, gmacs = TORCHVISION[name]
    assert model.cost.params == params
    assert round(model.cost.macs / 1e9, 3) == gmacs


@pytest.mark.parametrize("key", sorted(PAPER_TABLE2))
def test_cifar_densenets_round_to_the_papers_table_2(key):
    k, depth, bc = key
    model = archc.lower(archc.loads(cifar_spec(k, depth, bc)))
    n = (depth - 4) // (6 if bc else 3)
    counted = densenet_params(2 * k if bc else 16, k, (n, n, n), bottleneck=bc, compression=0.5 if bc else 1,
                              classes=10, stem_kernel=3, stem_bn=False)
    assert model.cost.params == counted
    assert round(counted / 1e6, 1) == PAPER_TABLE2[key]
    weighted = sum(1 for op in model.body.ops() if op.op.weighted)
    assert weighted == depth  # L counts every conv and the fc


def test_densenet121_torchvision_weights_give_identical_outputs():
    torch.manual_seed(123)
    tv = torchvision.models.densenet121(weights=None).eval()
    randomise_norms(tv)
    net = archc.compile(DENSENET121).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))  # 32x32: block 4 runs at 1x1
    with torch.no_grad():
        before = net(x)
        pairs = load_torchvision_weights(net, tv)
        ours, theirs = net(x), tv(x)
    diff = (ours - theirs).abs().max().item()
    print(f"densenet121 vs torchvision, 2x3x32x32, eval: max abs difference {diff:.3g} "
          f"(outputs up to {theirs.abs().max().item():.3g})")
    assert (before - theirs).abs().max().item() > 1e-2  # they really started different
    assert diff <= 1e-5 * max(1.0, theirs.abs().max().item())
    assert len(pairs) == 242  # 120 convs + 121 BNs + the fc
    assert pairs[2] == ("denseblock1.layer1.body.conv1.bn", "features.denseblock1.denselayer1.norm1")
    assert pairs[-2] == ("head.norm5", "features.norm5")
    assert sorted(t.numel() for t in net.state_dict().values()) == sorted(t.numel() for t in tv.state_dict().values())


# ---------------------------------------------------------------- the dense stage itself


def test_a_dense_layer_is_a_concat_of_an_identity_and_its_body():
    model = archc.lower(archc.loads(tiny(layers=3, growth=4)))
    stage = model.stages[1]
    layers = [n for n in stage.items if isinstance(n, ConcatNode)]
    assert [n.name for n in stage.items] == ["layer1", "layer2", "layer3", "transition"]
    for i, layer in enumerate(layers):
        identity, body = layer.branches
        assert isinstance(identity, SeqNode) and identity.items == [] and identity.out_shape == layer.in_shape
        assert [op.kind for op in body.ops()] == ["batchnorm", "relu", "conv", "batchnorm", "relu", "conv"]
        assert [op.out_shape[0] for op in body.ops() if op.kind == "conv"] == [16, 4]  # bn_size x k, k
        assert layer.in_shape[0] == 8 + 4 * i and layer.out_shape[0] == 8 + 4 * (i + 1)
    transition = stage.items[-1]
    assert [op.kind for op in transition.ops()] == ["batchnorm", "relu", "conv", "avgpool"]
    assert transition.out_shape == (10, 8, 8)  # floor(0.5 x 20), 16 -> 8


def test_concat_order_is_input_then_new_features():
    model = archc.lower(archc.loads(tiny(layers=1, growth=4, transition=False)))
    net = archc.compile(model).eval()
    x = torch.randn(2, 8, 16, 16)
    with torch.no_grad():
        layer = net.get_submodule("stage1.layer1")
        y = layer(x)
        assert torch.equal(y[:, :8], x)  # the identity branch, untouched (no in-place op reached it)
        assert torch.equal(y[:, 8:], layer.body(x))


def test_no_bottleneck_dropout_and_stage_norm_act():
    model = archc.lower(archc.loads(tiny(extra=", bottleneck: false, dropout: 0.2, act: silu")))
    body = model.find("stage1.layer1.body")
    assert [op.kind for op in body.ops()] == ["batchnorm", "silu", "conv", "dropout"]
    no_norm = archc.lower(archc.loads(tiny(extra=", norm: none")))
    first = next(no_norm.find("stage1.layer2.body").ops())
    assert first.kind == "relu" and first.params.inplace is False  # it reads the identity's tensor
    conv = [op for op in no_norm.find("stage1.layer2.body").ops() if op.kind == "conv"][0]
    assert conv.params.bias is True  # no norm after it: the conv keeps its bias


def test_codegen_imports_and_gives_identical_outputs(tmp_path):
    ir = archc.lower(archc.loads(tiny(layers=3, extra=", dropout: 0.1")))
    source = archc.generate_source(ir)
    assert "identity=seq()," in source
    module = import_generated(source, tmp_path, ir.name)
    generated = getattr(module, ir.class_name)()
    reference = archc.compile(ir, seed=3)
    assert list(generated.state_dict()) == list(reference.state_dict())
    generated.load_state_dict(reference.state_dict(), strict=True)
    generated.eval(), reference.eval()
    x = torch.randn(2, *ir.input_shape)
    with torch.no_grad():
        assert torch.equal(generated(x), reference(x))


# ---------------------------------------------------------------- paths: brute force against the DP


def enumerate_paths(g: nx.DiGraph, source, target, weight) -> dict[int, int]:
    """Every source -> target path by depth-first search: {length: count} (length = sum of weight(node))."""
    counts: dict[int, int] = {}

    def walk(v, length: int) -> None:
        length += weight(v)
        if v == target:
            counts[length] = counts.get(length, 0) + 1
            return
        for w in g.successors(v):
            walk(w, length)

    walk(source, 0)
    return counts


def paper_dense_block(layers: int) -> nx.DiGraph:
    """Huang et al. Fig. 1 / Eq. 2: x0 and every layer's features f1..fL; layer i reads x0, f1..f(i-1);
    the block's output is the concatenation of x0, f1..fL."""
    g = nx.DiGraph()
    feats = ["x0"] + [f"f{i}" for i in range(1, layers + 1)]
    for i in range(1, layers + 1):
        for j in range(i):
            g.add_edge(feats[j], feats[i])
    for f in feats:
        g.add_edge(f, "out")
    return g


@pytest.mark.parametrize("layers", [1, 2, 3, 5])
def test_dense_block_paths_equal_brute_force_enumeration_of_the_papers_dag(layers):
    model = archc.lower(archc.loads(tiny(layers=layers, transition=False)))
    result = path_counts(model)
    paper = paper_dense_block(layers)
    # in the paper's DAG every f_i is a BN-ReLU-1x1-BN-ReLU-3x3 layer: 2 weighted layers; plus the stem conv
    # and the fc on every path
    brute = enumerate_paths(paper, "x0", "out", lambda v: 2 if v.startswith("f") else 0)
    assert sum(brute.values()) == 2 ** layers
    assert result.layers["output"].as_dict() == {length + 2: n for length, n in brute.items()}
    blocks = enumerate_paths(paper, "x0", "out", lambda v: 1 if v.startswith("f") else 0)
    assert result.blocks["output"].as_dict() == blocks == {i: math.comb(layers, i) for i in range(layers + 1)}
    # and the DP against enumerating archc's own DAG
    g = to_dag(model)
    own = enumerate_paths(g, "input", "output", lambda v: 1 if g.nodes[v].get("weighted") else 0)
    assert own == result.layers["output"].as_dict()


def test_identity_branches_each_count_as_a_path():
    """An empty branch is the identity; two of them in one concat are two paths (the DAG keeps them apart)."""
    text = textwrap.dedent("""\
        name: identities
        input: {size: 8}
        classes: 3
        stages:
          - inception: {modules: {a: {branches: [[], [conv: {out: 4}]]}, b: {branches: [[], [], []]}}}
        """)
    model = archc.lower(archc.loads(text))
    assert model.find("stage1.inceptionb").out_shape == (3 * 7, 8, 8)
    result = path_counts(model)
    assert result.layers["output"].as_dict() == {1: 3, 2: 3}  # (identity | conv) x 3 identities; fc always
    g = to_dag(model)
    assert enumerate_paths(g, "input", "output", lambda v: 1 if g.nodes[v].get("weighted") else 0) == {1: 3, 2: 3}
    module = archc.compile(model).eval().get_submodule("stage1.inceptionb")
    y = torch.randn(1, 7, 8, 8)
    with torch.no_grad():
        assert torch.equal(module(y), torch.cat([y, y, y], 1))


def test_densenet121_has_2_to_the_58_paths():
    result = path_counts(archc.lower(DENSENET121))
    layers = result.layers["output"]
    assert layers.total == 2 ** (6 + 12 + 24 + 16)
    # stem conv, 3 transition convs and the fc on every path; 2 weighted layers per dense layer passed
    assert layers.as_dict() == {5 + 2 * i: math.comb(58, i) for i in range(59)}


# ---------------------------------------------------------------- savings, depth


def test_bottleneck_savings_of_each_dense_layer():
    model = archc.lower(DENSENET121)
    inc = bottleneck_savings(model)["inception"]
    assert inc["title"] == "Dense layers: the 1x1 bottleneck" and len(inc["modules"]) == 58
    k = 32
    for m in inc["modules"]:
        c, h, w = m["input"]
        assert m["kind"] == "dense"
        assert m["specified"]["macs"] == (c * 4 * k + 9 * 4 * k * k) * h * w
        assert m["naive"]["macs"] == 9 * c * k * h * w  # BN-ReLU-3x3 conv on the whole input
        assert m["specified"]["params"] == bn(c) + c * 4 * k + bn(4 * k) + 9 * 4 * k * k
        assert m["naive"]["params"] == bn(c) + 9 * c * k
        assert m["output_channels"] == m["naive_output_channels"] == c + k


def test_probe_depths_count_two_weighted_layers_per_dense_layer():
    from archc.probe.layers import watched_layers

    model = archc.lower(archc.loads(tiny(layers=3)))
    depth = {layer.path: layer.depth for layer in watched_layers(model)}
    for i in range(1, 4):
        assert depth[f"stage1.layer{i}.body.conv2.conv"] == 1 + 2 * i  # the stem conv, then 2 per layer
    assert depth["stage1.transition.conv.conv"] == 8
    assert {layer.block for layer in watched_layers(model) if "layer2" in layer.path} == {"stage1.layer2"}


# ---------------------------------------------------------------- diagrams


def _edges(dot: str) -> list[tuple[str, str, str]]:
    return re.findall(r'^\s*"?([^"\s]+)"? -> "?([^"\s]+)"?(.*)$', dot, re.M)


@pytest.mark.parametrize("level", ["block", "layer"])
def test_a_24_layer_block_is_a_spine_not_a_spaghetti(level):
    model = archc.lower(archc.loads(tiny(layers=24, growth=2, transition=False)))
    dot = dot_source(model, level, focus="stage1")
    edges = _edges(dot)
    concats = [f"stage1.layer{i}.concat" for i in range(1, 25)]
    for i, cat in enumerate(concats):
        into = [(s, attrs) for s, d, attrs in edges if d == cat]
        assert len(into) == 2, cat  # the spine and the layer's body, nothing else
        spine = [s for s, attrs in into if "#b35a00" in attrs and "+2" not in attrs]
        assert spine == [concats[i - 1] if i else "input"]
        assert sum('label=" +2"' in attrs for _, attrs in into) == 1  # the growth on the body's edge
        assert f"concat → {8 + 2 * (i + 1)}×16×16" in dot
    ops_per_layer = 1 if level == "block" else 6
    # linear in L (the spine, into the body, through it, back to the spine), plus -> output and the legend's
    assert len(edges) == 24 * (2 + ops_per_layer) + 2
    for src, dst, _ in edges:  # every edge stays within a layer or goes to the next one
        a, b = (re.search(r"layer(\d+)", n) for n in (src, dst))
        if a and b:
            assert 0 <= int(b.group(1)) - int(a.group(1)) <= 1, (src, dst)
    assert dot.count("rank=same") == 24  # each body on one row (block level: beside its concat)


def test_dense_stage_level_shows_block_and_transition():
    dot = dot_source(archc.lower(DENSENET121), "stage")
    assert dot.count("Dense block · ") == 4
    for n in (6, 12, 24, 16):
        assert f"Dense block · {n} layers" in dot
    assert "growth k = 32: 256 → 1024 channels" in dot
    assert dot.count("compression 0.5: ") == 3
    assert "compression 0.5: 1024 → 512 channels" in dot
    assert "BN, relu, 1x1 conv, 128" in dot and "BN, relu, 3x3 conv, 32" in dot
    assert 'denseblock1 -> "denseblock1.transition"' in dot


def test_golden_dot_of_a_small_dense_block():
    """Block level with the transition; regenerate with ARCHC_UPDATE_GOLDEN=1 after an intended change."""
    import os

    path = Path(__file__).parent / "golden" / "diagrams" / "tiny_dense_block.dot"
    source = dot_source(archc.lower(archc.loads(tiny(layers=3))), "block", annotate="params")
    if os.environ.get("ARCHC_UPDATE_GOLDEN"):
        path.write_text(source, encoding="utf-8")
    assert source == path.read_text(encoding="utf-8")


def test_diagrams_render_with_dot(tmp_path):
    import shutil

    from archc.render import render_source

    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot not installed")
    model = archc.lower(archc.loads(tiny(layers=4)))
    for level in ("stage", "block", "layer"):
        svg = render_source(dot_source(model, level), "svg")
        assert b"concat" in svg or level == "stage"
