"""Labels that say what a layer does: per-axis strides, dilation (issue 15)."""
from __future__ import annotations

import pytest

from archc.labels import dilation_text, stride_text
from archc.render import dot_source

from render_helpers import lower_text, nodes

AXES = """
name: axes
input: {channels: 3, size: 32}
classes: 10
stages:
  - conv: {out: 16, kernel: 3, stride: [1, 2]}
  - maxpool: {kernel: 2, stride: [2, 1]}
  - conv: {out: 16, kernel: 3, dilation: 2}
  - conv: {out: 16, kernel: 3, stride: 2, dilation: [1, 2]}
  - maxpool: {kernel: 2}
"""


@pytest.mark.parametrize(("value", "text"), [(1, ""), (2, ", /2"), ((2, 2), ", /2"), ((1, 2), ", stride 1x2"),
                                             ([2, 1], ", stride 2x1")])
def test_stride_text(value, text):
    assert stride_text(value) == text


@pytest.mark.parametrize(("value", "text"), [(1, ""), (2, ", dilation 2"), ((1, 2), ", dilation 1x2")])
def test_dilation_text(value, text):
    assert dilation_text(value) == text


def test_layer_labels_name_stride_per_axis_and_dilation():
    model = lower_text(AXES)
    labels = [op.label for op in model.body.ops() if op.op.category in ("conv", "pool")]
    assert labels[:5] == ["3x3 conv, 16, stride 1x2", "2x2 maxpool, stride 2x1", "3x3 conv, 16, dilation 2",
                          "3x3 conv, 16, /2, dilation 1x2", "2x2 maxpool, /2"]


@pytest.mark.parametrize("level", ["block", "layer"])
def test_diagram_shows_the_labels(level):
    src = dot_source(lower_text(AXES), level)
    text = " ".join(nodes(src).values())
    for part in ("3x3 conv, 16, stride 1x2", "2x2 maxpool, stride 2x1", "3x3 conv, 16, dilation 2"):
        assert part in text, part
    assert "maxpool, /2</" not in text.split("stride 2x1")[0]  # the [2, 1] pool is not called "/2"
