"""Normalisation ops."""
from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.ops.base import (Cost, LayerContext, LayerParams, ModuleCall, OpDef, Shape, ShapeError, need_map,
                             register)


class BatchNormParams(LayerParams):
    eps: float = Field(1e-5, gt=0)
    momentum: float = Field(0.1, ge=0, le=1)


@register
class BatchNorm(OpDef):
    """Batch normalisation over channels."""

    kind = "batchnorm"
    unit_name = "bn"
    Params = BatchNormParams
    category = "norm"
    init = "norm"
    unit_norm = True
    fvcore_differs = "fvcore counts batch norm's per-element normalisation; archc counts conv and fc MACs only"
    example = {}

    def shape(self, p: BatchNormParams, x: Shape) -> Shape:
        need_map("batchnorm", x)
        return x

    def cost(self, p: BatchNormParams, x: Shape, y: Shape) -> Cost:
        return Cost(params=2 * x[0])

    def module(self, p: BatchNormParams, x: Shape, y: Shape) -> ModuleCall:
        kw: list[tuple[str, float]] = []
        if p.eps != 1e-5:
            kw.append(("eps", p.eps))
        if p.momentum != 0.1:
            kw.append(("momentum", p.momentum))
        return ModuleCall("nn.BatchNorm2d", (x[0],), tuple(kw))

    def label(self, p: LayerParams, x: Shape, y: Shape) -> str:
        return "BN"

    def unit_params(self, ctx: LayerContext) -> BatchNormParams:
        given = ctx.settings(self.kind)
        return given if given is not None else BatchNormParams(eps=ctx.bn_eps, momentum=ctx.bn_momentum)


class GroupNormParams(LayerParams):
    groups: PositiveInt = Field(32, description="channel groups normalised together; must divide the channels "
                                                "(Wu & He: 32)")
    eps: float = Field(1e-5, gt=0)


@register
class GroupNorm(OpDef):
    """Group normalisation (Wu & He 2018): per sample, over each of `groups` groups of channels.

    Then a per-channel scale and shift, as batch norm. No batch statistics: the same in training and at test
    time, at any batch size."""

    kind = "groupnorm"
    unit_name = "gn"
    Params = GroupNormParams
    category = "norm"
    init = "norm"
    unit_norm = True
    fvcore_differs = "fvcore counts group norm's per-element normalisation; archc counts conv and fc MACs only"
    example = {"groups": 2}

    def shape(self, p: GroupNormParams, x: Shape) -> Shape:
        c, _, _ = need_map("groupnorm", x)
        if c % p.groups:
            raise ShapeError(f"groupnorm groups={p.groups} does not divide the {c} channels", "groups",
                             expected=f"a divisor of {c}: `groups` of a groupnorm layer, `defaults.groupnorm.groups` "
                                      "where the compiler places it (a unit's or block's norm)", got=str(p.groups))
        return x

    def cost(self, p: GroupNormParams, x: Shape, y: Shape) -> Cost:
        return Cost(params=2 * x[0])  # per-channel scale and shift; no MACs, as batchnorm

    def module(self, p: GroupNormParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.GroupNorm", (p.groups, x[0]), (("eps", p.eps),) if p.eps != 1e-5 else ())

    def label(self, p: GroupNormParams, x: Shape, y: Shape) -> str:
        return f"GN{p.groups}"

    def unit_params(self, ctx: LayerContext) -> GroupNormParams:
        given = ctx.settings(self.kind)
        return given if given is not None else GroupNormParams()


class LrnParams(LayerParams):
    size: PositiveInt = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0


@register
class Lrn(OpDef):
    """Local response normalisation across channels (AlexNet, GoogLeNet paper)."""

    kind = "lrn"
    Params = LrnParams
    category = "norm"
    example = {"size": 3}

    def shape(self, p: LrnParams, x: Shape) -> Shape:
        need_map("lrn", x)
        return x

    def cost(self, p: LrnParams, x: Shape, y: Shape) -> Cost:
        return Cost()  # no parameters; its arithmetic is not conv/fc MACs

    def module(self, p: LrnParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.LocalResponseNorm", (p.size,), (("alpha", p.alpha), ("beta", p.beta), ("k", p.k)))

    def label(self, p: LrnParams, x: Shape, y: Shape) -> str:
        return "LRN"
