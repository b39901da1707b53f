"""The contract every primitive op fulfils (`OpDef`), the registry that checks it, and shared shape helpers.

An op's definition is its whole contract: spec schema (`Params`), shape rule, analytic cost, torch module
(a `ModuleCall` the torch backend instantiates and codegen prints), init rule, the parameters the probe
watches, what the savings analysis may rewrite, and flags (pass-through, unit norm, spec layer). Nothing
else in archc switches on op names. Registration refuses an op that lacks a rule; `Registry.finalise`
computes the derived views (activations, norms, layer kinds) once every op family is registered.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, field_validator

Shape = tuple  # (C, H, W) for feature maps, (F,) for flat vectors
IntPair = Union[PositiveInt, tuple[PositiveInt, PositiveInt]]
NonNegPair = Union[NonNegativeInt, tuple[NonNegativeInt, NonNegativeInt]]

CATEGORIES = ("conv", "norm", "act", "pool", "linear", "reshape", "regularize", "shortcut")
INIT_RULES = ("conv", "fc", "norm")  # which scheme of the spec's `init` sets an op's parameters


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
    """How to construct the op's torch module: a class name and its arguments (also printed by codegen).

    `cls` is `nn.<Name>` (torch.nn) or a name defined in archc.backends.modules (`seq`, `FlattenLinear`,
    ...). Arguments may themselves be ModuleCalls: `ModuleCall("seq", kwargs=(("depthwise", ...), ...))`
    builds a named sequence of torch.nn modules, so a composite op needs no class of its own."""

    cls: str
    args: tuple = ()
    kwargs: tuple = ()  # ((name, value), ...) in a fixed order for readable, deterministic source

    def calls(self) -> Iterator["ModuleCall"]:
        """This call and every call nested in its arguments, depth first."""
        yield self
        for value in list(self.args) + [v for _, v in self.kwargs]:
            if isinstance(value, ModuleCall):
                yield from value.calls()


def check_identifier(value: Optional[str]) -> Optional[str]:
    """Names become Python attributes and class names: see archc.names (one rule for every name)."""
    from archc.names import check_name

    return check_name(value)  # type: ignore[return-value]


class LayerParams(BaseModel):
    """Fields every layer accepts."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    name: Optional[str] = Field(None, description="node name; default <kind><n> within its container")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        return check_identifier(value)


class NoParams(LayerParams):
    pass


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
    unit_settings: tuple[tuple[str, LayerParams], ...] = ()  # (kind, parameters) given as `defaults.<kind>`

    def settings(self, kind: str) -> Optional[LayerParams]:
        """The parameters the spec's `defaults.<kind>` gives every `kind` the compiler places, if any."""
        return dict(self.unit_settings).get(kind)


Parts = list[tuple[str, str, LayerParams]]  # (local name, op kind, params) of a unit


class OpDef:
    """One primitive op. A subclass sets the class attributes below and implements `shape`, `cost` and
    `module` (registration refuses an op without them: a forgotten rule must not read as zero or identity).

    Flags and declarations (class attributes):
      kind, Params, category (one of CATEGORIES), doc;
      weighted      counts as a weighted layer (path lengths, depth, the probe's default watch list);
      init          which scheme of the spec's `init` sets its parameters: conv | fc | norm | None (none);
      pass_through  may hand on its input tensor itself (an in-place op after it still writes the input);
      unit_norm     may be named as a conv unit's `norm` (`defaults.norm`, `conv: {norm: ...}`);
      unit_name     its child name when the compiler places it in a unit (batchnorm: `bn`, as torchvision);
      spec_layer    a spec may write it as a layer (False: the compiler places it, e.g. shortcuts);
      fvcore_differs  why fvcore's count of this op's module differs from the analytic MACs ("" = equal);
      example       parameters of a minimal use on a 4 x 8 x 8 input (the registry contract test builds it).
    """

    kind: ClassVar[str]
    Params: ClassVar[type[LayerParams]]
    category: ClassVar[str]
    doc: ClassVar[str] = ""
    weighted: ClassVar[bool] = False
    init: ClassVar[Optional[str]] = None
    pass_through: ClassVar[bool] = False
    unit_norm: ClassVar[bool] = False
    unit_name: ClassVar[str] = "norm"
    spec_layer: ClassVar[bool] = True
    fvcore_differs: ClassVar[str] = ""
    example: ClassVar[dict[str, Any]]

    REQUIRED: ClassVar[tuple[str, ...]] = ("shape", "cost", "module")

    # ---- the rules every op states (no defaults)

    def shape(self, p: Any, x: Shape) -> Shape:
        raise NotImplementedError

    def cost(self, p: Any, x: Shape, y: Shape) -> Cost:
        raise NotImplementedError

    def module(self, p: Any, x: Shape, y: Shape) -> ModuleCall:
        raise NotImplementedError

    # ---- optional rules

    def label(self, p: Any, x: Shape, y: Shape) -> str:
        return self.kind

    def resolve(self, p: Any, ctx: LayerContext, x: Shape) -> LayerParams:
        """Fill parameters that default from the context or the input shape."""
        return p

    def expand(self, p: Any, ctx: LayerContext, x: Shape) -> Optional[Parts]:
        """A layer that is sugar for a unit of ops returns [(local name, kind, params), ...]; `x` is the
        unit's input shape (so a part may say groups = C_in)."""
        return None

    def unit_params(self, ctx: LayerContext) -> LayerParams:
        """Parameters when the compiler places this op in a unit (a conv's norm and activation): the spec's
        `defaults.<kind>` when given (`ctx.settings(kind)`), else the op's own choice."""
        raise ValueError(f"op {self.kind!r} cannot be placed in a conv unit")

    def watched(self, p: Any) -> tuple[str, ...]:
        """Parameter names, relative to the op's module, whose gradients the probe watches."""
        return ("weight",) if self.weighted else ()

    def window(self, p: Any) -> Optional[tuple[tuple[int, int], tuple[int, int]]]:
        """(kernel, stride) of a spatial weighted op, for the savings analysis's 1x1 rewrites; None when the
        op is not one (a 1x1 stride-1 window is a reduction or projection the analysis may remove)."""
        return None

    def dense(self, p: Any, x: Shape, out: int) -> Optional[LayerParams]:
        """For a depthwise op (each output channel sees one input channel): the parameters of this same op made
        dense (groups 1) with the same window from `x` to `out` channels, the convolution a depthwise
        factorisation (depthwise kxk + pointwise 1x1 to `out`) replaces; None for any other op. The savings
        analysis costs it with this op's own `cost` rule."""
        return None

    def formula(self, p: Any, x: Shape, y: Shape) -> Optional[str]:
        """The MACs as a product of its factors ('3*3*64*64*56*56'), for reports; None if not weighted."""
        return None


def _overrides(cls: type, name: str) -> bool:
    return getattr(cls, name) is not getattr(OpDef, name)


@dataclass(frozen=True)
class RegistryViews:
    """What the rest of archc derives from the registry, computed once at `Registry.finalise`."""

    activations: tuple[str, ...]  # category act
    norms: tuple[str, ...]  # unit norms, then "none"
    layer_kinds: tuple[str, ...]  # kinds a spec may write as a layer
    pass_through: frozenset[str]


class Registry(Mapping[str, OpDef]):
    """Kind -> op. Open for `register` until `finalise`, read-only after it."""

    def __init__(self) -> None:
        self._ops: dict[str, OpDef] = {}
        self._views: Optional[RegistryViews] = None

    def register(self, cls: type[OpDef]) -> type[OpDef]:
        """Class decorator: check the op's contract and add it."""
        if self._views is not None:
            raise ValueError(f"op {getattr(cls, 'kind', cls.__name__)!r} registered after the registry was "
                             "finalised (define it in a module archc.ops imports)")
        kind = getattr(cls, "kind", None)
        if not isinstance(kind, str) or not kind.isidentifier():
            raise ValueError(f"{cls.__name__}.kind must be an identifier, got {kind!r}")
        if kind in self._ops:
            raise ValueError(f"op {kind!r} registered twice")
        params = getattr(cls, "Params", None)
        if not (isinstance(params, type) and issubclass(params, LayerParams)):
            raise ValueError(f"op {kind!r}: Params must be a LayerParams subclass, got {params!r}")
        if getattr(cls, "category", None) not in CATEGORIES:
            raise ValueError(f"op {kind!r}: category must be one of {', '.join(CATEGORIES)}, "
                             f"got {getattr(cls, 'category', None)!r}")
        if cls.init is not None and cls.init not in INIT_RULES:
            raise ValueError(f"op {kind!r}: init must be one of {', '.join(INIT_RULES)} or None, got {cls.init!r}")
        missing = [name for name in OpDef.REQUIRED if not _overrides(cls, name)]
        if missing:
            raise ValueError(f"op {kind!r} has no {' / '.join(missing)} rule (expected a method on {cls.__name__}; "
                             "a rule is never assumed)")
        if not isinstance(getattr(cls, "example", None), dict):
            raise ValueError(f"op {kind!r} has no `example` (expected a dict of parameters for a minimal use)")
        if cls.unit_norm and not _overrides(cls, "unit_params"):
            raise ValueError(f"op {kind!r} is a unit norm but has no unit_params rule")
        self._ops[kind] = cls()
        return cls

    def finalise(self) -> RegistryViews:
        """Freeze the registry and compute the derived views (idempotent)."""
        if self._views is None:
            ops = self._ops
            self._views = RegistryViews(
                activations=tuple(k for k, op in ops.items() if op.category == "act"),
                norms=tuple(k for k, op in ops.items() if op.unit_norm) + ("none",),
                layer_kinds=tuple(k for k, op in ops.items() if op.spec_layer),
                pass_through=frozenset(k for k, op in ops.items() if op.pass_through))
            for kind in self._views.activations:
                if not _overrides(type(ops[kind]), "unit_params"):
                    raise ValueError(f"activation {kind!r} has no unit_params rule")
        return self._views

    @property
    def views(self) -> RegistryViews:
        if self._views is None:
            raise ValueError("the op registry is not finalised yet (import archc.ops, not its modules)")
        return self._views

    def __getitem__(self, kind: str) -> OpDef:
        return self._ops[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ops)

    def __len__(self) -> int:
        return len(self._ops)


REGISTRY = Registry()
register = REGISTRY.register


def get_op(kind: str) -> OpDef:
    return REGISTRY[kind]
