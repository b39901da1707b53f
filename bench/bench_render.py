"""Diagram speed, as A/B pairs run back to back in alternating order (bench/paired.py):

* `archc diagram` of a 1,202-layer CIFAR ResNet at layer level, end to end (fresh processes): the large
  layout (the default above 1,500 ops: no clusters, `nslimit=0`) against `--no-large` (clusters, dot's
  default layout), with how straight each comes out (distinct x positions of the conv/BN/add nodes);
* the same two layouts in process (archc's DOT text, then `dot -Tsvg`) for ResNet-152 at block and layer level.

    python bench/bench_render.py [--quick]
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from paired import HEADER, ROOT, command, in_process, machine, paired, table  # noqa: E402

PY = sys.executable


def straightness(source: str) -> tuple[int, float]:
    """(distinct x positions of conv, BN and add nodes, drawing height in inches) from `dot -Tplain`."""
    plain = subprocess.run(["dot", "-Tplain"], input=source, capture_output=True, text=True, check=True).stdout
    xs = {round(float(line.split()[2]), 2) for line in plain.splitlines() if line.startswith("node ")
          and any(k in line.split()[1] for k in ("conv", ".bn", ".add"))}
    return len(xs), float(plain.splitlines()[0].split()[3])


def main() -> None:
    import archc
    from archc.render import dot_source, render_source
    from archc.render.tool import dot_version

    quick = "--quick" in sys.argv
    print(f"Machine: {machine()}; {dot_version()}")
    deep = archc.lower(archc.load(ROOT / "specs/cifar/resnet110.yaml", ["vars.n=200"]))
    rows, shape_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        base = [PY, "-m", "archc", "diagram", "cifar/resnet110", "--set", "vars.n=200", "--level", "layer", "-o"]
        p = paired("`archc diagram` ResNet-1202 layer level (large layout)", command(base + [f"{tmp}/a"]),
                   "the same with `--no-large` (clusters, dot's default layout)",
                   command(base + [f"{tmp}/b", "--no-large"]), 1 if quick else 3, warmup=False)
        rows.append(p.row())
    for large in (True, False):
        n, h = straightness(dot_source(deep, "layer", large=large))
        shape_rows.append(["ResNet-1202", "layer", "large" if large else "clusters", str(n), f"{h:,.0f}"])
    r152 = archc.lower(ROOT / "specs/resnet152.yaml")
    for level in ("block", "layer"):
        def draw(large: bool, level: str = level) -> bytes:
            return render_source(dot_source(r152, level, large=large), "svg")
        p = paired(f"ResNet-152 {level} level, large layout (DOT + dot -Tsvg)", in_process(lambda: draw(True)),
                   "default layout (clusters)", in_process(lambda: draw(False)), 2 if quick else 5)
        rows.append(p.row()[:6] + ["", ""])
        for large in (True, False):
            n, h = straightness(dot_source(r152, level, large=large))
            shape_rows.append(["ResNet-152", level, "large" if large else "clusters", str(n), f"{h:,.0f}"])
    print("\n### Layouts: time\n")
    print(table(HEADER, rows))
    print("\n### Layouts: straightness (1 = every conv, BN and add on one column)\n")
    print(table(["net", "level", "layout", "distinct x of conv/BN/add nodes", "height (in)"], shape_rows))


if __name__ == "__main__":
    main()
