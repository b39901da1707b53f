"""Start-up cost of the commands that need no tensors: `archc --help`, `list`, `schema`, `validate`.

Each command runs in a fresh process (what a user waits for); printed: median wall time, peak RSS of that
process, and which heavy modules it imported (tests/test_cli_startup.py asserts the last column; no timer
is asserted anywhere).

    python bench/bench_cli_startup.py [runs]
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "matplotlib", "torchvision", "fvcore", "numpy", "networkx", "graphviz", "pydantic", "yaml")
# one child per measuring process, so RUSAGE_CHILDREN's peak is that command's own
PROBE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps([time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))
"""
IMPORTS = """
import sys
from archc.__main__ import run
sys.argv = ['archc'] + sys.argv[1:]
try:
    run()
except SystemExit:
    pass
print('IMPORTED', ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def measure(args: list[str], runs: int) -> tuple[float, float, str]:
    times, peaks = [], []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", PROBE, sys.executable, "-m", "archc", *args], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        seconds, kib = json.loads(done.stdout)
        times.append(seconds)
        peaks.append(kib / 1024)
    probe = subprocess.run([sys.executable, "-c", IMPORTS.format(heavy=HEAVY), *args], cwd=ROOT,
                           capture_output=True, text=True)
    line = [l for l in probe.stderr.splitlines() if l.startswith("IMPORTED")][-1]
    return statistics.median(times), max(peaks), line.split(" ", 1)[1] if " " in line else ""


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rows = [("python -c pass", None)] + [(" ".join(a), a) for a in
                                         (["--help"], ["list"], ["schema"], ["validate", "specs/resnet152.yaml"])]
    print(f"| command | median wall (s), {runs} runs | peak RSS (MiB) | heavy modules imported |")
    print("|---|---:|---:|---|")
    for label, args in rows:
        if args is None:
            done = subprocess.run([sys.executable, "-c", PROBE, sys.executable, "-c", "pass"], capture_output=True,
                                  text=True, check=True)
            seconds, kib = json.loads(done.stdout)
            print(f"| `{label}` | {seconds:.2f} | {kib / 1024:.0f} | - |")
            continue
        seconds, mib, heavy = measure(args, runs)
        print(f"| `archc {label}` | {seconds:.2f} | {mib:.0f} | {heavy or 'none'} |")


if __name__ == "__main__":
    main()
