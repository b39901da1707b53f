"""Training-probe speed (issue 5), one run, side by side on one device:

A. CIFAR ResNet-56, batch 128, 32x32: the probe's step (all per-layer gradient norms, NaN checks) against
   a hand-written eager PyTorch step without norms, on the same data; then the probe with torch.compile
   (default and reduce-overhead modes) and with the whole step captured as a CUDA graph.
   Targets on a GPU: probe eager <= 1.05x the hand-written step's time; compiled / graphed probe >= 2x
   faster than the hand-written eager step.
B. ResNet-50 built by archc vs torchvision's resnet50: training images/s at batch 256, bf16 autocast,
   channels_last (same hand-written loop for both). Target: archc >= 1.0x torchvision.
C. Gathering per-layer gradient norms: one torch._foreach_norm + one host copy vs one .item() per layer.

On CUDA everything runs as stated. Without CUDA it still runs, on the CPU, with smaller settings that
it prints, and skips what needs CUDA (CUDA graphs, reduce-overhead) with a line saying so.
Usage: python bench/bench_probe.py [--steps N] [--batch B] [--rounds R] [--rn50-batch B] [--cpu-compile]
                                   [--skip AB] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import archc  # noqa: E402
from archc.probe import ProbeConfig, run_probe  # noqa: E402
from archc.probe.data import BatchOrder, synthetic  # noqa: E402

ROWS: list[dict] = []


def say(text: str) -> None:
    print(text, flush=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"CPU only: {cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


def timed_steps(step: Callable[[int], None], device: torch.device, warmup: int, steps: int) -> float:
    """Seconds per step after `warmup` steps (synchronised at both ends)."""
    for s in range(1, warmup + 1):
        step(s)
    sync(device)
    start = time.perf_counter()
    for s in range(warmup + 1, warmup + steps + 1):
        step(s)
    sync(device)
    return (time.perf_counter() - start) / steps


def hand_written_step(net: torch.nn.Module, device: torch.device, amp: bool, channels_last: bool,
                      batches: Callable[[int], tuple]) -> Callable[[int], None]:
    """The plain PyTorch training step a person would write: no norms, no checks."""
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def step(s: int) -> None:
        x, y = batches(s)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = F.cross_entropy(net(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return step


def row(section: str, what: str, value: Optional[float], unit: str, note: str = "") -> None:
    ROWS.append({"section": section, "what": what, "value": value, "unit": unit, "note": note})
    shown = "skipped" if value is None else f"{value:,.4g} {unit}"
    say(f"  {what:<62} {shown:>22}  {note}")


def bench_resnet56(device: torch.device, args: argparse.Namespace) -> None:
    cuda = device.type == "cuda"
    batch = args.batch or 128
    steps = args.steps or (200 if cuda else 5)
    rounds = args.rounds or 3
    amp = cuda
    say(f"\nA. CIFAR ResNet-56, batch {batch}, 32x32, {'bf16 autocast, channels_last' if cuda else 'fp32'}, "
        f"{steps} timed steps, median of {rounds} round(s) alternating hand-written and probe")
    ir = archc.lower(ROOT / "specs/cifar/resnet56.yaml")
    data = synthetic(ir.input_shape, ir.classes, max(4 * batch, 1024), seed=0)
    images, labels = data.images.to(device), data.labels.to(device)
    order = BatchOrder(len(data), batch, seed=0, device=device)

    def batches(s: int) -> tuple:
        idx = order.indices(s)
        return data.normalize(images[idx]), labels[idx]

    torch.backends.cudnn.benchmark = cuda

    def hand_ms() -> float:
        net = archc.compile(ir, seed=0).to(device, memory_format=torch.channels_last if cuda else torch.preserve_format)
        return 1e3 * timed_steps(hand_written_step(net, device, amp, cuda, batches), device, 5 if cuda else 1, steps)

    def probe_ms(**kw: object) -> Optional[float]:
        config = ProbeConfig(steps=steps + 1, batch=batch, log_every=10, progress=False, path_gradients=False,
                             seed=0, **kw)  # type: ignore[arg-type]
        result = run_probe(ir, config, data=data)
        rate = result.timing.get("steps_per_s")
        return 1e3 / rate if result.status == "completed" and rate else None

    graphs = cuda  # the whole step as one CUDA graph needs CUDA
    hands: list[float] = []
    eagers: list[Optional[float]] = []
    graphed: list[Optional[float]] = []
    for _ in range(rounds):  # alternate, so that drift hits every variant alike
        hands.append(hand_ms())
        eagers.append(probe_ms())
        if graphs:
            graphed.append(probe_ms(cuda_graphs=True))
    hand = statistics.median(hands)
    row("A", "hand-written eager step, no norms", hand, "ms/step", spread(hands))

    def versus(label: str, times: list[Optional[float]], target: str) -> None:
        if not times or any(t is None for t in times):
            row("A", label, None, "", "the run did not complete")
            return
        ratios = [t / h for t, h in zip(times, hands)]  # type: ignore[operator]
        row("A", label, statistics.median(times), "ms/step", spread(times))  # type: ignore[arg-type]
        row("A", f"  this / hand-written, pair by pair ({target})", statistics.median(ratios), "x", spread(ratios))

    versus("probe step, eager, all per-layer norms", eagers, "target <= 1.05")
    if graphs:
        versus("probe step, whole step as one CUDA graph", graphed, "target <= 0.40")
    else:
        row("A", "probe step, CUDA graph", None, "", "skipped: CUDA graphs need CUDA")
    modes = [m for m in args.compile_modes.split(",") if m] if (cuda or args.cpu_compile) else []
    for mode in modes:
        if mode == "reduce-overhead" and not cuda:
            continue
        ms = probe_ms(compile=True, compile_mode=mode)  # one run: each compile takes tens of seconds
        row("A", f"probe step, torch.compile mode={mode} (one run, compile excluded)", ms, "ms/step")
        if ms:
            row("A", "  this / median hand-written", ms / hand, "x")
    if not modes:
        why = "not asked for (--compile-modes)" if cuda or args.cpu_compile else "skipped on CPU (--cpu-compile)"
        row("A", "probe step, torch.compile", None, "", why)


def spread(values: list) -> str:
    """The min-max range of a list of numbers, for a row's note."""
    return f"min-max {min(values):.4g}-{max(values):.4g}, n={len(values)}" if len(values) > 1 else ""


def bench_resnet50(device: torch.device, args: argparse.Namespace) -> None:
    cuda = device.type == "cuda"
    batch = args.rn50_batch or (256 if cuda else 4)
    size = 224 if cuda or args.rn50_full else 112
    steps = 30 if cuda else 2
    say(f"\nB. ResNet-50: archc vs torchvision, batch {batch}, {size}x{size}, "
        f"{'bf16 autocast, channels_last' if cuda else 'fp32 (CPU fallback)'}, {steps} timed steps x {args.rn50_rounds} rounds")
    try:
        import torchvision
    except ImportError:
        row("B", "ResNet-50 vs torchvision", None, "", "skipped: torchvision not installed")
        return
    nets = {"archc resnet50": archc.compile(ROOT / "specs/resnet50.yaml", seed=0),
            "torchvision resnet50": torchvision.models.resnet50()}
    fmt = torch.channels_last if cuda else torch.preserve_format
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=gen).to(device)
    y = torch.randint(0, 1000, (batch,), generator=gen).to(device)
    steps_fn = {name: hand_written_step(net.to(device, memory_format=fmt), device, cuda, cuda, lambda s: (x, y))
                for name, net in nets.items()}
    times: dict[str, list[float]] = {name: [] for name in nets}
    for _ in range(args.rn50_rounds):  # alternate, so drift hits both
        for name, step in steps_fn.items():
            times[name].append(timed_steps(step, device, 5 if cuda else 1, steps))
    rates = {name: batch / statistics.median(t) for name, t in times.items()}
    for name, rate in rates.items():
        row("B", f"{name} training throughput", rate, "images/s")
    ratios = [t / a for a, t in zip(times["archc resnet50"], times["torchvision resnet50"])]  # round by round
    row("B", "archc / torchvision throughput, pair by pair (target >= 1.0)", statistics.median(ratios), "x",
        spread(ratios))


def bench_norm_gathering(device: torch.device) -> None:
    say("\nC. Gathering the gradient norms of ResNet-56's 57 conv/fc weights (after one backward)")
    ir = archc.lower(ROOT / "specs/cifar/resnet56.yaml")
    net = archc.compile(ir, seed=0).to(device)
    from archc.probe.layers import watched_layers

    params = dict(net.named_parameters())
    tracked = [params[layer.param] for layer in watched_layers(ir)]
    x = torch.randn(16, 3, 32, 32, device=device)
    F.cross_entropy(net(x), torch.zeros(16, dtype=torch.long, device=device)).backward()
    grads = [p.grad for p in tracked]

    def foreach() -> list:
        return torch.stack(torch._foreach_norm(grads)).cpu().tolist()

    def per_layer() -> list:
        return [g.norm().item() for g in grads]

    assert all(abs(a - b) <= 1e-5 * max(1.0, abs(b)) for a, b in zip(foreach(), per_layer()))
    reps = 200
    for name, fn in (("torch._foreach_norm + one host copy", foreach), ("per-layer .norm().item()", per_layer)):
        fn()
        sync(device)
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        sync(device)
        row("C", name, (time.perf_counter() - start) / reps * 1e6, "us/step")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--steps", type=int, default=0, help="timed steps for A (default 200 on CUDA, 5 on CPU)")
    parser.add_argument("--batch", type=int, default=0, help="batch for A (default 128)")
    parser.add_argument("--rounds", type=int, default=0, help="alternating rounds for A (default 3)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads on the CPU (default 1: steadier on small shared machines)")
    parser.add_argument("--rn50-batch", type=int, default=0, help="batch for B (default 256 on CUDA, 4 on CPU)")
    parser.add_argument("--rn50-rounds", type=int, default=5, help="alternating rounds for B (default 5)")
    parser.add_argument("--rn50-full", action="store_true", help="224x224 for B on CPU as well")
    parser.add_argument("--cpu-compile", action="store_true", help="also time torch.compile on the CPU")
    parser.add_argument("--compile-modes", default="default,reduce-overhead",
                        help="torch.compile modes to time in A, comma-separated ('' for none: each compiles ~40 s)")
    parser.add_argument("--skip", default="", help="sections to skip, e.g. B or AB")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but CUDA is not available")
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads or 1)
    say(f"machine: {machine(device)}")
    if device.type == "cpu":
        say("no CUDA: CPU fallback with smaller settings; the GPU targets are not measured by this run")
    for key, fn in (("A", lambda: bench_resnet56(device, args)), ("B", lambda: bench_resnet50(device, args)),
                    ("C", lambda: bench_norm_gathering(device))):
        if key not in args.skip.upper():
            fn()
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(device), "rows": ROWS}, indent=2) + "\n")


if __name__ == "__main__":
    main()
