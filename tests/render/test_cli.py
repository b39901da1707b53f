"""`archc diagram` writes through the output folders: never its own spec, never a file archc did not write."""
from __future__ import annotations

from click.testing import CliRunner

from archc.cli import main
from probe_helpers import TINY_RES as SPEC



def test_diagram_never_replaces_its_spec_or_a_users_file(tmp_path):
    spec = tmp_path / "tinyres.dot"  # a spec whose name is the diagram's own output name
    spec.write_text(SPEC)
    r = CliRunner().invoke(main, ["diagram", str(spec), "-f", "dot", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "never replaces its input" in r.output and spec.read_text() == SPEC
    mine = tmp_path / "out" / "tinyres.dot"
    mine.parent.mkdir()
    mine.write_text("mine")
    r = CliRunner().invoke(main, ["diagram", str(spec), "-f", "dot", "-o", str(tmp_path / "out")])
    assert r.exit_code == 2 and "archc did not write it" in r.output and mine.read_text() == "mine"
    mine.unlink()
    for _ in range(2):  # its own file: written, then replaced
        r = CliRunner().invoke(main, ["diagram", str(spec), "-f", "dot", "-o", str(tmp_path / "out")])
        assert r.exit_code == 0, r.output
    assert mine.read_text().startswith("digraph")
