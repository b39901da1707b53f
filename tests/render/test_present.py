"""Presentation controls of `archc diagram` (issue 15): title, caption, generic labels, font scale,
fit-to, legend line samples drawn like their edges."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from archc.cli import main
from archc.render import dot_source
from archc.render.present import FITS, line_sample, scale_text

from render_helpers import PAD_NET, lower_text, nodes

BLOCK = """
name: block
input: {channels: 64, size: 56}
defaults: {norm: none}
stages:
  - residual: {block: basic, width: 64, blocks: 1}
"""


def test_generic_labels_say_weight_layer():
    model = lower_text(BLOCK)
    plain = dot_source(model, "layer", focus="stage1.block1")
    generic = dot_source(model, "layer", focus="stage1.block1", generic_labels=True)
    assert "3x3 conv, 64" in plain and "weight layer" not in plain
    labels = nodes(generic)
    assert "3x3 conv" not in generic
    assert sum("weight layer" in a for a in labels.values()) == 2  # x -> weight layer -> relu -> weight layer
    assert "relu" in labels["stage1.block1.conv1.act"]


def test_generic_labels_at_block_and_stage_level():
    model = lower_text(PAD_NET)
    for level in ("block", "stage"):
        src = dot_source(model, level, generic_labels=True)
        assert "weight layer" in src and "3x3 conv" not in src, level


def test_title_and_caption():
    src = dot_source(lower_text(BLOCK), "block", title="My block", caption="Figure 2: a residual block")
    assert "<B>My block</B>" in src and "params" not in src.split("My block")[1].split(">")[0]
    cap = nodes(src)["caption"]
    assert "Figure 2: a residual block" in cap and "plaintext" in cap
    assert re.search(r"legend -> caption \[style=invis\]", src)  # the caption sits under the legend
    assert "caption" not in nodes(dot_source(lower_text(BLOCK), "block"))


def test_font_scale_scales_every_font():
    model = lower_text(PAD_NET)
    base, big = dot_source(model, "block"), dot_source(model, "block", font_scale=2)
    sizes = lambda s: sorted(float(v) for v in re.findall(r'(?:fontsize|POINT-SIZE)="?(\d+(?:\.\d+)?)', s))  # noqa
    assert sizes(big) == [2 * v for v in sizes(base)] and sizes(base)
    assert 'width=0.6' in scale_text('n [fixedsize=true width=0.3 fontsize=8]', 2)


def test_font_scale_and_fit_are_checked():
    model = lower_text(BLOCK)
    with pytest.raises(ValueError, match="font scale"):
        dot_source(model, font_scale=10)
    with pytest.raises(ValueError, match="unknown fit"):
        dot_source(model, fit="poster")


@pytest.mark.parametrize("fit", list(FITS))
def test_fit_sets_the_page_size(fit):
    w, h = FITS[fit]
    src = dot_source(lower_text(BLOCK), fit=fit)
    assert f'size="{w:g},{h:g}!"' in src


def test_legend_samples_look_like_their_edges():
    solid, dashed, dotted = (line_sample("#b35a00", p) for p in ("solid", "dashed", "dotted"))
    assert solid.count("BGCOLOR") == 1 and "–" not in solid and "—" not in solid  # one unbroken bar
    assert dashed.count("BGCOLOR") >= 3 and dotted.count("BGCOLOR") > dashed.count("BGCOLOR")
    legend = nodes(dot_source(lower_text(PAD_NET), "block"))["legend"]
    assert "—" not in legend and "– –" not in legend and "· ·" not in legend  # no characters posing as lines
    legend = nodes(dot_source(lower_text(BLOCK), "block"))["legend"]
    identity = legend.split("identity shortcut")[0].rsplit("<TD VALIGN", 1)[1]
    assert identity.count('BGCOLOR="#b35a00"') == 1


def test_cli_controls(tmp_path):
    spec = tmp_path / "block.yaml"
    spec.write_text(BLOCK)
    out = tmp_path / "b.dot"
    result = CliRunner().invoke(main, ["diagram", str(spec), "--level", "layer", "--title", "T", "--caption", "C",
                                       "--generic-labels", "--font-scale", "1.5", "--fit", "slide", "-o", str(out)])
    assert result.exit_code == 0, result.output
    src = out.read_text()
    assert "weight layer" in src and "<B>T</B>" in src and "<I>C</I>" in src and 'size="13.33,7.5!"' in src
    bad = CliRunner().invoke(main, ["diagram", str(spec), "--font-scale", "9", "-o", str(out)])
    assert bad.exit_code == 2 and "font scale" in bad.output


def test_focus_on_an_aux_head_keeps_its_marks():
    from render_helpers import INCEPTION_AUX

    src = dot_source(lower_text(INCEPTION_AUX), focus="aux1")
    assert "training only" in nodes(src)["output"] and "aux loss × 0.3" in nodes(src)["output"]
    assert re.search(r'subgraph cluster_aux1 \{[^}]*label="aux1: auxiliary classifier on inception3a · training only"',
                     src)
    assert "loss × 0.3 · training only" in src.split("label=<<B>")[1].split("\n")[0]
    assert "auxiliary classifier (training only)" in nodes(src)["legend"]
