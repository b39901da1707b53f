"""`archc serve`: how long from an edit in the editor to its diagram on screen, in headless Chromium.

    python bench/bench_serve.py [--repeats 5]

Starts the playground on 127.0.0.1 (a free port), opens it in Debian's chromium through Playwright,
and for each case types an edit into the editor and waits until the new diagram is in the page. Two
numbers per case (medians): the whole edit -> diagram time the user sees (which includes the page's
300 ms debounce), and the server's part (the POST /api/analyze round trip, as the page measures it).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "serve")]

from conftest import chromium_path, start_server, stop_server  # noqa: E402

from archc.serve.app import ServeConfig  # noqa: E402
from archc.serve.jobs import gallery_text  # noqa: E402

CASES = [  # label, gallery entry, --set, level
    ("resnet50, stage level", "resnet50", "", "stage"),
    ("resnet50, block level", "resnet50", "", "block"),
    ("1,202-layer CIFAR ResNet (resnet110 --set vars.n=200), stage level", "cifar/resnet110", "vars.n=200", "stage"),
    ("1,202-layer CIFAR ResNet, block level (3,000+ nodes)", "cifar/resnet110", "vars.n=200", "block"),
]


def edit_until_shown(page, text: str) -> tuple[float, float]:
    before = int(page.evaluate("document.body.dataset.shown || '0'"))
    page.click("#editor .CodeMirror-code")
    page.keyboard.press("Control+A")
    started = time.perf_counter()
    page.keyboard.insert_text(text)
    page.wait_for_function(f"Number(document.body.dataset.shown || 0) > {before}", timeout=120_000)
    total = time.perf_counter() - started
    status = page.inner_text("#status")  # "ok · name · 0.42 s": the page's own timing of the request
    return total, float(status.rsplit("·", 1)[1].strip().rstrip("s"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    live = start_server(ServeConfig(workers=2, time_limit=120.0))
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True).new_page()
            page.goto(live.url + "/")
            page.wait_for_selector("#canvas svg", timeout=60_000)
            for label, name, overrides, level in CASES:
                page.fill("#overrides", overrides)
                page.click(f"button.level[data-level='{level}']")
                page.wait_for_timeout(300)
                base = gallery_text(name) or ""
                page.select_option("#gallery", name)
                page.wait_for_timeout(200)
                totals, server = [], []
                for i in range(args.repeats + 1):  # the first edit warms the worker up; not counted
                    text = base.replace("archc: 1", f"archc: 1\n# edit {i}", 1)
                    total, request = edit_until_shown(page, text)
                    if i:
                        totals.append(total)
                        server.append(request)
                rows.append((label, statistics.median(totals), statistics.median(server), max(totals)))
            browser.close()
    finally:
        stop_server(live)
    print(f"machine: {platform.machine()}, {platform.python_version()}, {Path('/proc/cpuinfo').read_text().count('processor')} cores")
    print("| case | edit -> diagram shown, median s | after the 300 ms debounce (request + drawing), median s | slowest s |")
    print("|---|---:|---:|---:|")
    for label, total, request, worst in rows:
        print(f"| {label} | {total:.2f} | {request:.2f} | {worst:.2f} |")


if __name__ == "__main__":
    main()
