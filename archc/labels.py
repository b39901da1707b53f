"""Label fragments that say what a layer does to the spatial axes: its stride and dilation.

Used by the op registry's `label` rules (archc.ops) so that every output (diagrams, summaries,
the generated source's comments) names a layer the same way:

    stride 2      -> ", /2"              (both axes halved, the usual case)
    stride [1, 2] -> ", stride 1x2"      (per axis, height first, when the axes differ)
    dilation 2    -> ", dilation 2"      (a dilated 3x3 conv no longer looks like a plain one)
"""
from __future__ import annotations

from typing import Sequence, Union

IntPair = Union[int, Sequence[int]]


def _pair(value: IntPair) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    h, w = tuple(value)
    return int(h), int(w)


def stride_text(stride: IntPair) -> str:
    """", /2" for an equal stride, ", stride 1x2" when the axes differ, "" for stride 1."""
    sh, sw = _pair(stride)
    if sh == sw:
        return f", /{sh}" if sh != 1 else ""
    return f", stride {sh}x{sw}"


def dilation_text(dilation: IntPair) -> str:
    """", dilation 2" (", dilation 1x2" per axis), "" for no dilation."""
    dh, dw = _pair(dilation)
    if dh == dw:
        return f", dilation {dh}" if dh != 1 else ""
    return f", dilation {dh}x{dw}"
