"""Analysis speed: analytic complexity vs fvcore tracing (ResNet-50, side by side), exact path counts on
1,000+-layer ResNets, and a full `archc analyze` of every bundled spec.

Prints tables of median wall times (in-process for the analyses, a fresh process for the CLI run).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archc  # noqa: E402
from archc.analysis import complexity, fvcore_crosscheck, path_counts  # noqa: E402
from archc.analysis.initprop import init_propagation  # noqa: E402
from archc.ir.dag import to_dag  # noqa: E402


def median(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def complexity_vs_fvcore() -> None:
    import torch

    from archc.analysis.crosscheck import _trace, torch_threads
    from archc.backends.torch_backend import to_torch

    model = archc.lower("specs/resnet50.yaml")
    net = to_torch(model).eval()
    fvcore_crosscheck(model)  # warm-up: imports, first trace
    t_analytic = median(lambda: complexity(model), 20)
    with torch.no_grad(), torch_threads(1):
        t_forward = median(lambda: net(torch.zeros(1, *model.input_shape)), 5)
        t_trace = median(lambda: _trace(net, model.input_shape), 5)
    t_full = median(lambda: fvcore_crosscheck(model), 3)
    print("\nResNet-50 @224: analytic complexity vs fvcore (median; torch on 1 thread as archc runs it)\n")
    print("| what | s | x analytic |\n|---|---:|---:|")
    for name, t in (("analytic `complexity()` (IR only, per op/block/stage)", t_analytic),
                    ("one plain forward pass of the built module (batch 1)", t_forward),
                    ("fvcore `FlopCountAnalysis.by_module()` on a built module", t_trace),
                    ("`fvcore_crosscheck()`: build + init module, trace, compare", t_full)):
        print(f"| {name} | {t:.4f} | {t / t_analytic:,.0f} |")


def deep_paths() -> None:
    print("\nExact path counts by dynamic programming (median of 3)\n")
    print("| network | blocks | weighted layers | DAG nodes | lower s | to DAG s | paths DP s | paths |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, spec, sets in (("CIFAR ResNet-1202 (basic, n = 200)", "specs/cifar/resnet110.yaml", ["vars.n=200"]),
                              ("ResNet-1001 (bottleneck, 3 x 111 blocks)", "specs/cifar/resnet110.yaml",
                               ["vars.n=111"] + [f"stages.{i}.residual.block=bottleneck" for i in range(3)]
                               + [f"stages.{i}.residual.width={w}" for i, w in enumerate((16, 32, 64))]
                               + [f"stages.{i}.residual.shortcut=projection" for i in range(3)])):
        spec_obj = archc.load(spec, sets)
        t_lower = median(lambda: archc.lower(spec_obj), 3)
        model = archc.lower(spec_obj)
        t_dag = median(lambda: to_dag(model), 3)
        g = to_dag(model)
        t_dp = median(lambda: path_counts(model, g), 3)
        r = path_counts(model, g)
        blocks = max(r.blocks["output"].as_dict())
        depth = max(r.layers["output"].as_dict())
        total = r.layers["output"].total
        print(f"| {label} | {blocks} | {depth} | {g.number_of_nodes():,} | {t_lower:.3f} | {t_dag:.3f} | "
              f"{t_dp:.3f} | 2^{total.bit_length() - 1} ({len(str(total))} digits) |")


def init_timing() -> None:
    print("\nInit propagation (4 schemes x with/without norm layers, 1 torch thread)\n")
    print("| spec | probed input | s |\n|---|---|---:|")
    for name in ("cifar/resnet110", "resnet50", "googlenet"):
        model = archc.lower(f"specs/{name}.yaml")
        start = time.perf_counter()
        result = init_propagation(model)
        print(f"| {name} | {'x'.join(map(str, result['input']))}, batch {result['batch']} | "
              f"{time.perf_counter() - start:.2f} |")


def full_analyze() -> None:
    with tempfile.TemporaryDirectory() as out:
        specs = [p for p in (ROOT / "specs").rglob("*.yaml") if not p.name.startswith("_")]
        rows = []
        for label, extra in (("`archc analyze` (all, default workers)", []),
                             ("`archc analyze -j 1` (all, one process)", ["-j", "1"]),
                             ("`archc analyze --no-init` (all)", ["--no-init"])):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "archc", "analyze", "-o", out, *extra], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            rows.append((label, time.perf_counter() - start))
    print(f"\nFull `archc analyze` of the {len(specs)} bundled specs, fresh process, {os.cpu_count()} CPUs\n")
    print("| command | s |\n|---|---:|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.1f} |")


def main() -> None:
    os.chdir(ROOT)
    complexity_vs_fvcore()
    deep_paths()
    init_timing()
    if "--quick" not in sys.argv:
        full_analyze()


if __name__ == "__main__":
    main()
