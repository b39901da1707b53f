"""User text reaches the drawing literally (no Graphviz escapes), long captions wrap, --fit pages are exact,
and `archc figures -f dot` says which figures are charts without DOT source."""
from __future__ import annotations

import re

from click.testing import CliRunner

import archc
from archc.cli import main
from archc.render import dot_source
from archc.render.present import fit_attrs, wrapped


def test_backslash_escapes_are_shown_not_expanded():
    source = dot_source(archc.lower("specs/resnet18.yaml"), "stage", title=r"a \G b", caption=r"\N and \\")
    assert r"a \\G b" in source  # Graphviz turns a doubled backslash into one: the title reads a \G b
    assert r"\\N and \\\\" in source


def test_captions_keep_line_breaks_and_wrap_long_lines():
    assert wrapped("one\ntwo") == "one<BR/>two"
    long = wrapped("word " * 60)
    assert long.count("<BR/>") == 3 and all(len(line) <= 80 for line in long.split("<BR/>"))
    assert wrapped("<b>&") == "&lt;b&gt;&amp;"


def test_a_slide_page_has_no_margin_and_an_a4_page_keeps_its_half_inch():
    assert fit_attrs("slide") == {"size": "13.33,7.5!", "ratio": "auto", "margin": "0"}
    assert fit_attrs("a4")["margin"] == "0.5" and fit_attrs(None) == {}


def test_figures_as_dot_skip_charts_by_name_and_refuse_when_only_charts(tmp_path):
    runner = CliRunner()
    only_charts = runner.invoke(main, ["figures", "--only", "he_init", "-f", "dot", "-o", str(tmp_path / "a")])
    assert only_charts.exit_code == 2 and "have no DOT source" in only_charts.output
    assert not (tmp_path / "a").exists()
    mixed = runner.invoke(main, ["figures", "--only", "he_init", "--only", "googlenet_stage", "-f", "dot",
                                 "-o", str(tmp_path / "b")])
    assert mixed.exit_code == 0, mixed.output
    assert re.search(r"he_init: not drawn: a chart", mixed.output)
    assert sorted(p.name for p in (tmp_path / "b").iterdir() if not p.name.startswith(".")) == ["googlenet_stage.dot"]
