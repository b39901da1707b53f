"""Core speed: `archc validate` of every bundled spec (no torch) and `archc build resnet152` vs torch's import.

Prints a table of median wall times over a few runs, each a fresh process (what a user waits for).
"""
from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARCHC = [sys.executable, "-m", "archc"]


def wall(cmd: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.yaml") if not p.name.startswith("_"))
    with tempfile.TemporaryDirectory() as out:
        rows = [
            ("python startup (python -c pass)", wall([sys.executable, "-c", "pass"], 5)),
            ("import torch", wall([sys.executable, "-c", "import torch"], 3)),
            (f"archc validate ({len(specs)} bundled specs)", wall(ARCHC + ["validate", *specs], 5)),
            ("archc validate resnet152", wall(ARCHC + ["validate", "specs/resnet152.yaml"], 5)),
            ("archc build resnet152 (no diagram)",
             wall(ARCHC + ["build", "specs/resnet152.yaml", "-o", out, "--no-diagram"], 3)),
            ("archc build resnet152 (with stage diagram)", wall(ARCHC + ["build", "specs/resnet152.yaml", "-o", out], 3)),
            ("archc build resnet152 --check (+ forward pass at 224)",
             wall(ARCHC + ["build", "specs/resnet152.yaml", "-o", out, "--no-diagram", "--check"], 3)),
        ]
    check = subprocess.run([sys.executable, "-c", "import sys; from archc.cli import main\n"
                            "try: main(['validate', 'specs/resnet152.yaml'])\nexcept SystemExit: pass\n"
                            "print('torch' in sys.modules)"], cwd=ROOT, capture_output=True, text=True)
    torch_time = rows[1][1]
    print(f"{'what':<58} {'median s':>9} {'x import torch':>15}")
    for name, seconds in rows:
        print(f"{name:<58} {seconds:9.3f} {seconds / torch_time:15.2f}")
    print(f"torch imported by `archc validate`: {check.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
