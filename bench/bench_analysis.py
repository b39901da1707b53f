"""Analysis speed, every figure an A/B pair run back to back in alternating order (bench/paired.py):

1. `archc analyze` against the peer script (bench/peer_fvcore.py: the net in plain PyTorch, fvcore's
   `flop_count_table`, Markdown and JSON), fresh processes, for ResNet-50 and a 1,202-layer CIFAR ResNet;
2. the path-count DP (segmented, archc.analysis.paths.path_counts) against the per-node DP it replaced,
   at growing depth, with the growth exponent of each;
3. the init study (one shared build) against eight fresh builds, and analytic complexity against fvcore.

    python bench/bench_analysis.py [--quick] [--only analyze|paths|init|complexity]
"""
from __future__ import annotations

import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paired import HEADER, ROOT, command, in_process, machine, paired, table  # noqa: E402

PY = sys.executable
DEEP = ["--set", "vars.n=200"]  # cifar/resnet110 with n = 200: He et al.'s ResNet-1202


def analyze_vs_peer(quick: bool) -> None:
    n = 2 if quick else 5
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        peer50 = command([PY, "bench/peer_fvcore.py", "resnet50", f"{tmp}/peer50"])
        peer1202 = command([PY, "bench/peer_fvcore.py", "cifar1202", f"{tmp}/peer1202"])
        for label, extra, pairs in (("`archc analyze resnet50 -o DIR`", [], n),
                                    ("the same with `--fvcore`", ["--fvcore"], max(2, n - 1)),
                                    ("the same with `--full` (fvcore and init study)", ["--full"], max(2, n - 1))):
            archc = command([PY, "-m", "archc", "analyze", "specs/resnet50.yaml", "-o", f"{tmp}/a50", *extra])
            rows.append(paired(label, archc, "peer: resnet50 + fvcore table", peer50, pairs).row())
        archc = command([PY, "-m", "archc", "analyze", "cifar/resnet110", *DEEP, "-o", f"{tmp}/a1202"])
        rows.append(paired("`archc analyze` ResNet-1202 (`cifar/resnet110 --set vars.n=200`)", archc,
                           "peer: CIFAR ResNet-1202 + fvcore table", peer1202, 2 if quick else 3).row())
    print("\n### `archc analyze` vs the peer script (fresh processes)\n")
    print(table(HEADER, rows))


def _reference_path_counts(model, g):  # the per-node DP path_counts used before (kept in length_dists)
    import networkx as nx

    from archc.analysis.paths import block_bodies, length_dists

    order = list(nx.topological_sort(g))
    owner = block_bodies(model)
    layers = length_dists(g, {v: 1 for v, w in g.nodes(data="weighted") if w}, lambda u, v: 0, order)
    blocks = length_dists(g, {}, lambda u, v: 1 if owner.get(v) is not None and owner.get(u) != owner.get(v)
                          else 0, order)
    return {o: (layers[o], blocks[o]) for o in g.graph["outputs"]}


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of log y over log x: the growth exponent."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def path_dp(quick: bool) -> None:
    import archc
    from archc.analysis.paths import path_counts
    from archc.ir.dag import to_dag

    rows, depth, new, old = [], [], [], []
    for n in (25, 50, 100, 200, 400):
        model = archc.lower(archc.load("specs/cifar/resnet110.yaml", [f"vars.n={n}"]))
        g = to_dag(model)
        result = path_counts(model, g)
        reference = _reference_path_counts(model, g)
        assert all(result.layers[o].as_dict() == reference[o][0].as_dict() and
                   result.blocks[o].as_dict() == reference[o][1].as_dict() for o in result.outputs)
        p = paired("segmented DP", in_process(lambda: path_counts(model, g)),
                   "per-node DP", in_process(lambda: _reference_path_counts(model, g)), 3 if quick else 7)
        r = p.row()
        rows.append([f"{6 * n + 2}", f"{3 * n}", f"{g.number_of_nodes():,}", r[1], r[3], r[4], r[5]])
        depth.append(6 * n + 2)
        new.append(statistics.median(x.seconds for x in p.a_runs))
        old.append(statistics.median(x.seconds for x in p.b_runs))
    print("\n### Exact path counts: segmented DP vs the per-node DP (in process, CIFAR ResNets 6n+2)\n")
    print(table(["layers", "blocks", "DAG nodes", "segmented s", "per-node s", "segmented / per-node per pair",
                 "pairs"], rows))
    print(f"\nGrowth exponent (log-log slope of the medians over depth {depth[0]}..{depth[-1]}): "
          f"segmented {_slope(depth, new):.2f}, per-node {_slope(depth, old):.2f}; "
          f"over the last doubling: segmented {math.log2(new[-1] / new[-2]):.2f}, "
          f"per-node {math.log2(old[-1] / old[-2]):.2f}.")


def _fresh_build_study(model, cfg):  # eight fresh builds, as init_propagation ran before
    import torch
    from torch import nn

    from archc.analysis.initprop import SCHEMES, _at_size, _weighted_ops, batch_size, relower
    from archc.backends.torch_backend import to_torch

    base = _at_size(model, cfg.size)
    with torch.random.fork_rng(devices=[]):
        for scheme in cfg.schemes:
            variant = relower(base, init=base.spec.init.model_copy(update=SCHEMES[scheme]))
            for strip in (False, True):
                net = to_torch(variant, seed=cfg.seed)
                if strip:
                    for op in variant.body.ops():
                        if op.op.category == "norm":
                            parent, _, name = op.path.rpartition(".")
                            setattr(net.get_submodule(parent), name, nn.Identity())
                net.train()
                stds: list[float] = []

                def hook(module: object, inputs: object, out: torch.Tensor) -> None:
                    stds.append(float(out.detach().std()))
                    out.register_hook(lambda grad: stds.append(float(grad.std())))

                for op in _weighted_ops(variant):
                    net.get_submodule(op.path).register_forward_hook(hook)
                gen = torch.Generator().manual_seed(cfg.seed)
                batch = batch_size(cfg, base.input_shape)
                x = torch.randn(batch, *base.input_shape, generator=gen)
                labels = torch.randint(0, base.classes, (batch,), generator=gen)
                nn.functional.cross_entropy(net(x), labels).backward()


def init_study(quick: bool) -> None:
    import archc
    from archc.analysis.crosscheck import torch_threads
    from archc.analysis.initprop import InitConfig, init_propagation

    rows = []
    for name in ("cifar/resnet110", "resnet50"):
        model = archc.lower(f"specs/{name}.yaml")
        cfg = InitConfig()
        with torch_threads(1):
            p = paired("one shared build", in_process(lambda: init_propagation(model, cfg)),
                       "8 fresh builds", in_process(lambda: _fresh_build_study(model, cfg)), 2 if quick else 4)
        rows.append([name] + p.row()[1:2] + p.row()[3:6])
    print("\n### Init study: one shared build vs eight fresh builds (4 schemes x with/without BN, 1 torch thread)\n")
    print(table(["spec", "shared build s", "fresh builds s", "shared / fresh per pair", "pairs"], rows))


def complexity_vs_fvcore(quick: bool) -> None:
    import archc
    from archc.analysis import complexity, fvcore_crosscheck

    model = archc.lower("specs/resnet50.yaml")
    p = paired("analytic `complexity()`", in_process(lambda: complexity(model)),
               "`fvcore_crosscheck()` (build, trace, compare)", in_process(lambda: fvcore_crosscheck(model)),
               3 if quick else 5)
    print("\n### ResNet-50: analytic complexity vs the fvcore cross-check (in process, 1 torch thread)\n")
    print(table(HEADER[:6], [p.row()[:6]]))


SECTIONS = {"analyze": analyze_vs_peer, "paths": path_dp, "init": init_study, "complexity": complexity_vs_fvcore}


def main() -> None:
    import os

    os.chdir(ROOT)
    quick = "--quick" in sys.argv
    only = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else list(SECTIONS)
    print(f"Machine: {machine()}")
    for name in only:
        SECTIONS[name](quick)


if __name__ == "__main__":
    main()
