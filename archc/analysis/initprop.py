"""Signal propagation at initialisation: std of activations and gradients per weighted layer.

For each init scheme the spec is re-lowered with `init` overridden (conv and fc alike), compiled
with a fixed seed, and one forward/backward pass of a random batch (train mode, cross-entropy
against random labels; a module alone, ending in feature maps, gets a unit-variance random gradient at
its output instead) records, at the output of every conv/fc op on the main path, the std of
the activation and of the loss gradient. When the net has norm layers, a second variant replaces
them with identities (same weights): batch norm hides the init's effect, removing it shows it.
CPU only; 1 thread, so the numbers are the same on every machine (rounded to 4 significant digits).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator, Optional

from archc.analysis.crosscheck import torch_threads
from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, SeqNode

# scheme name -> InitSpec fields (conv and fc get the same scheme)
SCHEMES: dict[str, dict[str, str]] = {
    "kaiming_fan_in": {"conv": "kaiming_normal", "fc": "kaiming_normal", "mode": "fan_in"},
    "kaiming_fan_out": {"conv": "kaiming_normal", "fc": "kaiming_normal", "mode": "fan_out"},
    "xavier": {"conv": "xavier_normal", "fc": "xavier_normal"},
    "torch_default": {"conv": "default", "fc": "default"},
}
# None: every net at its own input size. Shrinking ImageNet nets to 64x64 (as once done, for speed) leaves 2x2
# maps in the last stage, where a padded 3x3 conv sees mostly zeros and each layer loses variance: He (fan-in)
# init then seemed to fall 100x over plain-34's depth, while at 224x224 it stays within 0.9-3.4.
DEFAULT_SIZE: Optional[int] = None


@dataclass(frozen=True)
class InitConfig:
    batch: Optional[int] = None  # None: pixel_budget // (H * W), clamped to 2..16
    pixel_budget: int = 8 * 32 * 32  # 8 CIFAR images; 2 at 64x64 and above
    size: Optional[int] = DEFAULT_SIZE  # None: the spec's input size; a number shrinks larger inputs to it
    seed: int = 0
    schemes: tuple[str, ...] = tuple(SCHEMES)
    without_norm: bool = True


def batch_size(cfg: InitConfig, shape: tuple) -> int:
    if cfg.batch is not None:
        return cfg.batch
    pixels = shape[1] * shape[2] if len(shape) == 3 else 1
    return max(2, min(16, cfg.pixel_budget // pixels))


def _sig(x: float, digits: int = 4) -> Optional[float]:
    """Rounded to `digits` significant digits; None for inf/nan (an exploded signal), valid in JSON."""
    import math

    return float(f"{x:.{digits}g}") if math.isfinite(x) else None


def relower(model: Model, **updates: Any) -> Model:
    """The model's spec with top-level fields replaced (pydantic copies), lowered again."""
    from archc.ir.lower import lower

    spec = model.spec.model_copy(update=updates, deep=True)
    return lower(spec, None, model.spec.limits)


def _at_size(model: Model, size: Optional[int]) -> Model:
    from archc.errors import SpecError

    h = model.input_shape[1]
    if size is None or h <= size:
        return model
    try:
        return relower(model, input=model.spec.input.model_copy(update={"size": size}))
    except SpecError:
        return model  # the net needs its own size (fixed pools, aux heads)


def _feature_ops(node: Node) -> Iterator[OpNode]:
    """The ops under `node` that the signal passes through, in order (see FEATURE_OPS)."""
    return FEATURE_OPS(node)


def _children_ops(node: Node) -> Iterator[OpNode]:
    for child in node.children():
        yield from _feature_ops(child)


def _op_itself(node: OpNode) -> Iterator[OpNode]:
    yield node


def _no_ops(node: GateNode) -> Iterator[OpNode]:
    return iter(())


# the ops of each IR node type whose outputs the study records (a new structure: one entry here). A gate's
# squeeze and excitation compute one scale per channel off the feature path (archc.ir.dag): the study follows
# the feature maps, where the gate's effect shows (at init its sigmoid is near 0.5, about halving the body's
# output), and leaves the gate's own convs out
FEATURE_OPS: NodeRules[Iterator[OpNode]] = NodeRules("init propagation", {
    OpNode: _op_itself, SeqNode: _children_ops, ResidualNode: _children_ops, ConcatNode: _children_ops,
    GateNode: _no_ops})


def studied_layers(model: Model) -> list[OpNode]:
    """The conv/fc ops whose outputs the study records: on the feature-map path (a gate's own convs left out)."""
    return [op for op in _feature_ops(model.body) if op.op.weighted]


_weighted_ops = studied_layers


def _swap_norms(net: Any, model: Model, replacements: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """Put `replacements` (path -> module; default: identities) in place of the norm layers of the built module;
    returns the modules taken out, so a second call puts them back."""
    from torch import nn

    taken: dict[str, Any] = {}
    for op in model.body.ops():
        if op.op.category == "norm":
            parent, _, name = op.path.rpartition(".")
            owner = net.get_submodule(parent) if parent else net
            taken[op.path] = getattr(owner, name)
            setattr(owner, name, replacements[op.path] if replacements is not None else nn.Identity())
    return taken


def _run(net: Any, model: Model, cfg: InitConfig) -> dict[str, list[float]]:
    """One forward/backward pass of the (initialised) module: std of outputs and gradients per weighted op."""
    import torch
    from torch import nn

    net.train()
    for p in net.parameters():  # the gradients wanted are the activations'; weight gradients would cost time
        p.requires_grad_(False)
    ops = _weighted_ops(model)
    acts: dict[str, float] = {}
    grads: dict[str, float] = {}
    handles = []

    def hook(path: str):
        def fn(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            acts[path] = float(output.detach().std())
            if output.requires_grad:
                output.register_hook(lambda g: grads.__setitem__(path, float(g.std())))
        return fn

    for op in ops:
        handles.append(net.get_submodule(op.path).register_forward_hook(hook(op.path)))
    gen = torch.Generator().manual_seed(cfg.seed)
    batch = batch_size(cfg, model.input_shape)
    # drawn in float32 (the same numbers as ever), computed in the net's dtype; requires_grad: every output
    # then has a gradient
    x = torch.randn(batch, *model.input_shape, generator=gen).to(next(net.parameters()).dtype).requires_grad_()
    labels = torch.randint(0, model.classes, (batch,), generator=gen)
    torch.manual_seed(cfg.seed)  # dropout in train mode draws from the global generator (forked by the caller)
    try:
        out = net(x)
        logits = out[0] if isinstance(out, tuple) else out
        if tuple(logits.shape[1:]) == (model.classes,):
            loss = nn.functional.cross_entropy(logits, labels)
        else:  # a module alone ends in feature maps: a unit-variance random gradient arrives at its output
            loss = (logits * torch.randn(logits.shape, generator=gen).to(logits.dtype)).sum()
        loss.backward()
    finally:
        for h in handles:
            h.remove()
        net.zero_grad(set_to_none=True)
    missing = [op.path for op in ops if op.path not in acts or op.path not in grads]
    if missing:
        raise RuntimeError(f"no activation/gradient recorded at {missing[:3]}")
    return {"activation_std": [_sig(acts[op.path]) for op in ops],
            "gradient_std": [_sig(grads[op.path]) for op in ops],
            "loss": _sig(loss.item())}


def init_propagation(model: Model, cfg: InitConfig = InitConfig()) -> dict[str, Any]:
    """Per scheme (and without norm layers when the net has them): std of activations/gradients per layer."""
    import torch

    from archc.backends.torch_backend import build_module, initialise

    unknown = [s for s in cfg.schemes if s not in SCHEMES]
    if unknown:
        raise ValueError(f"unknown init scheme(s) {unknown}; expected some of {sorted(SCHEMES)}")
    base = _at_size(model, cfg.size)
    if not _weighted_ops(base):
        raise ValueError(f"{model.name} has no conv or fc layer: nothing to initialise")
    has_norm = any(op.op.category == "norm" for op in base.body.ops())
    variants = [("as specified", False)] + ([("norm layers removed", True)] if has_norm and cfg.without_norm else [])
    weighted = _weighted_ops(base)
    layers = [op.path for op in weighted]
    feature_maps = [len(op.out_shape) == 3 for op in weighted]
    results: dict[str, dict[str, Any]] = {scheme: {} for scheme in cfg.schemes}
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        # one module for every scheme and variant, initialised once per scheme (the same weights as a fresh
        # build of the spec re-lowered with that init); the variant without norm layers swaps them for
        # identities and back (a forward pass changes no weight, only norm statistics, which the next
        # initialisation resets)
        # float64 passes: float32 kernels differ between CPUs (oneDNN picks by instruction set) in the 4th
        # digit of a deep net's gradient stds; in float64 the reported 4 digits are the same on every machine
        net = build_module(base)
        for module in net.modules():  # in place, a ReLU after a removed norm would overwrite a tensor that
            if getattr(module, "inplace", False):  # a shortcut or the input still reads (pre-activation nets)
                module.inplace = False
        for scheme in cfg.schemes:
            net.float()  # initialised in float32: the same weights as a float32 build, then widened exactly
            initialise(net, base, cfg.seed, init=model.spec.init.model_copy(update=SCHEMES[scheme]))
            net.double()
            for label, strip in variants:
                if strip:
                    norms = _swap_norms(net, base)
                    results[scheme][label] = _run(net, base, cfg)
                    _swap_norms(net, base, norms)
                else:
                    results[scheme][label] = _run(net, base, cfg)
    return {"input": list(base.input_shape), "batch": batch_size(cfg, base.input_shape), "seed": cfg.seed,
            "layers": layers,
            "feature_map": feature_maps,
            "variants": [label for label, _ in variants], "schemes": {k: SCHEMES[k] for k in cfg.schemes},
            "spec_init": model.spec.init.model_dump(), "results": results,
            "method": "one forward/backward pass in train mode on a random N(0,1) batch, cross-entropy against "
                      "random labels; std of each conv/fc output and of the loss gradient there"}


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Per scheme and variant: std of activations and of gradients at the first and the last conv
    (feature-map) layer, and the ratios last/first (activations) and first/last (gradients)."""
    maps = [i for i, f in enumerate(result["feature_map"]) if f] or [0]
    first, last = maps[0], maps[-1]
    rows = []
    for scheme in sorted(result["results"]):
        for variant in result["variants"]:
            r = result["results"][scheme][variant]
            a, g = r["activation_std"], r["gradient_std"]
            rows.append({"scheme": scheme, "variant": variant, "act_first": a[first], "act_last": a[last],
                         "act_ratio": _ratio(a[last], a[first]), "grad_first": g[first], "grad_last": g[last],
                         "grad_ratio": _ratio(g[first], g[last])})
    return rows


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return _sig(a / b) if a is not None and b else None
