"""Regenerate the screenshots in docs/serve/ (headless Chromium via Playwright, as the tests use it).

    python bench/serve_screenshots.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "serve")]

from conftest import chromium_path, start_server, stop_server  # noqa: E402

from archc.serve.app import ServeConfig  # noqa: E402
from archc.serve.jobs import gallery_text  # noqa: E402

OUT = ROOT / "docs" / "serve"


def wait_shown(page, before: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.shown || 0) > {before}", timeout=60_000)


def shown(page) -> int:
    return int(page.evaluate("document.body.dataset.shown || '0'"))


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    live = start_server(ServeConfig())
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
            page = browser.new_context(viewport={"width": 1400, "height": 1180}, bypass_csp=True).new_page()
            page.goto(live.url + "/")
            page.wait_for_selector("#canvas svg", timeout=60_000)
            before = shown(page)
            page.select_option("#gallery", "googlenet")
            wait_shown(page, before)
            page.screenshot(path=str(OUT / "valid.png"))
            text = gallery_text("googlenet") or ""
            page.click("#editor .CodeMirror-code")
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(text.replace("[64, 96, 128, 16, 32, 32]", "[64, 96, 128, 16, 32]", 1))
            page.wait_for_selector("#error:not([hidden])", timeout=60_000)
            page.wait_for_timeout(300)
            page.screenshot(path=str(OUT / "error.png"))
            before = shown(page)
            page.select_option("#gallery", "resnet50")
            wait_shown(page, before)
            before = shown(page)
            page.click("#canvas svg g.node#stage2")
            wait_shown(page, before)
            page.screenshot(path=str(OUT / "expanded.png"))
            page.click("#tab-compare")
            page.wait_for_function("document.querySelectorAll('#cmp-totals tr').length > 3", timeout=60_000)
            page.screenshot(path=str(OUT / "compare.png"))
            browser.close()
    finally:
        stop_server(live)
    print("wrote", ", ".join(str(p.relative_to(ROOT)) for p in sorted(OUT.glob("*.png"))))


if __name__ == "__main__":
    main()
