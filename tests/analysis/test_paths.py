"""Path counts by dynamic programming, against math.comb, brute-force enumeration and Veit et al."""
import math
from fractions import Fraction

import networkx as nx
import pytest

import archc
from archc.analysis import path_counts, share_in_window
from archc.analysis.paths import block_bodies, dist_to, length_dists
from archc.bundled import bundled_specs, bundled_specs_dir
from archc.ir.dag import to_dag


def resnet_cifar(n: int, block: str = "basic", shortcut: str = "pad", kind: str = "residual") -> str:
    sc = f", shortcut: {shortcut}" if kind == "residual" else ""
    return f"""
archc: 1
name: net
input: {{channels: 3, size: 32}}
classes: 10
stem:
  - conv: {{out: 16, kernel: 3}}
stages:
  - {kind}: {{block: {block}, width: 16, blocks: {n}{sc}}}
  - {kind}: {{block: {block}, width: 32, blocks: {n}, stride: 2{sc}}}
  - {kind}: {{block: {block}, width: 64, blocks: {n}, stride: 2{sc}}}
"""


def lowered(text: str):
    return archc.lower(archc.loads(text))


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_residual_blocks_give_2_to_the_n_binomial_paths(n):
    blocks = 3 * n
    r = path_counts(lowered(resnet_cifar(n)))
    main = r.blocks["output"]
    assert main.total == 2 ** blocks
    assert main.as_dict() == {k: math.comb(blocks, k) for k in range(blocks + 1)}
    # in weighted layers: stem + fc always, 2 convs per block passed through (pad shortcuts have none)
    assert r.layers["output"].as_dict() == {2 + 2 * k: math.comb(blocks, k) for k in range(blocks + 1)}


def test_projection_shortcuts_count_their_conv():
    r = path_counts(lowered(resnet_cifar(1, shortcut="projection")))
    # 3 blocks; the 2nd and 3rd have a 1x1 projection: skipping them still passes one weighted layer
    layers = r.layers["output"].as_dict()
    assert sum(layers.values()) == 8
    assert min(layers) == 2 + 2  # stem, two projections, fc
    assert max(layers) == 2 + 6


def test_plain_net_has_one_path():
    r = path_counts(lowered(resnet_cifar(3, kind="plain")))
    assert r.layers["output"].as_dict() == {20: 1}  # 6n + 2 weighted layers
    assert r.blocks["output"].as_dict() == {9: 1}


def test_dp_agrees_with_enumeration_on_small_graphs():
    for text in (resnet_cifar(2), resnet_cifar(1, block="bottleneck", shortcut="projection")):
        model = lowered(text)
        g = to_dag(model)
        lengths = [sum(1 for v in p if g.nodes[v]["weighted"]) for p in nx.all_simple_paths(g, "input", "output")]
        expected = {k: lengths.count(k) for k in set(lengths)}
        assert path_counts(model, g).layers["output"].as_dict() == expected


def test_inception_modules_multiply_by_branch_count_and_aux_heads_have_their_own_paths():
    text = """
archc: 1
name: inc
input: {channels: 16, size: 8}
classes: 10
defaults: {norm: none}
stages:
  - inception:
      modules:
        a: [8, 8, 8, 4, 4, 4]
        b: [8, 8, 8, 4, 4, 4]
        c: [8, 8, 8, 4, 4, 4]
aux_heads:
  - {attach: inceptionb, layers: [{gap: {}}, {fc: {}}]}
"""
    r = path_counts(lowered(text))
    assert r.outputs == ["output", "aux1.output"]
    assert r.blocks["output"].as_dict() == {3: 4 ** 3}
    assert r.blocks["aux1.output"].as_dict() == {2: 4 ** 2}
    # per module: 1 weighted layer on branches 1 and 4, 2 on branches 2 and 3: (2x^1 + 2x^2)^3, then fc
    poly = {0: 1}
    for _ in range(3):
        nxt = {}
        for k, c in poly.items():
            for step, ways in ((1, 2), (2, 2)):
                nxt[k + step] = nxt.get(k + step, 0) + c * ways
        poly = nxt
    assert r.layers["output"].as_dict() == {k + 1: c for k, c in poly.items()}


def test_googlenet_paths_per_output():
    r = path_counts(archc.lower("specs/googlenet.yaml"))
    assert r.blocks["output"].total == 4 ** 9
    assert r.blocks["aux1.output"].total == 4 ** 3  # 3a, 3b, 4a
    assert r.blocks["aux2.output"].total == 4 ** 6  # ... 4b, 4c, 4d


def test_resnet110_effective_paths_share():
    """Veit et al. 2016: 54 blocks, paths of 5..17 blocks hold 0.45% of all 2^54 paths."""
    model = archc.lower("specs/cifar/resnet110.yaml")
    d = path_counts(model).blocks["output"]
    assert d.total == 2 ** 54 == 18_014_398_509_481_984
    share = share_in_window(d, 5, 17)
    assert share == Fraction(sum(math.comb(54, k) for k in range(5, 18)), 2 ** 54)
    assert round(float(share) * 100, 2) == 0.45


def test_thousand_layer_resnet_is_fast_and_exact():
    """ResNet-1202 (He et al. CIFAR, n = 200, 600 blocks): counts by DP, never by enumeration."""
    model = archc.lower(archc.load("specs/cifar/resnet110.yaml", ["vars.n=200"]))
    r = path_counts(model)
    d = r.blocks["output"]
    assert d.total == 2 ** 600
    assert d.as_dict() == {k: math.comb(600, k) for k in range(601)}
    assert r.layers["output"].as_dict() == {2 + 2 * k: math.comb(600, k) for k in range(601)}
    # the speed (linear in depth) is measured in bench/bench_analysis.py, not asserted here


@pytest.mark.parametrize("name, depth", [("resnet18", 18), ("resnet34", 34), ("resnet50", 50), ("resnet101", 101),
                                         ("resnet152", 152), ("plain34", 34), ("vgg19", 19), ("googlenet", 22),
                                         ("cifar/resnet110", 110), ("cifar/plain56", 56)])
def test_longest_path_is_the_published_depth(name, depth):
    """The depth in a model's name (GoogLeNet: "22 layers deep when counting only layers with parameters")."""
    assert max(path_counts(archc.lower(f"specs/{name}.yaml")).layers["output"].as_dict()) == depth


def test_path_counts_beyond_64_bits_and_beyond_float_range_are_drawn_and_printed():
    """ResNet-182 has 2^90 paths (a C long overflows), ResNet-2402 2^1200 (a float overflows)."""
    from archc.analysis.markdown import big
    from archc.analysis.plots import path_histogram

    from math import comb

    for n in (90, 1200):
        dist = {k: comb(n, k) for k in range(n + 1)}
        assert path_histogram(f"{n} blocks", dist, dist).startswith("<?xml")
    assert big(2 ** 90) == "2^90 = 1.238e27"
    assert big(2 ** 1200) == "2^1200 = 1.722e361"  # 2^1200 = 1.7218...e361, rounded
    assert big(3 * 10 ** 400 + 7) == "3.000e400"


def _reference(model, g):
    """The per-node DP over every node (length_dists), as path_counts did before the segmented DP."""
    order = list(nx.topological_sort(g))
    owner = block_bodies(model)

    def enters(u, v):
        return 1 if owner.get(v) is not None and owner.get(u) != owner.get(v) else 0

    layers = length_dists(g, {v: 1 for v, w in g.nodes(data="weighted") if w}, lambda u, v: 0, order)
    blocks = length_dists(g, {}, enters, order)
    return {o: (layers[o].as_dict(), blocks[o].as_dict()) for o in g.graph["outputs"]}


@pytest.mark.parametrize("spec", sorted(p.relative_to(bundled_specs_dir()).as_posix() for p in bundled_specs()))
def test_segmented_dp_equals_the_per_node_dp_on_every_bundled_spec(spec):
    model = archc.lower(bundled_specs_dir() / spec)
    g = to_dag(model)
    r = path_counts(model, g)
    assert {o: (r.layers[o].as_dict(), r.blocks[o].as_dict()) for o in r.outputs} == _reference(model, g)


@pytest.mark.parametrize("sets", [["vars.n=60"], ["vars.n=20"] + [f"stages.{i}.residual.block=bottleneck"
                                                                  for i in range(3)]
                                  + [f"stages.{i}.residual.shortcut=projection" for i in range(3)]])
def test_segmented_dp_equals_the_per_node_dp_on_deep_nets(sets):
    model = archc.lower(archc.load("specs/cifar/resnet110.yaml", sets))
    g = to_dag(model)
    r = path_counts(model, g)
    assert {o: (r.layers[o].as_dict(), r.blocks[o].as_dict()) for o in r.outputs} == _reference(model, g)


@pytest.mark.parametrize("seed", range(40))
def test_segmented_dp_equals_enumeration_on_random_dags(seed):
    """Random DAGs (not series-parallel, several sinks, nodes off every path) with random node and edge
    weights: dist_to gives exactly the lengths of the enumerated paths, and length_dists agrees."""
    import random

    rng = random.Random(seed)
    n = rng.randint(2, 14)
    names = ["input"] + [f"v{i}" for i in range(1, n)]
    g = nx.DiGraph()
    g.add_nodes_from(names)
    for i in range(n):
        for j in range(i + 1, n):
            if j == i + 1 and rng.random() < 0.8 or rng.random() < 0.25:
                g.add_edge(names[i], names[j])
    node_w = {v: rng.randint(0, 2) for v in names if rng.random() < 0.6}
    edge_w = {e: rng.randint(0, 3) for e in g.edges}
    for target in names[1:]:
        lengths = [sum(node_w.get(v, 0) for v in p) + sum(edge_w[e] for e in zip(p, p[1:]))
                   for p in nx.all_simple_paths(g, "input", target)]
        expected = {k: lengths.count(k) for k in set(lengths)}
        got = dist_to(g, target, node_w, lambda u, v: edge_w[u, v])
        assert got.as_dict() == expected and got.total == len(lengths)
        assert length_dists(g, node_w, lambda u, v: edge_w[u, v])[target].as_dict() == expected


def test_powers_by_recurrence_equal_repeated_multiplication():
    from archc.analysis.paths import _power, _times

    for p in ([1, 1], [1, 0, 1], [2, 3], [1, 2, 0, 5], [3]):
        for k in (1, 2, 7, 40):
            expected = [1]
            for _ in range(k):
                expected = _times(expected, p, 64)
            assert _power(p, k) == expected
