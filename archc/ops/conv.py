"""Convolution and fully connected ops (the weighted ones)."""
from __future__ import annotations

import math
from typing import Any, Optional, Protocol

from pydantic import Field, PositiveInt, ValidationInfo, field_validator, model_validator

from archc.labels import dilation_text, stride_text
from archc.ops.base import (REGISTRY, Cost, IntPair, LayerContext, LayerParams, ModuleCall, NonNegPair, OpDef,
                               Parts, Shape, ShapeError, need_map, pair, register, spatial_out)


def known_norm(value: Optional[str]) -> Optional[str]:
    """Validator body for a unit's `norm`: a registered unit norm or none."""
    norms = REGISTRY.views.norms
    if value is not None and value not in norms:
        raise ValueError(f"unknown norm {value!r} (expected one of {', '.join(norms)})")
    return value


def known_act(value: Optional[str]) -> Optional[str]:
    """Validator body for a unit's `act`: a registered activation or none."""
    known = REGISTRY.views.activations + ("none",)
    if value is not None and value not in known:
        raise ValueError(f"unknown activation {value!r} (expected one of {', '.join(known)})")
    return value


class UnitParams(Protocol):
    """What `unit_parts` reads from a unit layer's parameters (pydantic models with these fields)."""

    bias: Optional[bool]
    norm: Optional[str]
    act: Optional[str]

    def model_copy(self, *, update: Optional[dict] = None, deep: bool = False) -> Any: ...


def unit_parts(kind: str, p: UnitParams, ctx: LayerContext) -> Parts:
    """`kind` = the op (named `conv`), its norm (its `unit_name`: `bn` for batchnorm) and its activation (`act`),
    unless set to none."""
    norm = p.norm or ctx.norm
    act = p.act or ctx.act
    bias = p.bias if p.bias is not None else norm == "none"
    parts: Parts = [("conv", kind, p.model_copy(update={"bias": bias, "norm": None, "act": None, "name": None}))]
    if norm != "none":
        parts.append((REGISTRY[norm].unit_name, norm, REGISTRY[norm].unit_params(ctx)))
    if act != "none":
        parts.append(("act", act, REGISTRY[act].unit_params(ctx)))
    return parts


def same_padding(padding: Optional[object], kernel: object, dilation: object = 1) -> tuple[int, int]:
    """The given padding, else dilation*(kernel-1)//2 per axis ('same' at stride 1)."""
    if padding is not None:
        return pair(padding)  # type: ignore[arg-type]
    (kh, kw), (dh, dw) = pair(kernel), pair(dilation)  # type: ignore[arg-type]
    return dh * (kh - 1) // 2, dw * (kw - 1) // 2


class ConvParams(LayerParams):
    out: Optional[PositiveInt] = Field(None, description="output channels; required unless `depthwise` (default: "
                                                         "the input channels)")
    kernel: IntPair = Field(3, description="kernel size, int or [kh, kw]")
    stride: IntPair = 1
    padding: Optional[NonNegPair] = Field(None, description="default: dilation*(kernel-1)//2 ('same' at stride 1)")
    groups: PositiveInt = 1
    depthwise: bool = Field(False, description="groups = the input channels (one filter per channel; `out` a "
                                               "multiple of them, the channel multiplier); not with `groups`")
    dilation: IntPair = 1
    bias: Optional[bool] = Field(None, description="default: true only when the unit has no norm")
    norm: Optional[str] = Field(None, description="a unit norm (as `defaults.norm`) or none; default from "
                                                "`defaults.norm`")
    act: Optional[str] = Field(None, description="activation after the norm; default from `defaults.act`")

    _known_norm = field_validator("norm")(known_norm)
    _known_act = field_validator("act")(known_act)

    @field_validator("depthwise")
    @classmethod
    def _not_with_groups(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("groups", 1) != 1:
            raise ValueError(f"give `depthwise: true` or `groups: {info.data['groups']}`, not both (a depthwise "
                             "conv's groups are its input channels)")
        return value

    @model_validator(mode="after")
    def _out_or_depthwise(self) -> "ConvParams":
        if self.out is None and not self.depthwise:
            raise ValueError("missing required key 'out' (only a depthwise conv may leave it out: it keeps the "
                             "input channels)")
        return self

    def resolved_padding(self) -> tuple[int, int]:
        return same_padding(self.padding, self.kernel, self.dilation)

    @property
    def channels(self) -> int:
        """`out` once resolved (a depthwise conv's default is filled in from the input shape)."""
        if self.out is None:
            raise ValueError("conv `out` is not resolved yet (lowering fills it in from the input shape)")
        return self.out

    def groups_on(self, c_in: int) -> int:
        """The groups on a `c_in`-channel input: c_in for a depthwise conv, else `groups`."""
        return c_in if self.depthwise else self.groups


def window_shape(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                 dilation: tuple[int, int]) -> tuple[int, int]:
    """Output H x W of a conv window; a ShapeError naming `kernel` when it does not fit."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel, stride, padding, dilation
    oh, ow = spatial_out(h, kh, sh, ph, dh), spatial_out(w, kw, sw, pw, dw)
    if oh < 1 or ow < 1:
        raise ShapeError(f"a {kh}x{kw} kernel does not fit the {h}x{w} input", "kernel",
                         expected="an output of at least 1x1", got=f"{oh}x{ow}")
    return oh, ow


def conv_call(c_in: int, out: int, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
              dilation: tuple[int, int], groups: int, bias: bool) -> ModuleCall:
    """nn.Conv2d with only the non-default arguments spelled out."""
    kw: list[tuple[str, object]] = []
    if stride != (1, 1):
        kw.append(("stride", stride))
    if padding != (0, 0):
        kw.append(("padding", padding))
    if dilation != (1, 1):
        kw.append(("dilation", dilation))
    if groups != 1:
        kw.append(("groups", groups))
    kw.append(("bias", bias))
    return ModuleCall("nn.Conv2d", (c_in, out, kernel), tuple(kw))


@register
class Conv(OpDef):
    """2-D convolution (the `conv` layer adds norm and activation around it)."""

    kind = "conv"
    Params = ConvParams
    category = "conv"
    weighted = True
    init = "conv"
    example = {"out": 6, "kernel": 3, "stride": 2}

    def resolve(self, p: ConvParams, ctx: LayerContext, x: Shape) -> ConvParams:
        """A depthwise conv's `out` defaults to its input channels (its groups are the input channels: every
        rule below reads them from the input shape, so resolved params stay valid spec params)."""
        if p.out is not None or not p.depthwise or len(x) != 3:
            return p  # a flat input is refused by the shape rule
        return p.model_copy(update={"out": x[0]})

    def shape(self, p: ConvParams, x: Shape) -> Shape:
        c, h, w = need_map("conv", x)
        out, groups = p.channels, p.groups_on(c)
        if p.depthwise and "groups" in p.model_fields_set:  # even `groups: 1`, which the schema cannot tell apart
            raise ShapeError(f"give `depthwise: true` or `groups: {p.groups}`, not both (a depthwise conv's groups "
                             f"are its input channels, {c} here)", "groups", expected="no `groups` with depthwise",
                             got=f"groups: {p.groups}")
        if p.depthwise and out % c:
            raise ShapeError(f"a depthwise conv's out={out} is not a multiple of its {c} input channels (the channel "
                             "multiplier out / in must be a whole number)", "out",
                             expected=f"a multiple of {c}", got=str(out))
        if c % groups:
            raise ShapeError(f"groups={groups} does not divide the {c} input channels", "groups",
                             expected=f"a divisor of {c}", got=str(groups))
        if out % groups:
            raise ShapeError(f"groups={groups} does not divide out={out}", "groups",
                             expected=f"a divisor of {out}", got=str(groups))
        return (out, *window_shape(h, w, pair(p.kernel), pair(p.stride), p.resolved_padding(), pair(p.dilation)))

    def cost(self, p: ConvParams, x: Shape, y: Shape) -> Cost:
        kh, kw = pair(p.kernel)
        per_out = kh * kw * (x[0] // p.groups_on(x[0]))
        params = per_out * p.channels + (p.channels if p.bias else 0)
        return Cost(params=params, macs=per_out * y[0] * y[1] * y[2])

    def module(self, p: ConvParams, x: Shape, y: Shape) -> ModuleCall:
        return conv_call(x[0], p.channels, pair(p.kernel), pair(p.stride), p.resolved_padding(), pair(p.dilation),
                         p.groups_on(x[0]), bool(p.bias))

    def expand(self, p: ConvParams, ctx: LayerContext, x: Shape) -> Optional[Parts]:
        """conv = conv, norm, act (unless overridden)."""
        return unit_parts("conv", p, ctx)

    def label(self, p: ConvParams, x: Shape, y: Shape) -> str:
        kh, kw = pair(p.kernel)
        extra = stride_text(p.stride) + dilation_text(p.dilation)
        if p.depthwise:
            extra += ", dw"
        elif p.groups != 1:
            extra += f", g{p.groups}"
        return f"{kh}x{kw} conv, {p.channels}{extra}"

    def window(self, p: ConvParams) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
        return pair(p.kernel), pair(p.stride)

    def dense(self, p: ConvParams, x: Shape, out: int) -> Optional[ConvParams]:
        """A depthwise conv (groups = C_in > 1, `depthwise: true` or written out) as the dense conv with the same
        window to `out` channels; None for any other conv."""
        if x[0] < 2 or p.groups_on(x[0]) != x[0]:
            return None
        return p.model_copy(update={"groups": 1, "depthwise": False, "out": out, "name": None})

    def formula(self, p: ConvParams, x: Shape, y: Shape) -> Optional[str]:
        kh, kw = pair(p.kernel)
        return f"{kh}*{kw}*{x[0] // p.groups_on(x[0])}*{y[0]}*{y[1]}*{y[2]}"


class FcParams(LayerParams):
    out: Optional[PositiveInt] = Field(None, description="output features; default: the spec's `classes`")
    bias: bool = True


@register
class Fc(OpDef):
    """Fully connected layer; flattens its input first."""

    kind = "fc"
    Params = FcParams
    category = "linear"
    weighted = True
    init = "fc"
    example = {"out": 5}

    def shape(self, p: FcParams, x: Shape) -> Shape:
        return (p.out,)

    def cost(self, p: FcParams, x: Shape, y: Shape) -> Cost:
        n_in = math.prod(x)
        return Cost(params=n_in * p.out + (p.out if p.bias else 0), macs=n_in * p.out)

    def module(self, p: FcParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("FlattenLinear", (math.prod(x), p.out), (("bias", p.bias),) if not p.bias else ())

    def label(self, p: FcParams, x: Shape, y: Shape) -> str:
        return f"fc {p.out}"

    def resolve(self, p: FcParams, ctx: LayerContext, x: Shape) -> FcParams:
        return p if p.out is not None else p.model_copy(update={"out": ctx.classes})

    def formula(self, p: FcParams, x: Shape, y: Shape) -> Optional[str]:
        return f"{math.prod(x)}*{y[0]}"


class SepConvParams(LayerParams):
    out: PositiveInt = Field(description="output channels (of the pointwise 1x1)")
    kernel: IntPair = Field(3, description="kernel size of the depthwise conv, int or [kh, kw]")
    stride: IntPair = 1
    padding: Optional[NonNegPair] = Field(None, description="default: dilation*(kernel-1)//2 ('same' at stride 1)")
    dilation: IntPair = 1
    bias: Optional[bool] = Field(None, description="bias of the pointwise conv; default: true only when the unit "
                                                   "has no norm")
    norm: Optional[str] = Field(None, description="a unit norm (as `defaults.norm`) or none; default from "
                                                "`defaults.norm`")
    act: Optional[str] = Field(None, description="activation after the norm; default from `defaults.act`")

    _known_norm = field_validator("norm")(known_norm)
    _known_act = field_validator("act")(known_act)

    def resolved_padding(self) -> tuple[int, int]:
        return same_padding(self.padding, self.kernel, self.dilation)


@register
class SepConv(OpDef):
    """Depthwise-separable convolution: a depthwise kxk conv (groups = input channels), then a pointwise 1x1
    (Xception, MobileNet); the `sepconv` layer adds norm and activation after both, as `conv` does."""

    kind = "sepconv"
    Params = SepConvParams
    category = "conv"
    weighted = True
    init = "conv"
    example = {"out": 6, "kernel": 3, "stride": 2}

    def shape(self, p: SepConvParams, x: Shape) -> Shape:
        c, h, w = need_map("sepconv", x)
        return (p.out, *window_shape(h, w, pair(p.kernel), pair(p.stride), p.resolved_padding(), pair(p.dilation)))

    def cost(self, p: SepConvParams, x: Shape, y: Shape) -> Cost:
        kh, kw = pair(p.kernel)
        depthwise, pointwise = kh * kw * x[0], x[0] * p.out
        return Cost(params=depthwise + pointwise + (p.out if p.bias else 0),
                    macs=(depthwise + pointwise) * y[1] * y[2])

    def module(self, p: SepConvParams, x: Shape, y: Shape) -> ModuleCall:
        c = x[0]
        depthwise = conv_call(c, c, pair(p.kernel), pair(p.stride), p.resolved_padding(), pair(p.dilation), c, False)
        pointwise = conv_call(c, p.out, (1, 1), (1, 1), (0, 0), (1, 1), 1, bool(p.bias))
        return ModuleCall("seq", (), (("depthwise", depthwise), ("pointwise", pointwise)))

    def expand(self, p: SepConvParams, ctx: LayerContext, x: Shape) -> Optional[Parts]:
        return unit_parts("sepconv", p, ctx)

    def label(self, p: SepConvParams, x: Shape, y: Shape) -> str:
        kh, kw = pair(p.kernel)
        return f"{kh}x{kw} sepconv, {p.out}" + stride_text(p.stride) + dilation_text(p.dilation)

    def watched(self, p: SepConvParams) -> tuple[str, ...]:
        return ("depthwise.weight", "pointwise.weight")

    def window(self, p: SepConvParams) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
        return pair(p.kernel), pair(p.stride)

    def formula(self, p: SepConvParams, x: Shape, y: Shape) -> Optional[str]:
        kh, kw = pair(p.kernel)
        return f"{kh}*{kw}*{x[0]}*{y[1]}*{y[2]} + {x[0]}*{y[0]}*{y[1]}*{y[2]}"
