"""Load torchvision's weights into an archc-compiled module by walking both module trees in step.

Both trees are flattened into their *stateful* layers (modules owning parameters or buffers: conv,
batch norm, fc), in registration order, which for archc and torchvision alike is execution order
of the main path. Auxiliary classifiers are matched separately, head by head (archc keeps them
after the head, torchvision's GoogLeNet before its classifier; torchvision names them `aux1`,
`aux2` / `AuxLogits`). Layer i of one tree must then be the same kind of layer as layer i of the
other, with the same tensor names and shapes and the same output-affecting settings (stride,
padding, groups, BN eps, ...); otherwise a ValueError names the first difference and nothing is
copied. No key table: a spec whose layers line up with torchvision's loads its weights.

torchvision is optional: it is imported only by `from_torchvision`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import torch
from torch import nn

if TYPE_CHECKING:
    from archc.api import SpecLike
    from archc.backends.modules import Network

# archc spec name -> torchvision builder, where the two differ
TORCHVISION_NAMES: dict[str, str] = {"googlenet_tv": "googlenet"}


@dataclass(frozen=True)
class StatefulLayer:
    """One stateful layer of a module tree: its dotted name, module and own tensors."""

    name: str
    module: nn.Module
    tensors: dict[str, torch.Tensor]

    def describe(self) -> str:
        """`name (Conv2d 64->128 3x3 /2)` for error messages."""
        return f"{self.name or '<root>'} ({_kind(self.module)} {_config_text(self.module)})"


def _kind(module: nn.Module) -> str:
    """The layer kind, ignoring archc's thin subclasses (FlattenLinear is a Linear)."""
    for base in (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.LocalResponseNorm):
        if isinstance(module, base):
            return base.__name__
    return type(module).__name__


def _config(module: nn.Module) -> tuple:
    """The settings of a layer that change its output (besides its tensors)."""
    if isinstance(module, nn.Conv2d):
        return (module.in_channels, module.out_channels, tuple(module.kernel_size), tuple(module.stride),
                tuple(module.padding) if not isinstance(module.padding, str) else module.padding,
                tuple(module.dilation), module.groups, module.bias is not None, module.padding_mode)
    if isinstance(module, nn.BatchNorm2d):
        return (module.num_features, float(module.eps), module.affine, module.track_running_stats)
    if isinstance(module, nn.Linear):
        return (module.in_features, module.out_features, module.bias is not None)
    return ()


def _config_text(module: nn.Module) -> str:
    """64->128 3x3 /2 pad 1: a layer's settings in words."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        text = f"{module.in_channels}->{module.out_channels} {kh}x{kw}"
        if tuple(module.stride) != (1, 1):
            text += f" /{module.stride[0]}"
        pad = module.padding
        if isinstance(pad, str) or tuple(pad) != (0, 0):
            text += f" pad {pad if isinstance(pad, str) else pad[0]}"
        if module.groups != 1:
            text += f" g{module.groups}"
        return text + ("" if module.bias is None else " +bias")
    if isinstance(module, nn.BatchNorm2d):
        return f"{module.num_features} eps={module.eps:g}"
    if isinstance(module, nn.Linear):
        return f"{module.in_features}->{module.out_features}"
    return ", ".join(f"{k} {tuple(t.shape)}" for k, t in _own_tensors(module).items())


def _own_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and persistent buffers the module holds itself (not its children's)."""
    out: dict[str, torch.Tensor] = {}
    for key, value in module._parameters.items():
        if value is not None:
            out[key] = value
    skip = getattr(module, "_non_persistent_buffers_set", set())
    for key, value in module._buffers.items():
        if value is not None and key not in skip:
            out[key] = value
    return out


def stateful_layers(module: Optional[nn.Module], prefix: str = "") -> list[StatefulLayer]:
    """The layers of a tree that own tensors, in registration order."""
    if module is None:
        return []
    out = []
    for name, sub in module.named_modules(prefix=prefix):
        tensors = _own_tensors(sub)
        if tensors:
            out.append(StatefulLayer(name, sub, tensors))
    return out


def _is_torchvision_aux(name: str) -> bool:
    """torchvision names its auxiliary classifiers aux1, aux2 (GoogLeNet) and AuxLogits (Inception v3)."""
    return name.lower().startswith("aux")


def _split_archc(net: nn.Module) -> tuple[list[StatefulLayer], list[tuple[str, list[StatefulLayer]]]]:
    """archc's main-path layers (stem, stages, head), and its aux heads in spec order."""
    aux_names = list(getattr(net, "aux_loss_weights", {}) or {})
    main: list[StatefulLayer] = []
    for name, child in net.named_children():
        if name not in aux_names:
            main.extend(stateful_layers(child, name))
    aux = [(name, stateful_layers(getattr(net, name), name)) for name in aux_names]
    return main, aux


def _split_torchvision(tv_model: nn.Module) -> tuple[list[StatefulLayer], list[tuple[str, list[StatefulLayer]]]]:
    """torchvision's main-path layers, and its aux heads (children named aux*), each with its layers."""
    main = [layer for layer in stateful_layers(tv_model) if not _is_torchvision_aux(layer.name.split(".")[0])]
    aux = [(name, stateful_layers(child, name)) for name, child in tv_model.named_children()
           if _is_torchvision_aux(name) and child is not None]
    return main, aux


Pairs = list[tuple[StatefulLayer, StatefulLayer]]


def _pair_up(ours: list[StatefulLayer], theirs: list[StatefulLayer], what: str, check_config: bool) -> Pairs:
    """Zip two layer lists, raising ValueError at the first layer that differs."""
    for mine, tv in zip(ours, theirs):
        problem = ""
        if _kind(mine.module) != _kind(tv.module):
            problem = "different layer kinds"
        elif sorted(mine.tensors) != sorted(tv.tensors):
            problem = f"different tensors ({', '.join(sorted(mine.tensors))} vs {', '.join(sorted(tv.tensors))})"
        else:
            for key in mine.tensors:
                if mine.tensors[key].shape != tv.tensors[key].shape:
                    problem = (f"{key} shapes differ ({tuple(mine.tensors[key].shape)} vs "
                               f"{tuple(tv.tensors[key].shape)})")
                    break
            else:
                if check_config and _config(mine.module) != _config(tv.module):
                    problem = "different settings"
        if problem:
            raise ValueError(f"architectures do not match in {what}: archc {mine.describe()} vs torchvision "
                             f"{tv.describe()}: {problem}")
    if len(ours) != len(theirs):
        longer, side = (ours, "archc") if len(ours) > len(theirs) else (theirs, "torchvision")
        extra = longer[min(len(ours), len(theirs))]
        raise ValueError(f"architectures do not match in {what}: archc has {len(ours)} layers with weights, "
                         f"torchvision {len(theirs)}; {side} goes on with {extra.describe()}")
    return list(zip(ours, theirs))


def load_torchvision_weights(net: nn.Module, tv_model: nn.Module, check_config: bool = True) -> list[tuple[str, str]]:
    """Copy a torchvision model's parameters and buffers into an archc module; returns (archc, torchvision) names.

    Raises ValueError, copying nothing, when the two architectures do not line up layer by layer;
    `check_config=False` still requires equal shapes but allows different strides, paddings or BN eps
    (e.g. torchvision's v1.5 ResNet-50 weights into the paper's v1).
    """
    main, aux = _split_archc(net)
    tv_main, tv_aux = _split_torchvision(tv_model)
    pairs = _pair_up(main, tv_main, "the main path", check_config)
    if len(aux) != len(tv_aux):
        raise ValueError(f"architectures do not match: archc has {len(aux)} aux heads "
                         f"({', '.join(n for n, _ in aux) or 'none'}), torchvision {len(tv_aux)} "
                         f"({', '.join(n for n, _ in tv_aux) or 'none'}); build torchvision's model with "
                         f"aux_logits={bool(aux)} or change the spec's aux_heads")
    for (name, layers), (tv_name, tv_layers) in zip(aux, tv_aux):
        pairs += _pair_up(layers, tv_layers, f"aux head {name} / {tv_name}", check_config)
    with torch.no_grad():
        for mine, tv in pairs:
            for key, tensor in mine.tensors.items():
                tensor.copy_(tv.tensors[key])
    return [(mine.name, tv.name) for mine, tv in pairs]


def torchvision_kwargs(tv_name: str, aux_heads: int, classes: int) -> dict[str, Any]:
    """Constructor arguments that make torchvision build the architecture the spec describes."""
    kwargs: dict[str, Any] = {"num_classes": classes}
    if tv_name in ("googlenet", "inception_v3"):
        # archc has no input re-normalisation layer: torchvision's transform_input must stay off
        kwargs.update(aux_logits=aux_heads > 0, transform_input=False, init_weights=True)
    return kwargs


def from_torchvision(spec: "SpecLike", weights: Any = None, tv_name: Optional[str] = None,
                     seed: Optional[int] = 0, overrides: Iterable[str] = (),
                     check_config: bool = True) -> tuple["Network", nn.Module]:
    """Build the archc module and torchvision's model for a spec, load the latter's weights into the former.

    `spec` is a path, a bundled spec name (`resnet50`, `googlenet_tv`), a Spec or an IR Model.
    `weights` goes to torchvision (None: random init; "DEFAULT" or a weights enum: pretrained).
    Note: torchvision's pretrained GoogLeNet expects `transform_input=True`; archc's compiled model
    has no such step, so feed it inputs normalised the way that transform produces.
    Returns (archc module, torchvision model), both in eval mode.
    """
    import archc

    try:
        import torchvision
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("from_torchvision needs torchvision: pip install 'archc[vision]'") from exc
    if isinstance(spec, str) and not Path(spec).exists():
        from archc.bundled import resolve_spec_arg

        spec = resolve_spec_arg(spec)
    model = archc.lower(spec, overrides)
    name = tv_name or TORCHVISION_NAMES.get(model.name, model.name)
    if name not in torchvision.models.list_models(module=torchvision.models):
        raise ValueError(f"torchvision has no classification model {name!r} for spec {model.name!r}; pass tv_name=")
    tv_model = torchvision.models.get_model(name, weights=weights,
                                            **torchvision_kwargs(name, len(model.aux_heads), model.classes))
    net = archc.compile(model, seed=seed)
    try:
        load_torchvision_weights(net, tv_model, check_config=check_config)
    except ValueError as exc:
        twins = [k for k, v in TORCHVISION_NAMES.items() if v == name and k != model.name]
        hint = f" (torchvision's {name} is archc's {twins[0]!r} spec)" if twins else ""
        raise ValueError(f"{exc}{hint}") from None
    return net.eval(), tv_model.eval()
