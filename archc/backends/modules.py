"""The few torch modules archc needs beyond torch.nn. Self-contained: codegen copies this source
verbatim into generated files, so it may import only torch."""
import math
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn


def seq(**layers: nn.Module) -> nn.Sequential:
    """nn.Sequential with named children, in the order given."""
    return nn.Sequential(OrderedDict(layers))


class FlattenLinear(nn.Linear):
    """Fully connected layer on the flattened input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.flatten(x, 1))


class ZeroPadShortcut(nn.Module):
    """Option-A shortcut: subsample by the stride, append zero channels (no parameters)."""

    def __init__(self, extra_channels: int, stride: int) -> None:
        super().__init__()
        self.extra_channels = extra_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))


class Residual(nn.Module):
    """act(body(x) + shortcut(x)); body layers are direct children (block.conv1, block.conv2, ...)."""

    def __init__(self, body: Dict[str, nn.Module], shortcut: Optional[nn.Module] = None,
                 act: Optional[nn.Module] = None, zero_init_last_bn: bool = False) -> None:
        super().__init__()
        for name, module in body.items():
            self.add_module(name, module)
        self.body_names: Tuple[str, ...] = tuple(body)
        self.shortcut = shortcut
        self.act = act
        self.zero_init_last_bn = zero_init_last_bn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for name in self.body_names:
            out = self._modules[name](out)
        out = out + (x if self.shortcut is None else self.shortcut(x))
        return out if self.act is None else self.act(out)


class Concat(nn.Module):
    """Parallel branches on the same input, concatenated on channels."""

    def __init__(self, branches: Dict[str, nn.Module]) -> None:
        super().__init__()
        for name, module in branches.items():
            self.add_module(name, module)
        self.branch_names: Tuple[str, ...] = tuple(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._modules[name](x) for name in self.branch_names], 1)


class Gate(nn.Module):
    """x * gate(x): the gate's layers (direct children: se.squeeze, se.reduce, ...) map x to one scale per
    channel, N x C x 1 x 1, broadcast over H x W (squeeze-excitation, Hu et al. 2018)."""

    def __init__(self, gate: Dict[str, nn.Module]) -> None:
        super().__init__()
        for name, module in gate.items():
            self.add_module(name, module)
        self.gate_names: Tuple[str, ...] = tuple(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x
        for name in self.gate_names:
            scale = self._modules[name](scale)
        return x * scale


class Network(nn.Module):
    """The whole net: body children run in order; in training, aux heads read their tapped nodes.

    eval mode: forward returns logits. train mode with aux heads: (logits, {aux name: aux logits}).
    """

    def __init__(self, body: "OrderedDict[str, nn.Module]", aux_heads: "OrderedDict[str, nn.Module]",
                 plan: List[Tuple[str, Tuple[str, ...]]], aux_loss_weights: Dict[str, float]) -> None:
        super().__init__()
        for name, module in body.items():
            self.add_module(name, module)
        for name, module in aux_heads.items():
            self.add_module(name, module)
        self.plan = plan  # [(module path, aux heads reading its output)], in execution order
        self.aux_loss_weights = dict(aux_loss_weights)

    def forward(self, x: torch.Tensor):
        aux: Dict[str, torch.Tensor] = {}
        for path, taps in self.plan:
            x = self.get_submodule(path)(x)
            if taps and self.training:
                for name in taps:
                    aux[name] = self._modules[name](x)
        if self.training and self.aux_loss_weights:
            return x, aux
        return x


def init_weights(model: nn.Module, classes: Dict[str, Tuple[type, ...]], conv: str = "kaiming_normal",
                 fc: str = "default", mode: str = "fan_out", nonlinearity: str = "relu", std: float = 0.01) -> None:
    """Initialise conv/fc weights by scheme, norms to (1, 0); zero the last norm of flagged residual blocks.

    `classes` maps each init rule (conv, fc, norm) to the module classes it sets: archc derives it from
    the op registry's `init` rules (archc.backends.torch_backend.init_classes); a generated file states it.
    A grouped conv's fan-out is divided by its groups (as timm does): each input feeds only the
    out/groups outputs of its group, so a depthwise 3x3 has fan-out 9, not 9 x channels. torch's own
    initialisers ignore groups there; fan-in (weight.shape[1] x kh x kw) is per group already."""
    conv_classes, fc_classes, norm_classes = (classes.get(rule, ()) for rule in ("conv", "fc", "norm"))

    def grouped(weight: torch.Tensor, scheme: str, groups: int) -> None:
        receptive = weight[0][0].numel()
        fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive // groups
        if scheme.startswith("kaiming"):
            std = nn.init.calculate_gain(nonlinearity, 0) / math.sqrt(fan_in if mode == "fan_in" else fan_out)
        else:
            std = math.sqrt(2.0 / float(fan_in + fan_out))
        with torch.no_grad():
            if scheme.endswith("normal"):
                weight.normal_(0.0, std)
            else:
                bound = math.sqrt(3.0) * std
                weight.uniform_(-bound, bound)

    def apply(weight: torch.Tensor, bias: Optional[torch.Tensor], scheme: str, groups: int = 1) -> None:
        if scheme == "default":
            return
        if groups > 1 and scheme in ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"):
            grouped(weight, scheme, groups)
        elif scheme == "kaiming_normal":
            nn.init.kaiming_normal_(weight, mode=mode, nonlinearity=nonlinearity)
        elif scheme == "kaiming_uniform":
            nn.init.kaiming_uniform_(weight, mode=mode, nonlinearity=nonlinearity)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(weight)
        elif scheme == "xavier_uniform":
            nn.init.xavier_uniform_(weight)
        elif scheme == "trunc_normal":
            nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-2.0, b=2.0)
        elif scheme == "normal":
            nn.init.normal_(weight, 0.0, std)
        else:
            raise ValueError(f"unknown init scheme {scheme!r}")
        if bias is not None:
            nn.init.zeros_(bias)

    for m in model.modules():
        if conv_classes and isinstance(m, conv_classes):
            apply(m.weight, m.bias, conv, getattr(m, "groups", 1))
        elif fc_classes and isinstance(m, fc_classes):
            apply(m.weight, m.bias, fc)
        elif norm_classes and isinstance(m, norm_classes):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    for m in model.modules():
        if isinstance(m, Residual) and m.zero_init_last_bn:
            last_bn = None
            for name in m.body_names:
                for sub in m._modules[name].modules():
                    if norm_classes and isinstance(sub, norm_classes):
                        last_bn = sub
            if last_bn is not None:
                nn.init.zeros_(last_bn.weight)
