"""Every registered op keeps its whole contract (as timm tests every registered model).

For each op of the registry, on its declared `example` (a 4 x 8 x 8 input):
  - the torch module's parameter count equals the analytic one, and its output shape the inferred one;
  - fvcore counts the analytic MACs, or the op says why not (`fvcore_differs`, and then it does differ);
  - the watched parameters exist; an op without an init rule has no parameters;
  - in a minimal spec using the op: the compiled net's parameters equal the analytic total, every op's
    real output shape equals its inferred shape, the generated source imports and gives identical outputs,
    and the probe finds every weight it watches.
A new op is tested here without being named here."""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archc
from archc.backends.modules import init_weights
from archc.backends.torch_backend import init_kwargs, instantiate
from archc.ir.graph import Model, OpNode
from archc.ops import REGISTRY, LayerContext, OpDef, Shape
from archc.probe.layers import watched_layers
from archc.spec.model import UNIT_SETTING_KINDS, InitSpec

from codegen_helpers import import_generated

X: Shape = (4, 8, 8)
CLASSES = 3
KINDS = sorted(REGISTRY)
# ops a spec cannot write: the stage in which the compiler places each (a new one must be added here)
PLACED = {"pad_shortcut": {"residual": {"block": "basic", "width": 8, "stride": 2, "shortcut": "pad"}}}


def resolved(op: OpDef) -> tuple[Any, Shape]:
    p = op.resolve(op.Params(**op.example), LayerContext(classes=CLASSES), X)
    return p, op.shape(p, X)


def fvcore_macs(module: nn.Module, x: torch.Tensor) -> int:
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(module, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return int(analysis.total())


@pytest.mark.parametrize("kind", KINDS)
def test_module_matches_the_analytic_rules(kind: str) -> None:
    op = REGISTRY[kind]
    p, y = resolved(op)
    cost = op.cost(p, X, y)
    module = instantiate(op.module(p, X, y)).eval()
    x = torch.randn(2, *X)
    with torch.no_grad():
        out = module(x)
    assert tuple(out.shape) == (2, *y), f"{kind}: inferred {y}, torch gives {tuple(out.shape[1:])}"
    assert sum(t.numel() for t in module.parameters()) == cost.params, kind
    counted = fvcore_macs(module, x[:1])
    if op.fvcore_differs:
        assert counted != cost.macs, f"{kind} declares fvcore differs ({op.fvcore_differs}) but it agrees"
    else:
        assert counted == cost.macs, f"{kind}: fvcore {counted:,} MACs, analytic {cost.macs:,}"
    named = dict(module.named_parameters())
    assert set(op.watched(p)) <= set(named), f"{kind} watches {op.watched(p)}, module has {sorted(named)}"
    assert bool(op.watched(p)) == op.weighted, f"{kind}: a weighted op watches its weights, others watch none"
    if op.init is None:  # torch's own reset would set them, outside the spec's `init`
        assert not list(module.parameters()), f"{kind} has parameters but no init rule"
    formula = op.formula(p, X, y)
    if formula is not None:  # the reports' "k*k*C_in*C_out*H*W" must multiply out to the MACs
        assert sum(eval_product(t) for t in formula.split(" + ")) == cost.macs, f"{kind}: {formula}"


def eval_product(term: str) -> int:
    out = 1
    for factor in term.split("*"):
        out *= int(factor)
    return out


def spec_using(kind: str) -> str:
    op = REGISTRY[kind]
    if op.spec_layer:
        _, y = resolved(op)
        stage: dict = {kind: op.example}
        head = [{"fc": {}}] if len(y) == 1 else [{"gap": {}}, {"fc": {}}]
    else:
        assert kind in PLACED, f"{kind} is placed by the compiler only: add the stage that places it to PLACED"
        stage, head = PLACED[kind], [{"gap": {}}, {"fc": {}}]
    return json.dumps({"archc": 1, "name": f"contract_{kind}", "input": {"channels": X[0], "size": X[1]},
                       "classes": CLASSES, "stages": [stage], "head": head})


def real_shapes(net: nn.Module, model: Model, x: torch.Tensor) -> dict[str, Shape]:
    seen: dict[str, Shape] = {}
    handles = []
    for op in model.body.ops():
        def hook(_m: nn.Module, _i: Any, out: torch.Tensor, path: str = op.path) -> None:
            seen[path] = tuple(out.shape[1:])
        handles.append(net.get_submodule(op.path).register_forward_hook(hook))
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return seen


@pytest.mark.parametrize("kind", KINDS)
def test_a_spec_using_the_op_builds_generates_and_is_probed(kind: str, tmp_path: Path) -> None:
    model = archc.lower(archc.loads(spec_using(kind)))
    ops = [op for op in model.walk() if isinstance(op, OpNode) and op.kind == kind]
    assert ops, f"the spec for {kind} does not use it"
    net = archc.compile(model, seed=0).eval()
    assert sum(t.numel() for t in net.parameters()) == model.cost_with_aux().params
    x = torch.randn(2, *model.input_shape)
    shapes = real_shapes(net, model, x)
    for op in model.body.ops():
        assert shapes[op.path] == tuple(op.out_shape), f"{op.path}: inferred {op.out_shape}, real {shapes[op.path]}"
    generated = import_generated(archc.generate_source(model), tmp_path, f"gen_{kind}")
    twin = getattr(generated, model.class_name)()
    twin.load_state_dict(net.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(twin.eval()(x), net(x))
    assert_init_rule_sets_every_parameter(net, model, kind)
    params = dict(net.named_parameters())
    watched = watched_layers(model)
    expected = [f"{op.path}.{name}" for op in ops for name in op.op.watched(op.params)]
    assert set(expected) <= {layer.param for layer in watched}
    assert all(layer.param in params for layer in watched)


def assert_init_rule_sets_every_parameter(net: nn.Module, model: Model, kind: str) -> None:
    """The init, given the classes derived from the ops' rules, overwrites every parameter of every op."""
    with torch.no_grad():
        for t in net.parameters():
            t.fill_(float("nan"))
    kwargs = init_kwargs(model, InitSpec(conv="kaiming_normal", fc="normal"))
    init_weights(net, **kwargs)
    for op in (op for op in model.walk() if isinstance(op, OpNode)):
        for name, t in net.get_submodule(op.path).named_parameters():
            assert not t.isnan().any(), f"{kind}: {op.path}.{name} ({op.kind}, init rule {op.op.init!r}) not set " \
                                        f"by init_weights with classes {kwargs['classes']}"


def test_every_op_declares_an_example_that_shapes() -> None:
    """The examples themselves must be valid uses (else the tests above would test nothing)."""
    for kind in KINDS:
        resolved(REGISTRY[kind])


def test_registration_refuses_a_missing_rule_and_a_late_op() -> None:
    from archc.ops import Cost, ModuleCall, NoParams, Registry

    class NoCost(OpDef):
        kind = "nocost"
        Params = NoParams
        category = "act"
        example: dict = {}

        def shape(self, p: Any, x: Shape) -> Shape:
            return x

        def module(self, p: Any, x: Shape, y: Shape) -> ModuleCall:
            return ModuleCall("nn.Identity")

    registry = Registry()
    with pytest.raises(ValueError, match="'nocost' has no cost rule"):
        registry.register(NoCost)

    class Fine(NoCost):
        kind = "fine"

        def cost(self, p: Any, x: Shape, y: Shape) -> Cost:
            return Cost()

        def unit_params(self, ctx: LayerContext) -> Any:
            return NoParams()

    registry.register(Fine)
    assert registry.finalise().activations == ("fine",)

    class Late(Fine):
        kind = "late"

    with pytest.raises(ValueError, match="after the registry was finalised"):
        registry.register(Late)


@pytest.mark.parametrize("kind", UNIT_SETTING_KINDS)
def test_a_placed_op_takes_its_parameters_from_defaults(kind: str) -> None:
    """`defaults.<kind>` reaches every `kind` the compiler places in a unit, for any unit norm or activation:
    a new one needs no field in the spec schema."""
    op = REGISTRY[kind]
    role = "norm" if op.unit_norm else "act"
    given = {k: v for k, v in op.example.items() if k != "name"}
    spec = json.dumps({"archc": 1, "name": f"defaults_{kind}", "input": {"channels": 4, "size": 8}, "classes": 3,
                       "defaults": {role: kind, kind: given},
                       "stages": [{"conv": {"out": 4}}, {"residual": {"block": "basic", "width": 4}}]})
    model = archc.lower(archc.loads(spec))
    placed = [node for node in model.walk() if isinstance(node, OpNode) and node.kind == kind]
    assert len(placed) >= 3, f"{kind}: placed {len(placed)} times"
    for node in placed:
        assert {k: getattr(node.params, k) for k in given} == given, f"{node.path}: {node.params}"
        assert node.name == (op.unit_name if op.unit_norm else "act"), node.path
    net = archc.compile(model)
    assert tuple(net(torch.randn(2, 4, 8, 8)).shape) == (2, CLASSES)
