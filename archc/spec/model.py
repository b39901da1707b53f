"""The spec language as pydantic models (extra keys forbidden); archc.spec.validate turns their errors into
located SpecErrors."""
from __future__ import annotations

import keyword
import types
import typing
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, PositiveInt, PrivateAttr,
                      create_model, field_validator, model_validator)

from archc.ops import ACTIVATIONS, LAYER_KINDS, NORMS, REGISTRY, IntPair, PoolParams, check_identifier
from archc.spec.dense import DenseStage, TransitionSpec
from archc.spec.yamlload import DEFAULT_LIMITS, Document, Limits

FORMAT_VERSION = 1
ActLiteral = Literal[ACTIVATIONS + ("none",)]  # type: ignore[valid-type]
NormLiteral = Literal[NORMS]  # type: ignore[valid-type]


from archc.names import class_name  # noqa: E402
from archc.spec.structural import STRUCTURAL_LAYERS, SEParams  # noqa: E402  (layers that lower to a structure)
from archc.text import DESCRIPTION_MAX_CHARS, TITLE_MAX_CHARS, check_text  # noqa: E402


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


# ---------------------------------------------------------------- layers: one key naming the op


def _pairs_as_tuples(value: Any, tp: Any) -> Any:
    """YAML lists -> tuples wherever the schema expects a tuple (`kernel: [3, 5]`).

    Data below a `mode="before"` validator is validated in Python mode, where strict mode refuses a list
    for a tuple (in JSON mode it takes one); converting exactly those lists keeps every other strict
    check ("16" or true for an integer stays an error)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _pairs_as_tuples(value, args[0])
    if origin in (Union, types.UnionType):
        if isinstance(value, list) and any(typing.get_origin(_strip(a)) is tuple for a in args):
            return tuple(value)
        for arg in args:
            value = _pairs_as_tuples(value, arg)
        return value
    if origin is tuple:
        return tuple(value) if isinstance(value, list) else value
    if origin is list and isinstance(value, list) and args:
        return [_pairs_as_tuples(v, args[0]) for v in value]
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        return {k: _pairs_as_tuples(v, args[1]) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(value, dict):
        fields = {}
        for fname, info in tp.model_fields.items():
            fields[fname] = info.annotation
            alias = info.validation_alias
            for choice in (alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []):
                if isinstance(choice, str):
                    fields[choice] = info.annotation
        return {k: _pairs_as_tuples(v, fields[k]) if k in fields else v for k, v in value.items()}
    return value


def _strip(tp: Any) -> Any:
    return typing.get_args(tp)[0] if typing.get_origin(tp) is typing.Annotated else tp


def _single_key(cls: type, data: Any) -> Any:
    if isinstance(data, str) and data in cls.model_fields:
        return {data: {}}  # `- gap` as shorthand for `- gap: {}`
    if isinstance(data, dict):
        keys = [k for k in data if data[k] is not None or k in cls.model_fields]
        if len(keys) != 1:
            raise ValueError(f"give exactly one kind per item, got {len(keys)} ({', '.join(map(str, keys)) or 'none'})")
        if data[keys[0]] is None:
            return {keys[0]: {}}
        return _pairs_as_tuples(data, cls)
    return data


def _layer_fields() -> dict:
    kinds = {kind: (REGISTRY[kind].Params, REGISTRY[kind].__doc__) for kind in LAYER_KINDS}
    kinds.update({kind: (params, params.__doc__) for kind, params in STRUCTURAL_LAYERS.items()})
    return {kind: (Optional[params], Field(None, description=doc)) for kind, (params, doc) in kinds.items()}


class _LayerBase(Strict):
    @model_validator(mode="before")
    @classmethod
    def _one_kind(cls, data: Any) -> Any:
        return _single_key(cls, data)

    @property
    def kind(self) -> str:
        return next(k for k in type(self).model_fields if getattr(self, k) is not None)

    @property
    def params(self) -> Any:
        return getattr(self, self.kind)


Layer = create_model("Layer", __base__=_LayerBase, __doc__="One layer: `{kind: {params}}`.", **_layer_fields())


# ---------------------------------------------------------------- stages


class BlockStage(Strict):
    """A run of `blocks` basic or bottleneck blocks, or of a custom `layers` block."""

    name: Optional[str] = Field(None, description="default stage<n>")
    block: Optional[Literal["basic", "bottleneck", "inverted", "preact_basic", "preact_bottleneck"]] = Field(
        None, description="basic: 3x3, 3x3; bottleneck: 1x1 reduce, 3x3, 1x1 expand; inverted: 1x1 expand, 3x3 "
                          "depthwise, 1x1 linear projection (MobileNet-V2); preact_*: basic/bottleneck convs each "
                          "after BN-ReLU, nothing after the add (residual stages only)")
    layers: Optional[list[Layer]] = Field(None, min_length=1, description="a custom block body instead of `block`")  # type: ignore[valid-type]
    width: Optional[PositiveInt] = Field(None, description="block width ('planes'); output is width x expansion. Not with `layers`")
    blocks: PositiveInt = Field(1, validation_alias=AliasChoices("blocks", "repeat"),
                                description="number of blocks; `repeat` is a synonym (VGG-style `layers`)")
    stride: PositiveInt = Field(1, description="stride of the first block. Not with `layers`: give a layer the stride")
    expansion: Optional[PositiveInt] = Field(None, description="output/width ratio; default 1 basic, 4 bottleneck; inverted: hidden/input ratio t, default 6 (output is width). Not with `layers`")
    groups: PositiveInt = Field(1, description="groups of the 3x3 conv (ResNeXt cardinality). Not with `layers`")
    base_width: PositiveInt = Field(64, description="ResNeXt/wide-ResNet width per group: mid = width*base_width/64*groups. Not with `layers`")
    stride_on: Literal["1x1", "3x3"] = Field("3x3", description="bottleneck: which conv strides (paper v1: 1x1; torchvision v1.5: 3x3). Not with `layers`")
    dilation: PositiveInt = Field(1, description="dilation of the blocks' 3x3 convs (padding follows: 'same'); "
                                                 "with `stride: 1` it is torchvision's replace_stride_with_dilation. "
                                                 "Not with `layers`")
    first_dilation: Optional[PositiveInt] = Field(None, description="dilation of the first block's 3x3 conv (the "
                                                                    "previous stage's); default `dilation`. Not with `layers`")
    se: Optional[SEParams] = Field(None, description="squeeze-excitation gate in each block, on the body's output (Hu et al. "
                                   "2018, Fig. 3); inverted: after the depthwise. Not with `layers`: an `se` layer there")
    norm: Optional[NormLiteral] = Field(None, description="override defaults.norm in this stage")  # type: ignore[valid-type]
    act: Optional[ActLiteral] = Field(None, description="override defaults.act in this stage")  # type: ignore[valid-type]

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        return check_identifier(value)

    @model_validator(mode="before")
    @classmethod
    def _one_count(cls, data: Any) -> Any:
        if isinstance(data, dict) and "repeat" in data and "blocks" in data:
            raise ValueError("give `blocks` or its synonym `repeat`, not both")
        return data

    @model_validator(mode="after")
    def _block_or_layers(self) -> "BlockStage":
        if (self.block is None) == (self.layers is None):
            raise ValueError("give either `block` (basic/bottleneck/inverted) with `width`, or `layers`")
        if self.block is not None and self.width is None:
            raise ValueError("`width` is required with `block`")
        return self


class ResidualStage(BlockStage):
    """Residual blocks `F(x) + x`."""

    shortcut: Literal["projection", "pad", "projection_all", "identity"] = Field(
        "projection",
        description="when shapes change: projection (1x1 conv + BN, option B), pad (zero-pad, option A); "
        "projection_all: always project (option C); identity: never (shapes must match)")
    zero_init: Optional[bool] = Field(None, description="zero-init the last BN of each block; default init.zero_init_residual")
    first_preact: Optional[bool] = Field(
        None, description="preact blocks: the stage opens with a BN-ReLU (`preact`) that the first block's body and "
                          "shortcut share (default true); false: the input is activated already (a stem's BN-ReLU)")


class PlainStage(BlockStage):
    """The same blocks without shortcuts (or VGG-style `layers` with `blocks` repeats)."""


def _two_or_more(value: Optional[list]) -> Optional[list]:
    if value is not None and len(value) < 2:
        raise ValueError(f"a nested `branches:` item needs at least 2 sub-branches, got {len(value)} (a single "
                         "sub-branch is just more layers of the branch: write them there)")
    return value


BranchItem = create_model(
    "BranchItem", __base__=_LayerBase,
    __doc__="One item of an inception branch: a layer, or `branches:` (sub-branches concatenated on channels).",
    __validators__={"_two_or_more": field_validator("branches")(_two_or_more)},
    branches=(Optional[list[list["BranchItem"]]],  # type: ignore[valid-type]
              Field(None, description="sub-branches on this item's input, concatenated on channels "
                                      "(Inception-v3's 1x3 / 3x1 pair); named concat<n>")),
    **_layer_fields())


class InceptionModuleSpec(Strict):
    """A general inception module: parallel branches concatenated on channels."""

    branches: list[list[BranchItem]] = Field(min_length=1)  # type: ignore[valid-type]


SIX = Field(description="1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj")


class InceptionStage(Strict):
    """GoogLeNet inception modules, named by key (`3a` -> `inception3a`)."""

    name: Optional[str] = None
    modules: dict[str, Union[InceptionModuleSpec, list[PositiveInt]]] = Field(
        min_length=1, description="key -> six numbers [1x1, 3x3red, 3x3, 5x5red, 5x5, pool proj], or {branches: [...]}")
    five: Literal[5, 3] = Field(5, description="kernel of the '5x5' branch (torchvision uses 3)")
    pool: PoolParams = Field(default_factory=lambda: PoolParams(kernel=3, stride=1, padding=1),
                             description="the pool branch's pool")
    prefix: str = Field("inception", description="module name prefix")
    norm: Optional[NormLiteral] = None  # type: ignore[valid-type]
    act: Optional[ActLiteral] = None  # type: ignore[valid-type]

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        return check_identifier(value)

    @field_validator("modules", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key, module in value.items():
                if isinstance(module, list) and len(module) != 6 and not all(isinstance(b, list) for b in module):
                    raise ValueError(f"module {key!r}: the shorthand takes six numbers "
                                     f"[1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj], got {len(module)}")
        return value


_stage_fields = dict(_layer_fields())
_stage_fields.update(
    residual=(Optional[ResidualStage], Field(None, description=ResidualStage.__doc__)),
    plain=(Optional[PlainStage], Field(None, description=PlainStage.__doc__)),
    inception=(Optional[InceptionStage], Field(None, description=InceptionStage.__doc__)),
    dense=(Optional[DenseStage], Field(None, description=DenseStage.__doc__)),
)
StageItem = create_model("StageItem", __base__=_LayerBase,
                         __doc__="A stage (`residual`, `plain`, `inception`, `dense`) or a bare layer.", **_stage_fields)


# ---------------------------------------------------------------- the whole spec


class InputSpec(Strict):
    channels: PositiveInt = Field(3, description="input channels")
    size: IntPair = Field(224, description="H = W, or [H, W]")


class _DefaultsBase(Strict):
    """What a `conv` layer gets unless it says otherwise."""

    norm: NormLiteral = Field("batchnorm", description="norm after each conv")  # type: ignore[valid-type]
    act: ActLiteral = Field("relu", description="activation after the norm (and after each residual add)")  # type: ignore[valid-type]
    bn_eps: float = Field(1e-5, gt=0, description="BatchNorm eps (torchvision's GoogLeNet: 0.001)")
    bn_momentum: float = Field(0.1, ge=0, le=1, description="BatchNorm momentum")

    @model_validator(mode="after")
    def _unit_settings(self) -> "_DefaultsBase":
        for kind in UNIT_SETTING_KINDS:
            given = getattr(self, kind, None)
            if given is not None and given.name is not None:
                raise ValueError(f"defaults.{kind} sets every placed {kind}; a name there would repeat "
                                 "(expected its parameters without `name`)")
        if getattr(self, "batchnorm", None) is not None and {"bn_eps", "bn_momentum"} & self.model_fields_set:
            raise ValueError("defaults gives both `batchnorm` and bn_eps/bn_momentum (expected one of them)")
        return self


# every op the compiler may place (unit norms, activations) takes its parameters from `defaults.<kind>`, so
# an op's settings need no field here: the schema is built from the registry
UNIT_SETTING_KINDS = tuple(k for k in NORMS if k != "none") + tuple(ACTIVATIONS)
Defaults = create_model(  # type: ignore[call-overload]
    "Defaults", __base__=_DefaultsBase, __doc__=_DefaultsBase.__doc__,
    **{kind: (Optional[REGISTRY[kind].Params], Field(  # type: ignore[valid-type]
        None, description=f"parameters of every `{kind}` the compiler places in a unit or block, as a "
                          f"`{kind}` layer takes them")) for kind in UNIT_SETTING_KINDS})


InitScheme = Literal["kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform",
                     "trunc_normal", "normal", "default"]


class InitSpec(Strict):
    """Weight initialisation (He et al. use kaiming_normal, fan_out for torchvision's ResNets)."""

    conv: InitScheme = "kaiming_normal"
    fc: InitScheme = Field("default", description="torch's default for nn.Linear unless set")
    mode: Literal["fan_in", "fan_out"] = Field("fan_out", description="kaiming: preserve forward (fan_in) or backward (fan_out) variance")
    nonlinearity: Literal["relu", "leaky_relu", "linear", "tanh", "sigmoid"] = Field("relu", description="kaiming gain")
    std: float = Field(0.01, gt=0, description="std for normal / trunc_normal (truncated at +-2)")
    zero_init_residual: bool = Field(False, description="zero the last BN weight of every residual block")


class AuxHead(Strict):
    """An auxiliary classifier on an inner node: its loss counts in training only."""

    name: Optional[str] = None
    attach: str = Field(description="name of the node whose output feeds the head, e.g. inception4a")
    loss_weight: float = Field(0.3, ge=0)
    layers: list[Layer] = Field(min_length=1)  # type: ignore[valid-type]

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        return check_identifier(value)


class Spec(Strict):
    """An archc network spec."""

    archc: Literal[1] = Field(FORMAT_VERSION, description="format version")
    name: str = Field(description="Python identifier; the class name in generated code is derived from it")
    title: Optional[str] = Field(None, description="human-readable title (diagrams, reports)")
    description: Optional[str] = Field(None, description="what the network is and where it differs from others")
    references: list[Annotated[str, AfterValidator(check_text)]] = Field(
        default_factory=list, description="papers or code it follows")
    vars: dict[str, Union[int, float]] = Field(default_factory=dict, description="numbers usable as ${expr} anywhere")
    input: InputSpec = Field(default_factory=InputSpec, description="input image: channels and size")
    classes: PositiveInt = Field(1000, description="number of classes; default `out` of every fc without one")
    defaults: Defaults = Field(default_factory=Defaults, description="norm/act every conv unit gets")
    init: InitSpec = Field(default_factory=InitSpec, description="weight initialisation")
    stem: list[Layer] = Field(default_factory=list, description="layers before the stages")  # type: ignore[valid-type]
    stages: list[StageItem] = Field(min_length=1, description="residual / plain / inception / dense stages and bare layers")  # type: ignore[valid-type]
    head: Optional[list[Layer]] = Field(None, description="layers after the stages; default: [gap, fc]; []: none (a module alone, ending in feature maps)")  # type: ignore[valid-type]
    aux_heads: list[AuxHead] = Field(default_factory=list, description="auxiliary classifiers (training only)")
    _document: Optional[Document] = PrivateAttr(None)  # set by archc.spec.validate.validate_document only
    _limits: Optional[Limits] = PrivateAttr(None)

    @property
    def document(self) -> Optional[Document]:
        """The resolved YAML document it was validated from (locations for errors), if any."""
        return self._document

    @property
    def limits(self) -> Limits:
        """The size limits it was loaded under (archc.Limits), the defaults when none were given."""
        return self._limits or DEFAULT_LIMITS

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        check_identifier(value)
        derived = class_name(value) if value else ""
        if derived and keyword.iskeyword(derived):  # `none` -> class None
            raise ValueError(f"{value!r} would make the generated class {derived!r}, a Python keyword; "
                             "choose another name")
        return value

    @field_validator("title")
    @classmethod
    def _valid_title(cls, value: Optional[str]) -> Optional[str]:
        return check_text(value, limit=TITLE_MAX_CHARS)

    @field_validator("description")
    @classmethod
    def _valid_description(cls, value: Optional[str]) -> Optional[str]:
        return check_text(value, limit=DESCRIPTION_MAX_CHARS)

    def _repr_html_(self) -> str:
        """Jupyter: the lowered model's diagram and cost table, or archc's error (archc.serve.notebook)."""
        from archc.serve.notebook import spec_html

        return spec_html(self)


for _model in (Spec, InputSpec, Defaults, InitSpec, AuxHead, InceptionStage, InceptionModuleSpec, BranchItem,
               ResidualStage, PlainStage, BlockStage, DenseStage, TransitionSpec, Layer, StageItem):
    _model.model_rebuild()
