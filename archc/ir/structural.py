"""Lowering of the structural layers (archc.spec.structural): a spec kind -> the IR structure it builds.

`LAYER_RULES` maps each structural layer kind to its lowering rule, which `Lowerer.layer` calls in place of
the registry's op rules: (lowerer, params, name, prefix, input shape, spec path of the item, context) -> node."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from archc.ir.graph import GateNode, Node, Role
from archc.ops import ConvParams, LayerContext, NoParams, Shape
from archc.spec.structural import SEParams

if TYPE_CHECKING:
    from archc.ir.lower import Lowerer


def squeeze_excitation(lw: "Lowerer", p: SEParams, name: str, prefix: str, x: Shape, spec_path: tuple,
                       ctx: LayerContext) -> GateNode:
    """x * s(x) (Hu et al. 2018, Fig. 1): s = squeeze (global average pool, C x 1 x 1), then the excitation:
    `reduce` (1x1 conv C -> C // r with bias, ReLU) and `expand` (1x1 conv C // r -> C with bias, sigmoid).

    Params: 2 C (C // r) + C // r + C; MACs: 2 C (C // r) (the 1x1 convs on the 1 x 1 map; the multiply's C*H*W
    products count 0, as archc counts conv and fc MACs only). `spec_path` ends at the `se` key; errors (SpecError,
    located there): a flat input, a 1-channel input (a single channel has no other to be weighed against), a
    reduction that leaves 0 channels."""
    path = f"{prefix}.{name}" if prefix else name
    if len(x) != 3:
        raise lw.error(spec_path, "a squeeze-excitation gate needs a feature map", expected="C x H x W",
                       got=f"a flat vector of {x[0]}")
    c = x[0]
    if c < 2:
        raise lw.error(spec_path, "a squeeze-excitation gate on a 1-channel tensor: there is no other channel to "
                       "weigh it against", expected="at least 2 channels", got=" x ".join(map(str, x)))
    hidden = c // p.reduction
    if hidden < 1:
        raise lw.error(spec_path + ("reduction",), f"reduction {p.reduction} leaves 0 of the {c} channels "
                       "(C // reduction)", expected=f"a reduction of at most {c}", got=str(p.reduction))
    parts: list[tuple[str, str, Any]] = [
        ("squeeze", "gap", NoParams()),
        ("reduce", "conv", ConvParams(out=hidden, kernel=1, bias=True, norm="none", act="relu")),
        ("expand", "conv", ConvParams(out=c, kernel=1, bias=True, norm="none", act="sigmoid")),
    ]
    gate: list[Node] = []
    y = x
    for local, kind, params in parts:
        node = lw.layer(kind, params, local, path, y, spec_path, ctx)
        gate.append(node)
        y = node.out_shape
    return GateNode(name=name, path=path, in_shape=x, out_shape=x, spec_path=spec_path, role=Role.GATE,
                    meta={"kind": "se", "reduction": p.reduction, "label": f"SE gate, r={p.reduction}",
                          "title": f"squeeze-excitation, {c} → {hidden} → {c}"}, gate=gate)


LayerRule = Callable[..., Node]
# structural layer kind -> its lowering rule (a new structural layer: one entry here, its schema in
# archc.spec.structural.STRUCTURAL_LAYERS)
LAYER_RULES: dict[str, LayerRule] = {"se": squeeze_excitation}
