"""The IR: a tree of structured nodes (sequence, residual, concat, gate) over primitive ops, with shapes.

The tree mirrors the spec (model > stage > block > unit > op) and is what the torch backend and
codegen turn into modules; `archc.ir.dag` flattens it into an explicit DAG of ops for analyses.

Every backend handles the node types through ONE table, a `NodeRules` keyed by node type and checked
complete against `NODE_TYPES` when it is made: a new structure is one entry per backend, and a backend
that lacks one fails when it is imported, not on the first spec that uses the structure."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Generic, Iterator, Mapping, Optional, TypeVar

from archc.ops import REGISTRY, Cost, LayerParams, ModuleCall, OpDef, Shape


class Role(str, Enum):
    """What a node is in the network, in the field's terms; analyses, diagrams and the probe group by it.

    A str (compares, hashes and prints as its value: `Role.BLOCK == "block"`), so JSON and text outputs
    stay plain; a node made with any other role is refused (ValueError)."""

    MODEL = "model"  # the root sequence
    STEM = "stem"
    STAGE = "stage"
    BLOCK = "block"  # a residual, dense, inverted or plain block, or a transition
    MODULE = "module"  # an inception module
    BRANCH = "branch"  # one path of a concat
    CONCAT = "concat"  # a concat nested inside a branch (Inception-v3's 1x3 / 3x1 pairs)
    UNIT = "unit"  # op + norm + act written as one layer (a conv unit, a pre-activation, a dense layer)
    LAYER = "layer"  # a primitive op
    SHORTCUT = "shortcut"  # a residual block's projection or zero-pad shortcut
    GATE = "gate"  # a squeeze-excitation gate
    HEAD = "head"
    AUX = "aux"  # an auxiliary classifier (training only)

    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


@dataclass
class Node:
    name: str  # local name: the attribute in its parent module
    path: str  # dotted path from the model: "stage2.block3.conv1"
    in_shape: Shape
    out_shape: Shape
    spec_path: tuple  # where in the spec it came from (for errors and diagrams)
    role: Role
    meta: dict = field(default_factory=dict)  # display facts: block kind, shortcut kind, ...

    def __post_init__(self) -> None:
        self.role = Role(self.role)

    def children(self) -> list["Node"]:
        return []

    def ops(self) -> Iterator["OpNode"]:
        for child in self.children():
            yield from child.ops()

    def walk(self) -> Iterator["Node"]:
        yield self
        for child in self.children():
            yield from child.walk()

    @property
    def cost(self) -> Cost:
        params = macs = 0
        for op in self.ops():
            c = op.cost
            params += c.params
            macs += c.macs
        return Cost(params, macs)


@dataclass
class OpNode(Node):
    kind: str = ""
    params: Optional[LayerParams] = None

    @property
    def op(self) -> OpDef:
        return REGISTRY[self.kind]

    def ops(self) -> Iterator["OpNode"]:
        yield self

    @property
    def cost(self) -> Cost:
        return self.op.cost(self.params, self.in_shape, self.out_shape)

    def module_call(self) -> ModuleCall:
        return self.op.module(self.params, self.in_shape, self.out_shape)

    @property
    def label(self) -> str:
        return self.op.label(self.params, self.in_shape, self.out_shape)


@dataclass
class SeqNode(Node):
    """Children applied one after another."""

    items: list[Node] = field(default_factory=list)

    def children(self) -> list[Node]:
        return self.items


@dataclass
class ResidualNode(Node):
    """act(body(x) + shortcut(x))."""

    body: list[Node] = field(default_factory=list)
    shortcut: Optional[Node] = None  # None: identity
    post: Optional[OpNode] = None  # activation after the add
    shortcut_kind: str = "identity"  # identity | projection | pad
    zero_init_last_bn: bool = False

    def children(self) -> list[Node]:
        out = list(self.body)
        if self.shortcut is not None:
            out.append(self.shortcut)
        if self.post is not None:
            out.append(self.post)
        return out


@dataclass
class ConcatNode(Node):
    """Parallel branches concatenated on channels."""

    branches: list[SeqNode] = field(default_factory=list)

    def children(self) -> list[Node]:
        return list(self.branches)


@dataclass
class GateNode(Node):
    """x * gate(x), channel-wise: a multiplicative gate (squeeze-excitation, Hu et al. 2018, Fig. 1).

    `gate` maps the C x H x W input to one scale per channel, C x 1 x 1 (squeeze: global average pool;
    excitation: 1x1 conv C -> C/r + ReLU, 1x1 conv C/r -> C + sigmoid), broadcast over H x W and multiplied
    with the input; the output has the input's shape. The multiply has no parameters and counts 0 MACs (archc
    counts conv and fc multiply-adds; it is C*H*W multiplies). The scale is one number per channel, not a
    feature map: the gate adds no input -> output path (see archc.ir.dag)."""

    gate: list[Node] = field(default_factory=list)

    def children(self) -> list[Node]:
        return list(self.gate)


NODE_TYPES: tuple[type[Node], ...] = (OpNode, SeqNode, ResidualNode, ConcatNode, GateNode)
R = TypeVar("R")


class NodeRules(Generic[R]):
    """One backend's rules for the IR node types, keyed by type: `rules(node, *args)` calls the node's rule.

    Made complete or not at all: a table that misses a type of NODE_TYPES (or names another) raises TypeError
    when it is built, i.e. when its backend is imported."""

    def __init__(self, what: str, rules: Mapping[type, Callable[..., R]]) -> None:
        missing = [t.__name__ for t in NODE_TYPES if t not in rules]
        unknown = [getattr(t, "__name__", str(t)) for t in rules if t not in NODE_TYPES]
        if missing or unknown:
            raise TypeError(f"the {what} rules must cover exactly the IR node types "
                            f"({', '.join(t.__name__ for t in NODE_TYPES)}): "
                            + "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                                          f"unknown {', '.join(unknown)}" if unknown else "") if part))
        self.what = what
        self.rules: dict[type, Callable[..., R]] = dict(rules)

    def __call__(self, node: Node, *args: Any) -> R:
        rule = self.rules.get(type(node))
        if rule is None:
            raise TypeError(f"no {self.what} rule for {type(node).__name__}")
        return rule(node, *args)


@dataclass
class AuxHeadNode:
    name: str
    attach: str  # path of the node whose output feeds the head
    loss_weight: float
    head: SeqNode


@dataclass
class Model:
    """A lowered network: the body sequence (stem, stages, head), aux heads and init settings."""

    name: str
    class_name: str
    title: str
    input_shape: Shape
    classes: int
    body: SeqNode
    aux_heads: list[AuxHeadNode]
    init: Any  # archc.spec.model.InitSpec
    spec: Any  # archc.spec.model.Spec
    source: str = ""  # the spec file
    overrides: tuple = ()  # `--set` assignments applied to it

    @property
    def cost(self) -> Cost:
        return self.body.cost

    @property
    def is_classifier(self) -> bool:
        """False for a module alone (`head: []`): the network ends in feature maps, not class scores."""
        return tuple(self.body.out_shape) == (self.classes,)

    @property
    def output_text(self) -> str:
        """'1000 classes', or 'output 256x56x56 (no classifier)' for a module alone."""
        if self.is_classifier:
            return f"{self.classes} classes"
        return f"output {'x'.join(str(d) for d in self.body.out_shape)} (no classifier)"

    def cost_with_aux(self) -> Cost:
        total = self.body.cost
        for aux in self.aux_heads:
            c = aux.head.cost
            total = Cost(total.params + c.params, total.macs + c.macs)
        return total

    def _repr_html_(self) -> str:
        """Jupyter: the stage-level diagram and the per-stage cost table (archc.serve.notebook)."""
        from archc.serve.notebook import model_html

        return model_html(self)

    def find(self, path: str) -> Node:
        for node in self.walk():
            if node.path == path:
                return node
        raise KeyError(path)

    def walk(self) -> Iterator[Node]:
        for child in self.body.items:
            yield from child.walk()
        for aux in self.aux_heads:
            yield from aux.head.walk()

    @property
    def stages(self) -> list[Node]:
        """Top-level nodes: stem, each stage or bare layer, head."""
        return list(self.body.items)
