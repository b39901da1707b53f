"""Is the multi-process probe's gap rounding? One spec, 2 gloo processes against one process, in float64 and
float32, plus the float32 thread-count baseline; prints the largest relative difference of a layer's gradient
norm per step, and step 1 of each float32 run against the float64 run (the reference).

Usage: python bench/ddp_rounding.py [SPEC] [--steps N] [--batch B]   (CPU; about 30 s for cifar/plain20)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import archc  # noqa: E402
from archc.probe import ProbeConfig, ProbeResult, run_probe, spawn_local  # noqa: E402


def max_rel(a: list[float], b: list[float]) -> float:
    return max(abs(p - q) / abs(q) for p, q in zip(a, b) if q)


def one_process(ir, config: ProbeConfig, threads: int) -> ProbeResult:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return run_probe(ir, config)
    finally:
        torch.set_num_threads(before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="specs/cifar/plain20.yaml")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    ir = archc.lower(archc.load(args.spec))
    settings = dict(steps=args.steps, batch=args.batch, log_every=1, synthetic_size=512, lr=0.025, progress=False,
                    path_gradients=False)
    f64, f32 = ProbeConfig(**settings, dtype="float64"), ProbeConfig(**settings)
    runs = {"float64: 2 processes vs 1": (spawn_local(ir, f64, nproc=2), one_process(ir, f64, 1)),
            "float32: 2 processes vs 1": (spawn_local(ir, f32, nproc=2), one_process(ir, f32, 1)),
            "float32: 1 process, 2 threads vs 1": (one_process(ir, f32, 2), one_process(ir, f32, 1))}
    reference = runs["float64: 2 processes vs 1"][1]
    print(f"{ir.name}, batch {args.batch}, torch {torch.__version__}: largest relative difference of a layer's "
          "gradient norm")
    print(f"| compared | {' | '.join(f'step {s}' for s in reference.norm_steps)} |")
    print(f"|---|{'---|' * len(reference.norm_steps)}")
    for name, (a, b) in runs.items():
        cells = " | ".join(f"{max_rel(x, y):.1e}" for x, y in zip(a.norms, b.norms))
        print(f"| {name} | {cells} |")
    two, one = runs["float32: 2 processes vs 1"]
    print(f"step 1 against float64: float32 one process {max_rel(one.norms[0], reference.norms[0]):.1e}, "
          f"float32 two processes {max_rel(two.norms[0], reference.norms[0]):.1e}")


if __name__ == "__main__":  # spawn_local starts fresh interpreters that import this file
    main()
