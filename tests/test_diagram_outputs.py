"""`archc diagram` writes through the output folders: never its own spec, never a file archc did not write."""
from __future__ import annotations

from click.testing import CliRunner

from archc.cli import main

SPEC = """archc: 1
name: tiny
input: {channels: 3, size: 16}
classes: 4
stem:
  - conv: {out: 8, kernel: 3}
stages:
  - residual: {block: basic, width: 8, blocks: 1}
head:
  - gap: {}
  - fc: {}
"""


def test_diagram_never_replaces_its_spec_or_a_users_file(tmp_path):
    spec = tmp_path / "tiny.dot"  # a spec whose name is the diagram's own output name
    spec.write_text(SPEC)
    r = CliRunner().invoke(main, ["diagram", str(spec), "-f", "dot", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "never replaces its input" in r.output and spec.read_text() == SPEC
    mine = tmp_path / "out" / "tiny.dot"
    mine.parent.mkdir()
    mine.write_text("mine")
    r = CliRunner().invoke(main, ["diagram", str(spec), "-f", "dot", "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "archc did not write it" in r.output and mine.read_text() == "mine"
    mine.unlink()
    for _ in range(2):  # its own file: written, then replaced
        r = CliRunner().invoke(main, ["diagram", str(spec), "-f", "dot", "-o", str(tmp_path / "out")])
        assert r.exit_code == 0, r.output
    assert mine.read_text().startswith("digraph")
