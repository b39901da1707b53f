"""Diagram speed for ResNet-152: IR -> DOT text (archc) and DOT -> SVG (Graphviz `dot`) at each level,
plus `archc diagram` end to end (a fresh process, what a user waits for) and `archc figures`.

Prints a table of median wall times; `dot` is the real Graphviz program on PATH.
"""
from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archc
from archc.render import dot_source, render_source
from archc.render.tool import dot_version

ROOT = Path(__file__).resolve().parent.parent


def median_time(fn, runs: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    model = archc.lower(ROOT / "specs" / "resnet152.yaml")
    print(f"ResNet-152: {sum(1 for _ in model.body.ops())} ops; {dot_version()}")
    print(f"{'level':<7} {'nodes':>6} {'DOT KiB':>8} {'to DOT s':>9} {'DOT->SVG s':>11} {'SVG KiB':>8} {'SVG size (in)':>15}")
    for level in ("stage", "block", "layer"):
        t_dot, source = median_time(lambda: dot_source(model, level), 5)
        t_svg, svg = median_time(lambda: render_source(source, "svg"), 3)
        nodes = len(re.findall(rb'class="node"', svg))
        w, h = (float(x) / 72 for x in re.search(rb'width="([\d.]+)pt" height="([\d.]+)pt"', svg).groups())
        print(f"{level:<7} {nodes:6d} {len(source) / 1024:8.1f} {t_dot:9.3f} {t_svg:11.3f} {len(svg) / 1024:8.1f} "
              f"{f'{w:.1f} x {h:.1f}':>15}")
    with tempfile.TemporaryDirectory() as out:
        for what, args in [
            ("archc diagram resnet152 (stage, svg), fresh process", ["diagram", "resnet152", "-o", out]),
            ("archc diagram resnet152 --level layer -f pdf", ["diagram", "resnet152", "--level", "layer", "-f", "pdf",
                                                              "-o", out]),
            ("archc figures (7 figures, svg + png)", ["figures", "-o", out]),
        ]:
            t, _ = median_time(lambda: subprocess.run([sys.executable, "-m", "archc", *args], cwd=ROOT, check=True,
                                                      stdout=subprocess.DEVNULL), 3)
            print(f"{what:<58} {t:7.2f} s")


if __name__ == "__main__":
    main()
