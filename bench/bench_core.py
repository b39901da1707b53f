"""Core speed: `archc validate` (no torch) and `archc build resnet152`, each paired with `import torch`
(run back to back, order alternated, ratio per pair; bench/paired.py), fresh processes.

    python bench/bench_core.py [--quick]
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from paired import HEADER, ROOT, command, machine, paired, table  # noqa: E402

ARCHC = [sys.executable, "-m", "archc"]


def main() -> None:
    quick = "--quick" in sys.argv
    pairs = 2 if quick else 5
    specs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.yaml") if not p.name.startswith("_"))
    torch = command([sys.executable, "-c", "import torch"])
    print(f"Machine: {machine()}")
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for label, args in (
                ("python startup (`python -c pass`)", [sys.executable, "-c", "pass"]),
                (f"`archc validate` ({len(specs)} bundled specs)", ARCHC + ["validate", *specs]),
                ("`archc build resnet152 --no-diagram`", ARCHC + ["build", "specs/resnet152.yaml", "-o", out,
                                                                 "--no-diagram"]),
                ("`archc build resnet152` (with the stage SVG)", ARCHC + ["build", "specs/resnet152.yaml", "-o", out]),
        ):
            rows.append(paired(label, command(args), "`import torch`", torch, pairs).row())
    print("\n" + table(HEADER, rows))
    check = subprocess.run([sys.executable, "-c", "import sys; from archc.cli import main\n"
                            "try: main(['validate', 'specs/resnet152.yaml'])\nexcept SystemExit: pass\n"
                            "print('torch' in sys.modules)"], cwd=ROOT, capture_output=True, text=True)
    print(f"\ntorch imported by `archc validate`: {check.stdout.strip().splitlines()[-1]}")


if __name__ == "__main__":
    main()
