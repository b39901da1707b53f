"""Pooling ops: no parameters; archc counts their arithmetic as 0 MACs (conv and fc only)."""
from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import Field

from archc.labels import stride_text
from archc.ops.base import (Cost, IntPair, LayerParams, ModuleCall, NonNegPair, NoParams, OpDef, Shape, ShapeError,
                               need_map, pair, register, spatial_out)


class PoolParams(LayerParams):
    kernel: IntPair = 2
    stride: Optional[IntPair] = Field(None, description="default: the kernel size")
    padding: NonNegPair = 0
    ceil: bool = Field(False, description="ceil mode: keep a partial window at the border")


class _Pool(OpDef):
    category = "pool"
    torch_cls: ClassVar[str]

    def shape(self, p: PoolParams, x: Shape) -> Shape:
        c, h, w = need_map(self.kind, x)
        (kh, kw), (ph, pw) = pair(p.kernel), pair(p.padding)
        sh, sw = pair(p.stride if p.stride is not None else p.kernel)
        if ph * 2 > kh or pw * 2 > kw:
            raise ShapeError("padding must be at most half the kernel", "padding",
                             expected=f"<= {kh // 2}", got=str(ph))
        oh, ow = spatial_out(h, kh, sh, ph, ceil=p.ceil), spatial_out(w, kw, sw, pw, ceil=p.ceil)
        if oh < 1 or ow < 1:
            raise ShapeError(f"a {kh}x{kw} pool does not fit the {h}x{w} input", "kernel",
                             expected="an output of at least 1x1", got=f"{oh}x{ow}")
        return (c, oh, ow)

    def cost(self, p: PoolParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def kwargs(self, p: PoolParams) -> list[tuple[str, Any]]:
        kw: list[tuple[str, Any]] = [("stride", pair(p.stride if p.stride is not None else p.kernel))]
        if p.padding:
            kw.append(("padding", pair(p.padding)))
        if p.ceil:
            kw.append(("ceil_mode", True))
        return kw

    def module(self, p: PoolParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall(self.torch_cls, (pair(p.kernel),), tuple(self.kwargs(p)))

    def label(self, p: PoolParams, x: Shape, y: Shape) -> str:
        kh, kw = pair(p.kernel)
        return f"{kh}x{kw} {self.kind}" + stride_text(p.stride if p.stride is not None else p.kernel)


@register
class MaxPool(_Pool):
    """Max pooling."""

    kind = "maxpool"
    Params = PoolParams
    torch_cls = "nn.MaxPool2d"
    example = {"kernel": 3, "stride": 2, "padding": 1, "ceil": True}


class AvgPoolParams(PoolParams):
    count_include_pad: bool = True


@register
class AvgPool(_Pool):
    """Average pooling."""

    kind = "avgpool"
    Params = AvgPoolParams
    torch_cls = "nn.AvgPool2d"
    example = {"kernel": 2}

    def kwargs(self, p: AvgPoolParams) -> list[tuple[str, Any]]:
        kw = super().kwargs(p)
        if not p.count_include_pad:
            kw.append(("count_include_pad", False))
        return kw


class AdaptivePoolParams(LayerParams):
    size: IntPair = Field(1, description="output size")


FVCORE_ADAPTIVE = "fvcore counts adaptive average pooling's additions; archc counts conv and fc MACs only"


@register
class AdaptiveAvgPool(OpDef):
    """Average pooling to a fixed output size (torchvision's aux heads pool to 4x4)."""

    kind = "adaptive_avgpool"
    Params = AdaptivePoolParams
    category = "pool"
    fvcore_differs = FVCORE_ADAPTIVE
    example = {"size": 2}

    def shape(self, p: AdaptivePoolParams, x: Shape) -> Shape:
        c, _, _ = need_map(self.kind, x)
        return (c, *pair(p.size))

    def cost(self, p: AdaptivePoolParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def module(self, p: AdaptivePoolParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.AdaptiveAvgPool2d", (pair(p.size),))

    def label(self, p: AdaptivePoolParams, x: Shape, y: Shape) -> str:
        return f"adaptive avgpool {pair(p.size)[0]}x{pair(p.size)[1]}"


@register
class GlobalAvgPool(OpDef):
    """Global average pool: C x H x W -> C x 1 x 1."""

    kind = "gap"
    Params = NoParams
    category = "pool"
    fvcore_differs = FVCORE_ADAPTIVE
    example = {}

    def shape(self, p: LayerParams, x: Shape) -> Shape:
        c, _, _ = need_map("gap", x)
        return (c, 1, 1)

    def cost(self, p: LayerParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def module(self, p: LayerParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.AdaptiveAvgPool2d", ((1, 1),))

    def label(self, p: LayerParams, x: Shape, y: Shape) -> str:
        return "global avgpool"
