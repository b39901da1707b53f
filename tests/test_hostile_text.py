"""Text that breaks Graphviz or XML (issue 10, item 5): refused at validation, located, or cut and
escaped by the renderers, so `dot` succeeds and every SVG archc writes is well-formed XML."""
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

import archc
from archc.cli import main
from archc.errors import SpecError
from archc.text import LABEL_MAX_CHARS, TITLE_MAX_CHARS, clean_text

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
# every C0 control but tab/newline/CR, DEL, some C1 controls, a non-character
BAD_CHARS = [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"] + ["\x7f", "\x80", "\x9f", "\uffff"]  # (YAML reads
# U+0085 as a line break)
WORST = '&"<>\'' * (TITLE_MAX_CHARS // 5)  # the longest title, every character escaped to an entity


def spec_text(**fields) -> str:
    spec = {"name": "t", "input": {"size": 16}, "classes": 3, "stages": [{"residual": {"block": "basic", "width": 4}}]}
    spec.update(fields)
    return yaml.safe_dump(spec, allow_unicode=True)


@pytest.mark.parametrize("char", BAD_CHARS, ids=[f"U+{ord(c):04X}" for c in BAD_CHARS])
def test_control_characters_in_free_text_are_refused_located(char):
    for field, value, where in (("title", f"A{char}B", "title"), ("description", f"d{char}", "description"),
                                ("references", ["ok", f"r{char}"], "references[1]")):
        with pytest.raises(SpecError) as info:
            archc.loads(spec_text(**{field: value}))
        message = info.value.format()
        assert f"{where}: control character" in message and ":1:" not in message.split(where)[0][-4:], message
        assert info.value.loc is not None and info.value.loc.line > 0


def test_control_character_through_set_is_refused(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(spec_text())
    result = CliRunner().invoke(main, ["validate", str(path), "--set", 'title="A\\x01B"'])
    assert result.exit_code == 2 and "title: control character '\\x01'" in result.output


def test_too_long_text_is_refused_located():
    with pytest.raises(SpecError, match=r"title: text of 1,001 characters is too long"):
        archc.loads(spec_text(title="x" * (TITLE_MAX_CHARS + 1)))
    with pytest.raises(SpecError, match=r"references\[0\]: text of"):
        archc.loads(spec_text(references=["x" * (TITLE_MAX_CHARS + 1)]))
    archc.loads(spec_text(title=WORST, description="d" * 20_000))  # the limits themselves are fine


def test_tab_newline_and_unicode_are_text():
    spec = archc.loads(spec_text(title="a\tb\nc \u2028 ü 网络 🙂", references=["line one\nline two"]))
    assert spec.title.startswith("a\tb\nc")


def test_clean_text_is_printable_and_bounded():
    assert clean_text("a\x01b\nc\u2028d") == "a\ufffdb c d"
    cut = clean_text("x" * 50_000)
    assert len(cut) == LABEL_MAX_CHARS and cut.endswith("…")


def _svgs_parse(folder: Path) -> int:
    count = 0
    for svg in sorted(folder.rglob("*.svg")):
        ET.parse(svg)  # raises on anything that is not well-formed XML
        count += 1
    return count


@needs_dot
@pytest.mark.parametrize("level", ["stage", "block", "layer"])
def test_longest_worst_title_and_huge_names_still_render(level):
    from archc.render import dot_source, render_source

    long_name = "n" * 20_000  # names have no length limit of their own: the renderer cuts them
    spec = {"name": "t", "title": WORST[:-3] + "\n\t\u2028", "input": {"size": 16}, "classes": 3,
            "stages": [{"residual": {"name": long_name, "block": "basic", "width": 4}},
                       {"conv": {"name": "c" * 20_000, "out": 4}}]}
    ir = archc.lower(archc.loads(yaml.safe_dump(spec)))
    svg = render_source(dot_source(ir, level), "svg")
    ET.fromstring(svg)


@needs_dot
def test_analyze_and_build_write_well_formed_svg(tmp_path):
    hostile = (WORST[: TITLE_MAX_CHARS - 40] + "\t\n\u2028 ü 网络 🙂 ]]> <!-- --> &#0;")[:TITLE_MAX_CHARS]
    path = tmp_path / "hostile.yaml"
    path.write_text(spec_text(title=hostile, references=["<svg onload=alert(1)>", "]]>"]))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["analyze", str(path), "-o", str(out), "--init", "--no-fvcore", "-j", "1"])
    assert result.exit_code == 0, result.output
    assert _svgs_parse(out) >= 4  # cost, paths, savings, init
    result = CliRunner().invoke(main, ["build", str(path), "-o", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert _svgs_parse(tmp_path / "b") == 1


@needs_dot
def test_dot_refuses_what_archc_now_prevents():
    """The kind is real: an HTML label over 16,384 characters or a control character breaks dot/XML."""
    too_long = subprocess.run(["dot", "-Tsvg"], input=f"digraph {{ a [label=<{'A' * 17_000}>] }}",
                              capture_output=True, text=True, timeout=60)
    assert too_long.returncode != 0
    control = subprocess.run(["dot", "-Tsvg"], input='digraph { a [label="A\x01B"] }',
                             capture_output=True, text=True, timeout=60)
    with pytest.raises(ET.ParseError):
        ET.fromstring(control.stdout)
