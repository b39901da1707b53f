"""The playground in a real browser: headless Debian Chromium driven by Playwright (see conftest.py).

Type a spec, wait for the diagram, check the cost table against archc's own analysis, introduce an
error and find it at its line, paste hostile specs, click to expand, compare, and keep screenshots
(build/serve-screenshots/) to look at."""
from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.analysis.complexity import complexity
from archc.serve import jobs
from serve_helpers import CORPUS, EXPECTED, check_located, corpus_text

SHOTS = Path(__file__).resolve().parents[2] / "build" / "serve-screenshots"
HOSTILE = ["alias_bomb.yaml", "billion_blocks.yaml", "activations_too_large.yaml", "padding_huge.yaml",
           "expression_huge_power.yaml", "huge_channels.yaml", "classes_huge.yaml", "residual_mismatch.yaml"]


def shown(page) -> int:
    return int(page.evaluate("document.body.dataset.shown || '0'"))


def type_spec(page, text: str) -> None:
    """Replace the editor's text the way a user pasting it would (keyboard events into CodeMirror)."""
    page.click("#editor .CodeMirror-code")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)


def wait_for_new_diagram(page, before: int) -> None:
    page.wait_for_function(f"Number(document.body.dataset.shown || 0) > {before}", timeout=20_000)


def wait_for_error(page) -> dict:
    page.wait_for_selector("#error:not([hidden])", timeout=20_000)
    page.wait_for_function("document.getElementById('status').classList.contains('bad')", timeout=20_000)
    return {"message": page.evaluate("document.getElementById('error').lastChild.textContent"),
        "line": int(page.get_attribute("#error", "data-line")), "col": int(page.get_attribute("#error", "data-col"))}


def cost_rows(page) -> list[list[str]]:
    return page.evaluate("[...document.querySelectorAll('#cost-table tbody tr')].map(r => [...r.cells].map(c => c.textContent))")


def test_type_a_spec_see_its_diagram_and_costs(page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    text = jobs.gallery_text("resnet50").replace("classes: 1000", "classes: 10")
    before = shown(page)
    type_spec(page, text)
    wait_for_new_diagram(page, before)
    assert page.locator("#canvas svg g.node#stage3").count() == 1
    expected = complexity(archc.lower(archc.loads(text)))
    rows = cost_rows(page)
    for row, stage in zip(rows, expected["stages"]):
        assert row[0] == stage["name"]
        assert int(row[4].replace(",", "")) == stage["params"] and int(row[5].replace(",", "")) == stage["macs"]
    assert int(rows[-1][4].replace(",", "")) == expected["total"]["params"] == 23_528_522
    assert "65,536 input→output paths" in page.inner_text("#paths")
    assert page.locator("#histogram-svg rect.bar").count() == 17  # 0..16 blocks
    page.screenshot(path=str(SHOTS / "valid.png"))

    # an error on line 19: shown there, with archc's message, and the line marked in the editor
    bad = text.replace("width: 128, blocks: 4", "width: 128, blocks: -4")
    with pytest.raises(archc.SpecError) as archc_says:
        archc.lower(archc.loads(bad, name="spec.yaml"))
    type_spec(page, bad)
    error = wait_for_error(page)
    assert (error["line"], error["col"]) == (archc_says.value.loc.line, archc_says.value.loc.col) == (19, 55)
    assert error["message"] == archc_says.value.format()
    assert error["message"].startswith("spec.yaml:19:55: stages[1].residual.blocks:")
    assert page.locator(".CodeMirror-code > div:nth-child(19) .cm-error-line").count() == 1
    page.screenshot(path=str(SHOTS / "error.png"))
    before = shown(page)
    type_spec(page, text)
    wait_for_new_diagram(page, before)
    assert page.is_hidden("#error")
    assert not page.js_errors, page.js_errors


def test_hostile_specs_give_their_located_error_and_the_page_stays_live(page):
    for name in HOSTILE:
        type_spec(page, corpus_text(name))
        page.wait_for_function(f"document.getElementById('error').lastChild?.textContent.includes({EXPECTED[name]['says'][0]!r})",
                               timeout=20_000)
        check_located(name, wait_for_error(page))
    before = shown(page)
    type_spec(page, jobs.gallery_text("resnet18"))
    wait_for_new_diagram(page, before)
    assert (CORPUS / HOSTILE[0]).is_file()


def test_spec_text_is_never_markup(page):
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    title = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    text = (f'archc: 1\nname: xss  # <script>alert(3)</script>\ntitle: "{title}"\n'
            "stages:\n  - residual: {block: basic, width: 8, blocks: 1}\n")
    before = shown(page)
    type_spec(page, text)
    wait_for_new_diagram(page, before)
    assert page.inner_text("#totals").startswith(title)
    assert page.evaluate("document.querySelectorAll('script').length") == 4  # the page's own
    assert page.evaluate("document.querySelectorAll('img').length") == 0
    page.wait_for_timeout(200)
    assert dialogs == []


def test_click_expands_a_stage_and_the_breadcrumb_collapses_it(page):
    before = shown(page)
    page.click("#canvas svg g.node#stage2")
    wait_for_new_diagram(page, before)
    assert page.locator("#canvas svg g.node[id='stage2.block1.conv1']").count() == 1
    assert "stage2" in page.inner_text("#crumbs")
    before = shown(page)
    page.click("#canvas svg g.node[id='stage2.block2.conv2']")
    wait_for_new_diagram(page, before)
    assert page.locator("#canvas svg g.node[id='stage2.block2.conv2.bn']").count() == 1  # layer level
    before = shown(page)
    page.click("#crumbs a[data-focus='']")
    wait_for_new_diagram(page, before)
    assert page.locator("#canvas svg g.node#stage2").count() == 1


def test_compare_pane_and_a_download(page):
    with page.expect_download() as info:
        page.click("#dl-svg")
    assert info.value.suggested_filename == "resnet50.svg"
    page.click("#tab-compare")
    page.wait_for_function("document.querySelectorAll('#cmp-totals tr').length > 3", timeout=20_000)
    assert page.is_visible("#cmp-totals") and page.is_hidden("#diagram")
    totals = page.evaluate("[...document.querySelectorAll('#cmp-totals tr')].map(r => [...r.cells].map(c => c.textContent))")
    params = next(r for r in totals if r[0] == "params")
    assert params[1:] == [f"{archc.lower(archc.load(n)).cost.params:,}" for n in ("plain34", "resnet34")]
