"""Hostile text in Markdown outputs (report.md, index.md, compare) renders as text (issue 10, item 4)."""
import html
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from archc.cli import main
from archc.mdtext import md_code, md_text, md_url, one_line

HOSTILE_TITLE = "T <script>alert(1)</script> [x](javascript:alert(1))"
HOSTILE_REF = "a reference\n## heading\n\n- item | cell | ![img](http://x/y.png) `code` *em* _u_ ~~s~~ $m$ &lt; \\"


def unescape(md: str) -> str:
    """What a CommonMark renderer shows for text made by md_text (backslash escapes, then entities)."""
    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", md))


def active_markup(md: str) -> list[str]:
    """Markup left active in Markdown text: raw HTML, links/images, code spans, emphasis, line breaks."""
    bare = re.sub(r"\\[!-/:-@\[-`{-~]", "", md)  # drop what is escaped
    found = [c for c in "<[]`*~$|" if c in bare]
    if re.search(r"(^|[^\w])_|_($|[^\w])", bare):
        found.append("_")
    if "\n" in md or "\r" in md:
        found.append("newline")
    if re.match(r"\s*(#|[-+=>]|\d+[.)])", md):  # an escaped first character starts no block
        found.append("block start")
    return found


@pytest.mark.parametrize("text", [HOSTILE_TITLE, HOSTILE_REF, "# h", "- x", "1. x", "2) x", "> q", "===", "+ x",
                                  "a\u2028## b", "a\x85b", "x\x01y", "_lead", "trail_", "snake_case_name",
                                  "&amp; &#60;script&#62;", "![i](j)", "<https://evil>", "a  \nb"])
def test_md_text_is_inert_and_shows_the_same_characters(text):
    out = md_text(text)
    assert active_markup(out) == [], out
    assert unescape(out) == one_line(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_md_text_property(text):
    out = md_text(text)
    assert active_markup(out) == []
    assert unescape(out) == one_line(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_md_code_holds_exactly_the_text(text):
    out = md_code(text)
    if not one_line(text):
        assert out == ""
        return
    run = re.match(r"`+", out).group(0)
    inner = out[len(run):-len(run)]
    assert out.endswith(run) and run not in inner.replace("`" * (len(run) + 1), "")
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip(" "):
        inner = inner[1:-1]  # CommonMark strips one space each side
    assert inner == one_line(text)


def test_md_url_cannot_leave_the_destination():
    for bad in ("javascript:alert(1)", "a b)c<d>", "x\n## y"):
        out = md_url(bad)
        assert not re.search(r"[\s()<>:]", out), out
    assert md_url("../figures/googlenet_stage.svg") == "../figures/googlenet_stage.svg"


def _hostile_spec(tmp_path: Path, name: str = "hostile") -> Path:
    spec = {"name": name, "title": HOSTILE_TITLE, "references": [HOSTILE_REF, "[x](javascript:alert(1))"],
            "input": {"size": 16}, "classes": 3,
            "stages": [{"residual": {"block": "basic", "width": 4}}]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _markdown_is_inert(md: str) -> None:
    assert "<script" not in md
    assert not re.search(r"(?<!\\)\]\(javascript", md)  # no link: its bracket is escaped
    headings = [line for line in md.splitlines() if line.startswith("#")]
    assert all("heading" not in h for h in headings), headings  # the reference did not start a heading


def test_report_md_is_inert(tmp_path):
    spec = _hostile_spec(tmp_path)
    result = CliRunner().invoke(main, ["analyze", str(spec), "-o", str(tmp_path / "out"), "--no-fvcore",
                                       "--no-init", "-j", "1"])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "out" / "hostile" / "report.md").read_text()
    _markdown_is_inert(md)
    assert md.startswith("# T &lt;script&gt;alert(1)&lt;/script&gt; \\[x\\](javascript:alert(1)): analysis\n")


def test_compare_output_is_inert(tmp_path):
    a, b = _hostile_spec(tmp_path, "a"), _hostile_spec(tmp_path, "b")
    result = CliRunner().invoke(main, ["compare", str(a), str(b)])
    assert result.exit_code == 0, result.output
    _markdown_is_inert(result.output)
    assert result.output.splitlines()[0].count("&lt;script&gt;") == 2


def test_index_is_inert():
    from archc.analysis.markdown import render_index

    row = {"name": "n", "title": HOSTILE_TITLE + "\n## heading | x", "dir": "a b)/(c", "input": [3, 8, 8],
           "params": 1, "params_with_aux": 1, "aux_heads": 0, "macs": 1, "depth": 1, "blocks": 0, "paths": 1,
           "paths_log2": 0.0, "fvcore_equal": None}
    md = render_index([row])
    _markdown_is_inert(md)
    table_line = md.splitlines()[-1]
    assert len(re.findall(r"(?<!\\)\|", table_line)) == 12  # eleven cells: no pipe from the text splits one
    assert "(a%20b%29/%28c/report.md)" in table_line
