"""archc.render.fold: a tall drawing dealt into side-by-side columns (`archc diagram --columns N`)."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

import archc
from archc.cli import main
from archc.render import dot_source
from archc.render.fold import split_points


def test_parts_are_dealt_into_columns_of_near_equal_height():
    assert split_points([8, 3, 1, 6, 1, 3, 5], 3) == [1, 4]  # GoogLeNet: stem | 3, pool, 4 | pool, 5, head
    assert split_points([1, 1, 1, 1], 2) == [2]
    assert split_points([5, 1], 4) == [1]  # never more columns than parts
    assert split_points([1, 1, 1], 3) == [1, 2]  # every column gets a part


def test_googlenet_in_three_columns_continues_each_column_from_a_dashed_copy():
    source = dot_source(archc.lower("specs/googlenet.yaml"), "stage", columns=3)
    ghosts = re.findall(r'"([^"]+~column\d)"', source)
    assert sorted(set(ghosts)) == ["inception4.inception4e~column3", "stem.maxpool2~column2"]
    assert "from stem" in source and "from inception4" in source
    tops = re.search(r"\{\s*rank=same\s*([^}]*)\}", source)
    assert tops and "input" in tops.group(1) and all(g in tops.group(1) for g in set(ghosts))
    assert "newrank=true" in source
    unfolded = dot_source(archc.lower("specs/googlenet.yaml"), "stage")
    assert "~column" not in unfolded and source.count(" -> ") == unfolded.count(" -> ") + 2  # 2 invisible edges


def test_columns_refused_with_a_focus_and_out_of_range():
    model = archc.lower("specs/googlenet.yaml")
    with pytest.raises(ValueError, match="not with a focus"):
        dot_source(model, "layer", focus="inception3a", columns=2)
    with pytest.raises(ValueError, match="from 1 to 8"):
        dot_source(model, "stage", columns=9)
    result = CliRunner().invoke(main, ["diagram", "googlenet", "--columns", "0", "-f", "dot", "-o", "/tmp/x.dot"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_the_cli_writes_a_folded_drawing(tmp_path):
    out = tmp_path / "g.dot"
    result = CliRunner().invoke(main, ["diagram", "googlenet", "--columns", "2", "-f", "dot", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "~column2" in out.read_text()
