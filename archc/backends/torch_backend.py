"""IR -> torch.nn.Module whose module tree mirrors the spec (model.stage2.block3.conv1.conv)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Optional

import torch
from torch import nn

from archc.backends import modules as custom
from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, SeqNode
from archc.ops import INIT_RULES, ModuleCall


def module_class(name: str) -> Any:
    """Resolve a registry-declared class name: `nn.<Name>` from torch.nn, else a name defined in
    archc.backends.modules (whose source codegen copies into generated files)."""
    if name.startswith("nn."):
        found = getattr(nn, name[3:], None)
    else:
        found = custom.__dict__.get(name)
    if not callable(found) or name.startswith("_"):
        raise ValueError(f"unknown module class {name!r} in an op's ModuleCall (expected nn.<Name> or a name "
                         "defined in archc/backends/modules.py)")
    return found


def _argument(value: Any) -> Any:
    return instantiate(value) if isinstance(value, ModuleCall) else value


def instantiate(call: ModuleCall) -> nn.Module:
    """The module a registry ModuleCall describes; nested calls are built first."""
    args = [_argument(a) for a in call.args]
    kwargs = {k: _argument(v) for k, v in call.kwargs}
    return module_class(call.cls)(*args, **kwargs)


def _op(node: OpNode) -> nn.Module:
    return instantiate(node.module_call())


def _seq(node: SeqNode) -> nn.Module:
    return nn.Sequential(OrderedDict((child.name, build(child)) for child in node.items))


def _residual(node: ResidualNode) -> nn.Module:
    body = OrderedDict((child.name, build(child)) for child in node.body)
    shortcut = build(node.shortcut) if node.shortcut is not None else None
    act = build(node.post) if node.post is not None else None
    return custom.Residual(body, shortcut, act, node.zero_init_last_bn)


def _concat(node: ConcatNode) -> nn.Module:
    return custom.Concat(OrderedDict((b.name, build(b)) for b in node.branches))


def _gate(node: GateNode) -> nn.Module:
    return custom.Gate(OrderedDict((child.name, build(child)) for child in node.gate))


# the torch module of each IR node type (a new structure: one entry here)
build: NodeRules[nn.Module] = NodeRules("torch builder", {
    OpNode: _op, SeqNode: _seq, ResidualNode: _residual, ConcatNode: _concat, GateNode: _gate})


def execution_plan(model: Model) -> list[tuple[str, tuple[str, ...]]]:
    """Top-level steps in order; a stage holding an aux tap point is opened up so the tap can be read."""
    taps: dict[str, list[str]] = {}
    for aux in model.aux_heads:
        taps.setdefault(aux.attach, []).append(aux.name)

    def steps(node: Node) -> list[tuple[str, tuple[str, ...]]]:
        inside = [p for p in taps if p.startswith(node.path + ".")]
        if inside and isinstance(node, SeqNode):
            out: list[tuple[str, tuple[str, ...]]] = []
            for child in node.items:
                out.extend(steps(child))
            if node.path in taps:
                last_path, last_taps = out[-1]
                out[-1] = (last_path, last_taps + tuple(taps[node.path]))
            return out
        return [(node.path, tuple(taps.get(node.path, ())))]

    plan: list[tuple[str, tuple[str, ...]]] = []
    for child in model.body.items:
        plan.extend(steps(child))
    return plan


def init_class_names(model: Model) -> dict[str, tuple[str, ...]]:
    """Each registry init rule (conv, fc, norm) -> the names of the module classes that the model's ops of
    that rule build, in first-use order (nested ModuleCalls included; functions such as `seq` own no
    parameters). Derived from the ops' own calls, so a new op's modules are set by its rule with no list
    elsewhere. Raises ValueError if one class is built by ops of two rules (the init could not tell them
    apart)."""
    found: dict[str, dict[str, None]] = {rule: {} for rule in INIT_RULES}
    rule_of: dict[str, str] = {}
    for op in model.walk():
        if not isinstance(op, OpNode) or op.op.init is None:
            continue
        for call in op.module_call().calls():
            if not isinstance(module_class(call.cls), type):
                continue
            if rule_of.setdefault(call.cls, op.op.init) != op.op.init:
                raise ValueError(f"module class {call.cls} is built by ops of init rules {rule_of[call.cls]!r} and "
                                 f"{op.op.init!r} ({op.path}); expected one rule per class")
            found[op.op.init][call.cls] = None
    return {rule: tuple(names) for rule, names in found.items()}


def init_classes(model: Model) -> dict[str, tuple[type, ...]]:
    """`init_class_names` resolved to the classes (init_weights' `classes`)."""
    return {rule: tuple(module_class(name) for name in names) for rule, names in init_class_names(model).items()}


def init_kwargs(model: Model, init: Any = None) -> dict[str, Any]:
    """init_weights' arguments from the model's ops and init settings (or `init`, an InitSpec, in their place)."""
    init = model.init if init is None else init
    return {"classes": init_classes(model), "conv": init.conv, "fc": init.fc, "mode": init.mode,
            "nonlinearity": init.nonlinearity, "std": init.std}


def overwritten_by_init(net: nn.Module, model: Model, init: Any) -> set[int]:
    """ids of the modules whose parameters the init replaces: every module inside an op whose registry `init`
    rule names a scheme (conv or fc) that `init` (an InitSpec) sets to something other than `default`."""
    schemes = {"conv": init.conv, "fc": init.fc}
    out: set[int] = set()
    for op in model.walk():
        if isinstance(op, OpNode) and schemes.get(op.op.init or "", "default") != "default":
            out.update(id(m) for m in net.get_submodule(op.path).modules())
    return out


def _materialise(net: nn.Module, model: Model, init: Any) -> None:
    """Give meta-device parameters storage; run torch's default init only where the spec's init won't overwrite it."""
    net.to_empty(device="cpu")
    overwritten = overwritten_by_init(net, model, init)
    for module in net.modules():
        if not any(True for _ in module.parameters(recurse=False)) and not any(True for _ in module.buffers(recurse=False)):
            continue
        if id(module) in overwritten:
            continue
        reset = getattr(module, "reset_parameters", None)
        if reset is None:
            raise TypeError(f"{type(module).__name__} has parameters but no reset_parameters()")
        reset()


def build_module(model: Model) -> custom.Network:
    """The module on the meta device: structure only, no storage, no init (see `initialise`)."""
    with torch.device("meta"):  # skip torch's default init of weights the spec's init replaces anyway
        body = OrderedDict((child.name, build(child)) for child in model.body.items)
        aux = OrderedDict((a.name, build(a.head)) for a in model.aux_heads)
        net = custom.Network(body, aux, execution_plan(model), {a.name: a.loss_weight for a in model.aux_heads})
    net.archc_model = model  # type: ignore[attr-defined]  # the IR, for analyses and weight import
    return net


def initialise(net: nn.Module, model: Model, seed: Optional[int] = 0, init: Any = None) -> None:
    """Fresh storage and the spec's init (or `init`, an InitSpec, instead of the model's): the same weights as
    `to_torch(model, seed)` with that init, so one built module can be initialised again and again."""
    init = model.init if init is None else init
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        _materialise(net, model, init)
        custom.init_weights(net, **init_kwargs(model, init))


def to_torch(model: Model, seed: Optional[int] = 0) -> custom.Network:
    """Build and initialise the module; with a seed the weights are the same on every run."""
    net = build_module(model)
    initialise(net, model, seed)
    return net
