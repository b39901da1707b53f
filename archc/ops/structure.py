"""Reshaping, regularisation and shortcut ops."""
from __future__ import annotations

import math

from pydantic import Field, PositiveInt

from archc.ops.base import (Cost, LayerParams, ModuleCall, NoParams, OpDef, Shape, ShapeError, need_map,
                               register)


@register
class Flatten(OpDef):
    """C x H x W -> C*H*W."""

    kind = "flatten"
    Params = NoParams
    category = "reshape"
    pass_through = True  # returns a view of its input
    example = {}

    def shape(self, p: LayerParams, x: Shape) -> Shape:
        return (math.prod(x),)

    def cost(self, p: LayerParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def module(self, p: LayerParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.Flatten", (1,))


class DropoutParams(LayerParams):
    p: float = Field(0.5, ge=0, le=1, description="drop probability")


@register
class Dropout(OpDef):
    """Dropout (training only)."""

    kind = "dropout"
    Params = DropoutParams
    category = "regularize"
    pass_through = True  # the identity in eval mode
    example = {"p": 0.2}

    def shape(self, p: DropoutParams, x: Shape) -> Shape:
        return x

    def cost(self, p: DropoutParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def module(self, p: DropoutParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.Dropout", (p.p,))

    def label(self, p: DropoutParams, x: Shape, y: Shape) -> str:
        return f"dropout {p.p:g}"


class PadShortcutParams(LayerParams):
    out: PositiveInt
    stride: PositiveInt = 1


@register
class PadShortcut(OpDef):
    """Option-A shortcut: subsample by the stride, append zero channels; no parameters."""

    kind = "pad_shortcut"
    Params = PadShortcutParams
    category = "shortcut"
    spec_layer = False
    example = {"out": 6, "stride": 2}

    def shape(self, p: PadShortcutParams, x: Shape) -> Shape:
        c, h, w = need_map(self.kind, x)
        if p.out < c:
            raise ShapeError("a zero-pad shortcut cannot reduce channels", "shortcut",
                             expected=f"out >= {c}", got=str(p.out))
        return (p.out, -(-h // p.stride), -(-w // p.stride))

    def cost(self, p: PadShortcutParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def module(self, p: PadShortcutParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("ZeroPadShortcut", (y[0] - x[0], p.stride))

    def label(self, p: PadShortcutParams, x: Shape, y: Shape) -> str:
        return f"zero-pad +{y[0] - x[0]}ch" + (f", /{p.stride}" if p.stride != 1 else "")  # channels added
