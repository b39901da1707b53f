"""Every IR node type keeps its contract in every backend (as the registry contract does for ops).

One small spec uses every node type of `archc.ir.graph.NODE_TYPES` (a new structure must be added to it):
a sequence, residual blocks (built-in with the `se` option, a custom body with a gate between its convs, an
inverted block with a gate after its depthwise conv), an inception module whose branches hold a gate (one
branch is nothing but a gate), and bare gates in the stem and between stages. On it: each backend's table
covers exactly the node types; the compiled module's parameters equal the analytic count and every node's
real output shape its inferred one; the generated source gives identical outputs; fvcore counts the conv/fc
MACs exactly; the probe finds every weight it watches; the DAG's path counts are those counted by hand (a
gate adds no path); the savings see through a gate; the diagram draws every structure."""
from __future__ import annotations

from math import comb
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archc
from archc.analysis import paths as path_analysis
from archc.analysis import initprop, savings
from archc.analysis.crosscheck import fvcore_crosscheck
from archc.analysis.paths import path_counts
from archc.backends import codegen, torch_backend
from archc.ir import dag
from archc.ir.graph import NODE_TYPES, GateNode, Model, NodeRules, OpNode, ResidualNode
from archc.probe import layers as probe_layers
from archc.probe.layers import watched_layers
from archc.render import draw, dot_source

from codegen_helpers import import_generated

SPEC = """
archc: 1
name: structures
input: {channels: 3, size: 16}
classes: 5
stem:
  - conv: {out: 8, kernel: 3}
  - se: {reduction: 4}
stages:
  - residual: {block: basic, width: 8, se: {reduction: 2}}
  - residual: {block: bottleneck, width: 4, blocks: 2, stride: 2, se: {reduction: 4}}
  - residual:
      layers:
        - conv: {out: 16}
        - se: {reduction: 4}
        - conv: {out: 16}
  - residual: {block: inverted, width: 16, expansion: 2, se: {reduction: 4}}
  - inception:
      modules:
        a:
          branches:
            - [{conv: {out: 4, kernel: 1}}, {conv: {out: 8, kernel: 3}}, {se: {reduction: 2}}]
            - [{conv: {out: 8, kernel: 3}}]
            - [{se: {reduction: 4}}]
  - se: {reduction: 7, name: gate}
head: [gap, fc]
"""
TABLES: dict[str, NodeRules[Any]] = {
    "torch": torch_backend.build, "codegen": codegen.expr, "DAG": dag._lower, "diagram": draw.emit,
    "paths": path_analysis._OWNERSHIP, "init propagation": initprop.FEATURE_OPS, "savings": savings._RUNS,
    "probe": probe_layers._LAYERS}


@pytest.fixture(scope="module")
def model() -> Model:
    return archc.lower(archc.loads(SPEC))


@pytest.fixture(scope="module")
def net(model: Model) -> nn.Module:
    return archc.compile(model, seed=0).eval()


def x_batch(model: Model) -> torch.Tensor:
    return torch.randn(2, *model.input_shape, generator=torch.Generator().manual_seed(0))


def gate_ops(model: Model) -> set[str]:
    return {op.path for gate in model.walk() if isinstance(gate, GateNode) for op in gate.ops()}


def test_the_spec_uses_every_node_type(model: Model) -> None:
    used = {type(node) for node in model.walk()}
    assert used == set(NODE_TYPES), f"add a use of {set(NODE_TYPES) - used} to SPEC"
    assert sum(isinstance(n, GateNode) for n in model.walk()) == 1 + 1 + 2 + 1 + 1 + 2 + 1  # stem, stages 1-4, a, bare


@pytest.mark.parametrize("backend", sorted(TABLES))
def test_every_backend_table_covers_exactly_the_node_types(backend: str) -> None:
    assert set(TABLES[backend].rules) == set(NODE_TYPES)


def test_an_incomplete_table_is_refused_when_it_is_made() -> None:
    with pytest.raises(TypeError, match="missing GateNode"):
        NodeRules("test", {t: (lambda node: None) for t in NODE_TYPES if t is not GateNode})
    with pytest.raises(TypeError, match="unknown int"):
        NodeRules("test", {**{t: (lambda node: None) for t in NODE_TYPES}, int: lambda node: None})


def test_params_and_real_shapes_equal_the_analytic_ones(model: Model, net: nn.Module) -> None:
    assert sum(p.numel() for p in net.parameters()) == model.cost.params
    # a gate's params by hand: 2 C (C // r) weights + C // r + C biases (stem: C 8, r 4)
    stem_gate = model.find("stem.se1")
    assert stem_gate.cost.params == 2 * 8 * 2 + 2 + 8 and stem_gate.cost.macs == 2 * 8 * 2
    seen: dict[str, tuple] = {}
    handles = []
    for node in model.walk():
        def hook(_m: nn.Module, _i: Any, out: torch.Tensor, path: str = node.path) -> None:
            seen[path] = tuple(out.shape[1:])
        handles.append(net.get_submodule(node.path).register_forward_hook(hook))
    with torch.no_grad():
        net(x_batch(model))
    for h in handles:
        h.remove()
    assert {n.path: tuple(n.out_shape) for n in model.walk()} == seen


def test_generated_source_gives_identical_outputs(model: Model, net: nn.Module, tmp_path: Path) -> None:
    source = archc.generate_source(model)
    assert source.count("class Gate(nn.Module)") == 1
    generated = getattr(import_generated(source, tmp_path, "gen_structures"), "Structures")().eval()
    generated.load_state_dict(net.state_dict())
    x = x_batch(model)
    with torch.no_grad():
        diff = (generated(x) - net(x)).abs().max().item()
    print(f"generated vs compiled: max abs difference {diff:.3g}")
    assert diff == 0


def test_fvcore_counts_every_conv_and_fc_exactly_and_names_what_it_skips(model: Model) -> None:
    check = fvcore_crosscheck(model)
    assert check["all_equal"], check["mismatches"]
    gate_convs = [r for r in check["ops"] if r["path"] in gate_ops(model)]
    assert len(gate_convs) == 2 * 9 and all(r["equal"] for r in gate_convs)
    # what fvcore does not count: each gate's multiply and sigmoid (0 MACs in archc's convention as well)
    assert check["unsupported"]["aten::mul"] == 9 and check["unsupported"]["aten::sigmoid"] == 9


def test_the_probe_watches_every_gate_conv(model: Model, net: nn.Module) -> None:
    layers = watched_layers(model)
    params = dict(net.named_parameters())
    assert all(layer.param in params for layer in layers)
    gates = [layer for layer in layers if layer.role == "gate"]
    assert len(gates) == 2 * 9 and {layer.path for layer in gates} == {p for p in gate_ops(model) if p.endswith("conv")}
    # the gate's convs hang off the main path: the block after it is not deeper for it
    depth = {layer.path: layer.depth for layer in layers}
    assert depth["stage1.block1.se.reduce.conv"] == depth["stage1.block1.conv2.conv"] + 1
    assert depth["stage2.block1.conv1.conv"] == depth["stage1.block1.conv2.conv"] + 1


def test_a_gate_adds_no_path(model: Model) -> None:
    """By hand: residual blocks (stage1, stage2 x2, stage3, stage4) double the paths, the 3-branch module
    triples them: 2^5 * 3 = 96. Blocks: each residual block is 0 or 1, the module always 1 (every branch is its
    body, the gate-only branch too): (1 + x)^5 * 3x. Weighted layers: stem 1, then (2|0) + (3|1) + (3|0) +
    (2|0) + (3|0), the module's branches (2|1|0), the fc 1; the gates' convs are on no path."""
    result = path_counts(model)
    layers, blocks = result.layers["output"], result.blocks["output"]
    assert layers.total == blocks.total == 96
    assert blocks.as_dict() == {k + 1: 3 * comb(5, k) for k in range(6)}
    assert min(layers.as_dict()) == 1 + 0 + 1 + 0 + 0 + 0 + 0 + 1
    assert max(layers.as_dict()) == 1 + 2 + 3 + 3 + 2 + 3 + 2 + 1
    g = dag.to_dag(model)
    muls = [v for v, kind in g.nodes(data="kind") if kind == "mul"]
    assert len(muls) == 9 and all(g.in_degree(v) == 1 and g.nodes[v]["scale"] in g for v in muls)


def test_init_propagation_follows_the_feature_maps(model: Model) -> None:
    result = initprop.init_propagation(model, initprop.InitConfig(schemes=("kaiming_fan_out",), without_norm=False))
    expected = [op.path for op in model.body.ops() if op.op.weighted and op.path not in gate_ops(model)]
    assert result["layers"] == expected  # every conv/fc but the gates' own
    stds = result["results"]["kaiming_fan_out"]["as specified"]["activation_std"]
    assert len(stds) == len(expected) and all(s is not None and s > 0 for s in stds)


def test_the_savings_see_through_a_gate(model: Model) -> None:
    """The 1x1 reduction of a branch that ends in a gate is found (the gate kept, on the same channels), and a
    depthwise conv pairs with the pointwise 1x1 after the gate between them (MobileNet-V3's place), never with
    the gate's own 1x1 convs."""
    module = savings.inception_savings(model)["modules"][0]
    branch = module["branches"][0]
    assert [b["removed"] for b in module["branches"]] == ["1x1 reduction", "nothing", "nothing"]
    gate = model.find("stage5.inceptiona.branch1.se1")
    three = model.find("stage5.inceptiona.branch1.conv2.conv")
    naive_3x3 = 3 * 3 * 16 * 8 * 8 * 8  # the 3x3 on the module's 16-channel input, 8 x 8
    assert branch["naive"]["macs"] == naive_3x3 + gate.cost.macs and three.cost.macs == 3 * 3 * 4 * 8 * 8 * 8
    pairs = [(a.path, b.path) for a, b, _ in savings.depthwise_pairs(model)]
    assert pairs == [("stage4.block1.depthwise.conv", "stage4.block1.project.conv")]


@pytest.mark.parametrize("level", ["stage", "block", "layer"])
def test_the_diagram_draws_every_structure(model: Model, level: str) -> None:
    source = dot_source(model, level)
    gates = [n for n in model.walk() if isinstance(n, GateNode)]
    if level == "stage":  # stages collapse; the bare gates are one node each
        assert '\t\t"stem.se1" [label=<SE gate, r=4' in source and "\tgate [label=<SE gate, r=7" in source
        assert "global avgpool, 1x1 conv, 2, relu, 1x1 conv, 8, sigmoid" in source  # the stem's gate, op by op
        assert "SE gate, r=2" in source  # stage1's recipe names its gate
        return
    assert all(f'"{g.path}.mul"' in source for g in gates)
    assert all(f'"{r.path}.add"' in source for r in model.walk() if isinstance(r, ResidualNode))
    assert '"stage5.inceptiona.concat"' in source
    assert "gate (squeeze-excitation)" in source  # the legend names the multiply
    if level == "layer":
        assert all(f'"{op.path}"' in source for op in model.body.ops() if isinstance(op, OpNode))
