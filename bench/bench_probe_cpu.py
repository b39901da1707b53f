"""The probe's CPU throughput against a bare training step of the same net (issue 11), paired and alternated.

For each net and thread count: R pairs; in each pair the probe's steps (all per-layer gradient norms, the
NaN check every step, no testing) and a hand-written eager step of the same archc-built net (same data
pipeline, same SGD settings, no norms, no checks) each run N timed steps after one warm-up step; the order
within a pair alternates (AB, BA, AB, ...), and the ratio probe / bare is taken pair by pair. Printed: the
median ratio with its min-max, and both step rates. A ratio near 1 means the measurements cost nothing.
The nets are the lecture preset's: CIFAR ResNet-20 and plain-56 at 16x16, batch 32.

Usage: python bench/bench_probe_cpu.py [--pairs R] [--steps N] [--threads 1,2] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archc  # noqa: E402
from archc.probe import ProbeConfig, run_probe  # noqa: E402
from archc.probe.data import BatchOrder  # noqa: E402
from archc.probe.sources import load_data  # noqa: E402

NETS = ("cifar/resnet20", "cifar/plain56")
OVERRIDES = ("input.size=16",)
BATCH = 32


def bare_steps_per_s(ir, data, steps: int) -> float:
    """A hand-written training step: forward, cross-entropy, backward, SGD; nothing measured."""
    net = archc.compile(ir, seed=0).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    order = BatchOrder(len(data), BATCH, seed=0)

    def step(s: int) -> None:
        idx = order.indices(s)
        x, y = data.normalize(data.images[idx]), data.labels[idx]
        loss = F.cross_entropy(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step(1)  # warm-up, as the probe's step 1 is excluded from its rate
    start = time.perf_counter()
    for s in range(2, steps + 2):
        step(s)
    return steps / (time.perf_counter() - start)


def probe_steps_per_s(ir, data, steps: int, threads: int) -> float:
    config = ProbeConfig(steps=steps + 1, batch=BATCH, log_every=10, progress=False, path_gradients=False,
                         evaluate=False, threads=threads)
    return float(run_probe(ir, config, data=data).timing["steps_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.machine())
    print(f"machine: {cpu}, torch {torch.__version__}; {args.pairs} pairs x {args.steps} steps, batch {BATCH}, "
          f"{', '.join(OVERRIDES)}, data digits", flush=True)
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name in NETS:
            ir = archc.lower(archc.load(ROOT / f"specs/{name}.yaml", OVERRIDES))
            data = load_data("digits", ir.input_shape, ir.classes).check_against(ir.input_shape, ir.classes, BATCH)
            ratios, probe_rates, bare_rates = [], [], []
            for pair in range(args.pairs):
                first_probe = pair % 2 == 1
                for which in ((["probe", "bare"]) if first_probe else (["bare", "probe"])):
                    if which == "probe":
                        probe_rates.append(probe_steps_per_s(ir, data, args.steps, threads))
                    else:
                        bare_rates.append(bare_steps_per_s(ir, data, args.steps))
                ratios.append(bare_rates[-1] / probe_rates[-1])  # probe time / bare time
            row = {"net": name, "threads": threads, "ratio_median": statistics.median(ratios),
                   "ratio_min": min(ratios), "ratio_max": max(ratios),
                   "probe_steps_per_s": statistics.median(probe_rates),
                   "bare_steps_per_s": statistics.median(bare_rates), "pairs": args.pairs}
            rows.append(row)
            print(f"{name:16} {threads} thread(s): probe/bare time {row['ratio_median']:.3f} "
                  f"({row['ratio_min']:.3f}-{row['ratio_max']:.3f}); probe {row['probe_steps_per_s']:.1f} steps/s "
                  f"({row['probe_steps_per_s'] * BATCH:,.0f} images/s), bare {row['bare_steps_per_s']:.1f} steps/s",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": cpu, "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
