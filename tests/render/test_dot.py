"""Rendering with the real Graphviz `dot`, the `archc diagram` / `archc figures` commands, and what
happens when `dot` is missing (simulated by an empty PATH)."""
from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

import archc
from archc.cli import main
from archc.render import GraphvizMissing, dot_source, render_source, write_diagram

A4_PT = (595, 842)  # 210 x 297 mm in points


def svg_size_pt(svg: bytes) -> tuple[float, float]:
    root = ET.fromstring(svg)
    return float(root.get("width").removesuffix("pt")), float(root.get("height").removesuffix("pt"))


@pytest.fixture(scope="module")
def r152():
    return archc.lower("specs/resnet152.yaml")


@pytest.fixture
def no_dot(tmp_path, monkeypatch):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


def test_dot_is_installed():
    assert shutil.which("dot"), "the project's set-up (make install) installs Graphviz"


def test_resnet152_stage_level_fits_one_page(r152):
    svg = render_source(dot_source(r152, "stage"), "svg")
    width, height = svg_size_pt(svg)
    assert width <= A4_PT[0] and height <= A4_PT[1], f"{width} x {height} pt is larger than A4"
    assert svg.count(b"Bottleneck \xc3\x9736") == 1  # "Bottleneck ×36" (stage 3)


def test_resnet152_layer_level_renders_every_op(r152):
    svg = render_source(dot_source(r152, "layer"), "svg")
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    ids = {g.get("id") for g in root.iterfind(".//s:g[@class='node']", ns)}
    ops = {op.path for op in r152.body.ops()}
    assert ops <= ids
    assert len([i for i in ids if i.endswith(".add")]) == 50


def test_formats_and_deterministic_bytes(tmp_path):
    model = archc.lower("specs/resnet18.yaml")
    written = write_diagram(model, tmp_path, level="block", fmt="svg,pdf,png,dot", echo=lambda s: None)
    assert [p.name for p in written] == ["resnet18_block.svg", "resnet18_block.pdf", "resnet18_block.png",
                                         "resnet18_block.dot"]
    assert written[1].read_bytes().startswith(b"%PDF") and written[2].read_bytes().startswith(b"\x89PNG")
    first = {p.name: p.read_bytes() for p in written}
    again = write_diagram(model, tmp_path, level="block", fmt="svg,pdf,png,dot", echo=lambda s: None)
    assert {p.name: p.read_bytes() for p in again} == first
    assert not list(tmp_path.glob(".*.tmp")), "atomic writes leave no temporary files"


def test_missing_dot_writes_dot_source_and_says_how_to_install(tmp_path, no_dot):
    model = archc.lower("specs/resnet18.yaml")
    notes: list[str] = []
    written = write_diagram(model, tmp_path, fmt="svg", echo=notes.append)
    assert written == [tmp_path / "resnet18.dot"] and written[0].read_text().startswith("digraph resnet18 {")
    assert len(notes) == 1 and "apt-get install graphviz" in notes[0] and "resnet18.dot" in notes[0]
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        write_diagram(model, tmp_path, fmt="png", strict=True)


# ---------------------------------------------------------------- the commands


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_cli_diagram_default_and_options(tmp_path):
    r = run("diagram", "specs/resnet34.yaml", "-o", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "resnet34.svg").exists() and f"wrote {tmp_path / 'resnet34.svg'}" in r.output
    r = run("diagram", "resnet34", "--rankdir", "LR", "--annotate", "params,macs", "--level", "block",
            "-f", "dot", "-o", str(tmp_path))
    text = (tmp_path / "resnet34_block.dot").read_text()
    assert r.exit_code == 0 and "rankdir=LR" in text and "MACs" in text
    r = run("diagram", "specs/googlenet.yaml", "--focus", "inception3a", "-o", str(tmp_path / "g.png"))
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")


def test_cli_diagram_default_folder_and_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = Path(__file__).resolve().parents[2] / "specs" / "cifar" / "resnet20.yaml"
    r = run("diagram", str(spec), "--set", "vars.n=1", "-f", "dot")
    assert r.exit_code == 0, r.output
    text = (tmp_path / "build" / "resnet8" / "resnet8.dot").read_text()  # resnet${6n+2} with n = 1
    assert "Basic block ×1" in text and "Basic block ×3" not in text


@pytest.mark.parametrize("args, message", [
    (["--annotate", "flops"], "unknown annotation 'flops'"),
    (["--focus", "stage9"], "no node 'stage9' in resnet18"),
    (["-o", "x.gif"], "unknown file type '.gif'"),
    (["-f", "pdf", "-o", "x.svg"], "names a .svg file but --format is pdf"),
])
def test_cli_diagram_bad_input_is_one_line_exit_2(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["diagram", "resnet18", *args])
    assert r.exit_code == 2
    assert message in r.output and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1


def test_cli_diagram_without_dot(tmp_path, no_dot):
    r = CliRunner().invoke(main, ["diagram", "resnet18", "-o", str(tmp_path)])
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "apt-get install graphviz" in r.output and "resnet18.dot" in r.output
    assert (tmp_path / "resnet18.dot").exists() and not (tmp_path / "resnet18.svg").exists()
    r = CliRunner().invoke(main, ["diagram", "resnet18", "-f", "dot", "-o", str(tmp_path)])
    assert r.exit_code == 0, "the DOT source needs no Graphviz"


def test_build_without_dot_still_succeeds(tmp_path, no_dot):
    spec = Path(__file__).resolve().parents[2] / "specs" / "cifar" / "resnet20.yaml"
    r = CliRunner().invoke(main, ["build", str(spec), "-o", str(tmp_path), "--no-check"])
    assert r.exit_code == 0, r.output
    assert "note:" in r.output and "apt-get install graphviz" in r.output
    assert (tmp_path / "resnet20.dot").exists() and (tmp_path / "resnet20.py").exists()


def test_cli_figures_list_and_one(tmp_path):
    r = run("figures", "--list")
    assert r.exit_code == 0 and "unraveled_paths" in r.output and "vgg19_plain34_resnet34" in r.output
    r = run("figures", "-o", str(tmp_path), "--only", "unraveled_paths", "-f", "svg")
    assert r.exit_code == 0, r.output
    svg = (tmp_path / "unraveled_paths.svg").read_bytes()
    assert len(re.findall(rb'<g id="b/p\d\.f\d" class="node"', svg)) == 12  # 0+1+1+1+2+2+2+3 nodes
    r = CliRunner().invoke(main, ["figures", "--only", "nope", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "unknown figure 'nope'" in r.output


def test_cli_figures_without_dot_writes_dot_sources(tmp_path, no_dot):
    r = CliRunner().invoke(main, ["figures", "-o", str(tmp_path), "--only", "residual_shortcuts"])
    assert r.exit_code == 1 and "apt-get install graphviz" in r.output and "Traceback" not in r.output
    assert (tmp_path / "residual_shortcuts.dot").exists()


def test_png_too_large_for_a_bitmap_says_so(r152, tmp_path):
    notes: list[str] = []
    written = write_diagram(r152, tmp_path, level="layer", fmt="png", echo=notes.append)
    assert written[0].read_bytes().startswith(b"\x89PNG")
    assert any("too large for cairo-renderer bitmaps" in n and "SVG or PDF" in n for n in notes), notes
