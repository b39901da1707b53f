"""The op registry: for every primitive op, its spec schema, shape rule, analytic cost and torch module,
side by side so they cannot drift. Nothing else in archc switches on op names."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator

from archc.labels import dilation_text, stride_text

Shape = tuple  # (C, H, W) for feature maps, (F,) for flat vectors
IntPair = Union[PositiveInt, tuple[PositiveInt, PositiveInt]]
NonNegPair = Union[NonNegativeInt, tuple[NonNegativeInt, NonNegativeInt]]


class ShapeError(ValueError):
    """An op cannot accept its input shape; `field` names the offending parameter."""

    def __init__(self, message: str, field: str = "", expected: str = "", got: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.expected = expected
        self.got = got


@dataclass(frozen=True)
class Cost:
    """Analytic cost of one op: learnable parameters and multiply-accumulates (1 MAC = 1 multiply-add)."""

    params: int = 0
    macs: int = 0


@dataclass(frozen=True)
class ModuleCall:
    """How to construct the op's torch module: a class name and its arguments (also printed by codegen)."""

    cls: str  # "nn.Conv2d" (torch.nn) or a class of archc.backends.modules
    args: tuple = ()
    kwargs: tuple = ()  # ((name, value), ...) in a fixed order for readable, deterministic source


def check_identifier(value: Optional[str]) -> Optional[str]:
    """Names become Python attributes and class names: see archc.ir.names (one rule for every name)."""
    from archc.ir.names import check_name

    return check_name(value)  # type: ignore[return-value]


class LayerParams(BaseModel):
    """Fields every layer accepts."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: Optional[str] = Field(None, description="node name; default <kind><n> within its container")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        return check_identifier(value)


def pair(value: Union[int, tuple, list]) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def spatial_out(size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False) -> int:
    """Output length of a conv/pool along one axis, PyTorch's rule (ceil mode never starts in the padding)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
    else:
        out = span // stride + 1
    return out


def need_map(kind: str, shape: Shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"{kind} needs a C x H x W feature map", expected="C x H x W", got=f"flat vector of {shape[0]}")
    return shape


@dataclass(frozen=True)
class LayerContext:
    """What a layer inherits from its surroundings: the spec's defaults and class count."""

    norm: str = "batchnorm"
    act: str = "relu"
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    classes: int = 1000


class OpDef:
    """One primitive op. Subclasses set `kind`, `Params` and implement the rules they need."""

    kind: ClassVar[str]
    Params: ClassVar[type[LayerParams]]
    category: ClassVar[str] = "other"  # conv | norm | act | pool | linear | reshape | regularize | shortcut
    weighted: ClassVar[bool] = False  # counts as a weighted layer in path lengths
    doc: ClassVar[str] = ""

    def shape(self, p: LayerParams, x: Shape) -> Shape:
        return x

    def cost(self, p: LayerParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def module(self, p: LayerParams, x: Shape, y: Shape) -> ModuleCall:
        raise NotImplementedError

    def label(self, p: LayerParams, x: Shape, y: Shape) -> str:
        return self.kind

    def resolve(self, p: LayerParams, ctx: LayerContext) -> LayerParams:
        """Fill parameters that default from the context."""
        return p

    def expand(self, p: LayerParams, ctx: LayerContext) -> Optional[list[tuple[str, str, LayerParams]]]:
        """A layer that is sugar for a unit of ops returns [(local name, kind, params), ...]."""
        return None


REGISTRY: dict[str, OpDef] = {}


def register(cls: type[OpDef]) -> type[OpDef]:
    if cls.kind in REGISTRY:
        raise ValueError(f"op {cls.kind!r} registered twice")
    REGISTRY[cls.kind] = cls()
    return cls


def get_op(kind: str) -> OpDef:
    return REGISTRY[kind]


# ---------------------------------------------------------------- convolution and linear

ActName = str
NormName = str
NORMS = ("batchnorm", "none")


class ConvParams(LayerParams):
    out: PositiveInt = Field(description="output channels")
    kernel: IntPair = Field(3, description="kernel size, int or [kh, kw]")
    stride: IntPair = 1
    padding: Optional[NonNegPair] = Field(None, description="default: dilation*(kernel-1)//2 ('same' at stride 1)")
    groups: PositiveInt = 1
    dilation: IntPair = 1
    bias: Optional[bool] = Field(None, description="default: true only when the unit has no norm")
    norm: Optional[NormName] = Field(None, description="batchnorm | none; default from `defaults.norm`")
    act: Optional[ActName] = Field(None, description="activation after the norm; default from `defaults.act`")

    @field_validator("norm")
    @classmethod
    def _known_norm(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value not in NORMS:
            raise ValueError(f"unknown norm {value!r} (expected one of {', '.join(NORMS)})")
        return value

    @field_validator("act")
    @classmethod
    def _known_act(cls, value: Optional[str]) -> Optional[str]:
        known = tuple(k for k, op in REGISTRY.items() if op.category == "act") + ("none",)
        if value is not None and value not in known:
            raise ValueError(f"unknown activation {value!r} (expected one of {', '.join(known)})")
        return value

    def resolved_padding(self) -> tuple[int, int]:
        if self.padding is not None:
            return pair(self.padding)
        (kh, kw), (dh, dw) = pair(self.kernel), pair(self.dilation)
        return dh * (kh - 1) // 2, dw * (kw - 1) // 2


@register
class Conv(OpDef):
    """2-D convolution (the `conv` layer adds norm and activation around it)."""

    kind = "conv"
    Params = ConvParams
    category = "conv"
    weighted = True

    def shape(self, p: ConvParams, x: Shape) -> Shape:
        c, h, w = need_map("conv", x)
        if c % p.groups:
            raise ShapeError(f"groups={p.groups} does not divide the {c} input channels", "groups",
                             expected=f"a divisor of {c}", got=str(p.groups))
        if p.out % p.groups:
            raise ShapeError(f"groups={p.groups} does not divide out={p.out}", "groups",
                             expected=f"a divisor of {p.out}", got=str(p.groups))
        (kh, kw), (sh, sw), (ph, pw), (dh, dw) = pair(p.kernel), pair(p.stride), p.resolved_padding(), pair(p.dilation)
        oh, ow = spatial_out(h, kh, sh, ph, dh), spatial_out(w, kw, sw, pw, dw)
        if oh < 1 or ow < 1:
            raise ShapeError(f"a {kh}x{kw} kernel does not fit the {h}x{w} input", "kernel",
                             expected="an output of at least 1x1", got=f"{oh}x{ow}")
        return (p.out, oh, ow)

    def cost(self, p: ConvParams, x: Shape, y: Shape) -> Cost:
        kh, kw = pair(p.kernel)
        per_out = kh * kw * (x[0] // p.groups)
        params = per_out * p.out + (p.out if p.bias else 0)
        return Cost(params=params, macs=per_out * y[0] * y[1] * y[2])

    def module(self, p: ConvParams, x: Shape, y: Shape) -> ModuleCall:
        kw = []
        if pair(p.stride) != (1, 1):
            kw.append(("stride", pair(p.stride)))
        if p.resolved_padding() != (0, 0):
            kw.append(("padding", p.resolved_padding()))
        if p.dilation != 1:
            kw.append(("dilation", pair(p.dilation)))
        if p.groups != 1:
            kw.append(("groups", p.groups))
        kw.append(("bias", bool(p.bias)))
        return ModuleCall("nn.Conv2d", (x[0], p.out, pair(p.kernel)), tuple(kw))

    def expand(self, p: ConvParams, ctx: LayerContext) -> Optional[list[tuple[str, str, LayerParams]]]:
        """conv = conv, norm, act (unless overridden)."""
        norm = p.norm or ctx.norm
        act = p.act or ctx.act
        bias = p.bias if p.bias is not None else norm == "none"
        parts: list[tuple[str, str, LayerParams]] = [
            ("conv", "conv", p.model_copy(update={"bias": bias, "norm": None, "act": None, "name": None}))]
        if norm != "none":
            parts.append(("bn", norm, BatchNormParams(eps=ctx.bn_eps, momentum=ctx.bn_momentum)))
        if act != "none":
            parts.append(("act", act, REGISTRY[act].Params(inplace=True)))
        return parts

    def label(self, p: ConvParams, x: Shape, y: Shape) -> str:
        kh, kw = pair(p.kernel)
        extra = stride_text(p.stride) + dilation_text(p.dilation)
        extra += f", g{p.groups}" if p.groups != 1 else ""
        return f"{kh}x{kw} conv, {p.out}{extra}"


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

    def shape(self, p: FcParams, x: Shape) -> Shape:
        return (p.out,)

    def cost(self, p: FcParams, x: Shape, y: Shape) -> Cost:
        n_in = math.prod(x)
        return Cost(params=n_in * p.out + (p.out if p.bias else 0), macs=n_in * p.out)

    def module(self, p: FcParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("FlattenLinear", (math.prod(x), p.out), (("bias", p.bias),) if not p.bias else ())

    def label(self, p: FcParams, x: Shape, y: Shape) -> str:
        return f"fc {p.out}"

    def resolve(self, p: FcParams, ctx: LayerContext) -> FcParams:
        return p if p.out is not None else p.model_copy(update={"out": ctx.classes})


# ---------------------------------------------------------------- normalisation


class BatchNormParams(LayerParams):
    eps: float = Field(1e-5, gt=0)
    momentum: float = Field(0.1, ge=0, le=1)


@register
class BatchNorm(OpDef):
    """Batch normalisation over channels."""

    kind = "batchnorm"
    Params = BatchNormParams
    category = "norm"

    def shape(self, p: BatchNormParams, x: Shape) -> Shape:
        need_map("batchnorm", x)
        return x

    def cost(self, p: BatchNormParams, x: Shape, y: Shape) -> Cost:
        return Cost(params=2 * x[0])

    def module(self, p: BatchNormParams, x: Shape, y: Shape) -> ModuleCall:
        kw = []
        if p.eps != 1e-5:
            kw.append(("eps", p.eps))
        if p.momentum != 0.1:
            kw.append(("momentum", p.momentum))
        return ModuleCall("nn.BatchNorm2d", (x[0],), tuple(kw))

    def label(self, p: LayerParams, x: Shape, y: Shape) -> str:
        return "BN"


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

    def shape(self, p: LrnParams, x: Shape) -> Shape:
        need_map("lrn", x)
        return x

    def module(self, p: LrnParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.LocalResponseNorm", (p.size,), (("alpha", p.alpha), ("beta", p.beta), ("k", p.k)))

    def label(self, p: LrnParams, x: Shape, y: Shape) -> str:
        return "LRN"


# ---------------------------------------------------------------- activations


class NoParams(LayerParams):
    pass


class ActParams(LayerParams):
    inplace: bool = Field(False, description="overwrite the input; units and post-add activations set it")


def _activation(kind_: str, torch_cls: str, doc_: str, inplace: bool = True) -> type[OpDef]:
    class Activation(OpDef):
        __doc__ = f"Activation: {doc_}."
        kind = kind_
        Params = ActParams
        category = "act"
        doc = doc_

        def module(self, p: ActParams, x: Shape, y: Shape) -> ModuleCall:
            return ModuleCall(torch_cls, (), (("inplace", True),) if inplace and p.inplace else ())

        def label(self, p: LayerParams, x: Shape, y: Shape) -> str:
            return kind_

    Activation.__name__ = Activation.__qualname__ = torch_cls.split(".")[-1]
    return register(Activation)


_activation("relu", "nn.ReLU", "max(x, 0)")
_activation("relu6", "nn.ReLU6", "min(max(x, 0), 6)")
_activation("silu", "nn.SiLU", "x * sigmoid(x)")
_activation("gelu", "nn.GELU", "Gaussian error linear unit", inplace=False)
_activation("sigmoid", "nn.Sigmoid", "logistic sigmoid", inplace=False)
_activation("tanh", "nn.Tanh", "hyperbolic tangent", inplace=False)


class LeakyReluParams(ActParams):
    slope: float = Field(0.01, description="negative slope")


@register
class LeakyRelu(OpDef):
    """Activation: x if x > 0 else slope * x."""

    kind = "leaky_relu"
    Params = LeakyReluParams
    category = "act"

    def module(self, p: LeakyReluParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.LeakyReLU", (p.slope,), (("inplace", True),) if p.inplace else ())


# ---------------------------------------------------------------- pooling


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

    def kwargs(self, p: PoolParams) -> list:
        kw = [("stride", pair(p.stride if p.stride is not None else p.kernel))]
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


class AvgPoolParams(PoolParams):
    count_include_pad: bool = True


@register
class AvgPool(_Pool):
    """Average pooling."""

    kind = "avgpool"
    Params = AvgPoolParams
    torch_cls = "nn.AvgPool2d"

    def kwargs(self, p: AvgPoolParams) -> list:
        kw = super().kwargs(p)
        if not p.count_include_pad:
            kw.append(("count_include_pad", False))
        return kw


class AdaptivePoolParams(LayerParams):
    size: IntPair = Field(1, description="output size")


@register
class AdaptiveAvgPool(OpDef):
    """Average pooling to a fixed output size (torchvision's aux heads pool to 4x4)."""

    kind = "adaptive_avgpool"
    Params = AdaptivePoolParams
    category = "pool"

    def shape(self, p: AdaptivePoolParams, x: Shape) -> Shape:
        c, _, _ = need_map(self.kind, x)
        return (c, *pair(p.size))

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

    def shape(self, p: LayerParams, x: Shape) -> Shape:
        c, _, _ = need_map("gap", x)
        return (c, 1, 1)

    def module(self, p: LayerParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.AdaptiveAvgPool2d", ((1, 1),))

    def label(self, p: LayerParams, x: Shape, y: Shape) -> str:
        return "global avgpool"


# ---------------------------------------------------------------- reshaping and regularisation


@register
class Flatten(OpDef):
    """C x H x W -> C*H*W."""

    kind = "flatten"
    Params = NoParams
    category = "reshape"

    def shape(self, p: LayerParams, x: Shape) -> Shape:
        return (math.prod(x),)

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

    def module(self, p: DropoutParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.Dropout", (p.p,))

    def label(self, p: DropoutParams, x: Shape, y: Shape) -> str:
        return f"dropout {p.p:g}"


@register
class Identity(OpDef):
    """Identity (the plain shortcut)."""

    kind = "identity"
    Params = NoParams
    category = "shortcut"

    def module(self, p: LayerParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.Identity")


class PadShortcutParams(LayerParams):
    out: PositiveInt
    stride: PositiveInt = 1


@register
class PadShortcut(OpDef):
    """Option-A shortcut: subsample by the stride, append zero channels; no parameters."""

    kind = "pad_shortcut"
    Params = PadShortcutParams
    category = "shortcut"

    def shape(self, p: PadShortcutParams, x: Shape) -> Shape:
        c, h, w = need_map(self.kind, x)
        if p.out < c:
            raise ShapeError("a zero-pad shortcut cannot reduce channels", "shortcut",
                             expected=f"out >= {c}", got=str(p.out))
        return (p.out, -(-h // p.stride), -(-w // p.stride))

    def module(self, p: PadShortcutParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("ZeroPadShortcut", (y[0] - x[0], p.stride))

    def label(self, p: PadShortcutParams, x: Shape, y: Shape) -> str:
        return f"zero-pad +{y[0] - x[0]}ch" + (f", /{p.stride}" if p.stride != 1 else "")  # channels added


ACTIVATIONS = tuple(k for k, op in REGISTRY.items() if op.category == "act")
# ops a spec may write as a bare layer; the shortcut ops are placed by the compiler only
LAYER_KINDS = tuple(k for k in REGISTRY if k not in ("identity", "pad_shortcut"))
