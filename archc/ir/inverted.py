"""Lowering of the inverted residual block with a linear bottleneck (MobileNet-V2, Sandler et al. 2018).

One block on a C_in x H x W input, `width` = C_out output channels, `expansion` = t:

    expand     1x1 conv C_in -> t*C_in, norm, act         (left out when t = 1)
    depthwise  3x3 depthwise conv (stride, dilation), norm, act
    project    1x1 conv t*C_in -> C_out, norm, no act      (the linear bottleneck)

and the identity shortcut `x + project(...)` only where stride is 1 and C_in == C_out (torchvision's
`use_res_connect`), with no activation after the add. It lowers to the existing IR nodes: a
ResidualNode (shortcut None = identity, post None) where there is a shortcut, else a plain SeqNode
block. The body is built by `inverted_body` alone; the stage's `se:` puts a squeeze-excitation gate
between depthwise and project (where MobileNet-V3 has it), on the hidden width (C // reduction).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from archc.errors import SpecError
from archc.ir.graph import Node, ResidualNode, Role, SeqNode
from archc.ir.structural import squeeze_excitation
from archc.ops import ConvParams, LayerContext, Shape

if TYPE_CHECKING:
    from archc.ir.lower import Lowerer
    from archc.spec.model import BlockStage

# stage keys that shape only the basic/bottleneck blocks: an inverted stage refuses them when given
NOT_FOR_INVERTED = {"groups": "the depthwise conv's groups are its input channels",
                    "base_width": "the hidden width is expansion x the block's input channels",
                    "stride_on": "the depthwise 3x3 takes the stride",
                    "shortcut": "the identity shortcut is added exactly where stride is 1 and in == out channels"}
DEFAULT_EXPANSION = 6  # Sandler et al. Table 2: t = 6 for every bottleneck but the first


def check_inverted_stage(lw: "Lowerer", st: "BlockStage", spec_path: tuple) -> None:
    """Refuse, located at the key, a stage key that has no meaning for inverted blocks."""
    for key, why in NOT_FOR_INVERTED.items():
        if key in st.model_fields_set:
            raise lw.error(spec_path + (key,), f"`{key}` has no effect on inverted blocks: {why}",
                           expected=f"no `{key}` with `block: inverted`")


def hidden_width(c_in: int, expansion: int) -> int:
    """torchvision's hidden_dim = int(round(inp * expand_ratio)) (an integer t makes it t * C_in)."""
    return int(round(c_in * expansion))


def inverted_body(lw: "Lowerer", st: "BlockStage", prefix: str, x: Shape, stride: int, spec_path: tuple,
                  ctx: LayerContext, first: bool = True) -> list[Node]:
    """expand (t != 1), depthwise (stride), project (no act): the units of one block, shapes inferred.

    An expanded width over the channel limit is located at the stage's `expansion`; errors from a unit (a
    stride that does not fit the map, say) at its `width`."""
    if len(x) != 3:
        raise lw.error(spec_path, "an inverted block needs a C x H x W feature map", got=f"a flat vector of {x[0]}")
    t = st.expansion or DEFAULT_EXPANSION
    hidden = hidden_width(x[0], t)
    if hidden > lw.limits.max_channels:
        raise lw.error(spec_path + ("expansion",) if st.expansion else spec_path,
                       f"the expanded width {x[0]} x {t} = {hidden:,} channels is too large",
                       expected=f"at most {lw.limits.max_channels:,} channels (see archc.Limits)")
    dilation = (st.first_dilation or st.dilation) if first else st.dilation
    plan: list[tuple[str, ConvParams]] = []
    if t != 1:
        plan.append(("expand", ConvParams(out=hidden, kernel=1)))
    plan.append(("depthwise", ConvParams(out=hidden, kernel=3, stride=stride, dilation=dilation, depthwise=True)))
    plan.append(("project", ConvParams(out=st.width or 0, kernel=1, act="none")))
    body: list[Node] = []
    for name, params in plan:
        try:
            node = lw.layer("conv", params, name, prefix, x, spec_path, ctx)
        except SpecError as exc:
            raise lw.error(spec_path + ("width",), exc.message, expected=exc.expected, got=exc.got) from None
        body.append(node)
        x = node.out_shape
        if name == "depthwise" and st.se is not None:  # a gate on the depthwise output (MobileNet-V3's place)
            body.append(squeeze_excitation(lw, st.se, st.se.name or "se", prefix, x, spec_path + ("se",), ctx))
            x = body[-1].out_shape
    return body


def inverted_block(lw: "Lowerer", st: "BlockStage", name: str, prefix: str, x: Shape, stride: int,
                   spec_path: tuple, ctx: LayerContext, residual: bool, first: bool = True) -> Node:
    """One inverted block: a ResidualNode (identity shortcut, nothing after the add) where `residual` and
    stride 1 and C_in == C_out, else a SeqNode."""
    path = f"{prefix}.{name}" if prefix else name
    body = inverted_body(lw, st, path, x, stride, spec_path, ctx, first)
    y = body[-1].out_shape
    meta = {"block": "inverted", "expansion": st.expansion or DEFAULT_EXPANSION}
    if residual and stride == 1 and tuple(x) == tuple(y):
        lw.refuse_inplace_on_shared_input(body, "the shortcut")
        zero_init = st.zero_init if getattr(st, "zero_init", None) is not None else lw.spec.init.zero_init_residual
        return ResidualNode(name=name, path=path, in_shape=x, out_shape=y, spec_path=spec_path, role=Role.BLOCK,
                            meta={**meta, "shortcut": "identity"}, body=body, shortcut=None, post=None,
                            shortcut_kind="identity", zero_init_last_bn=zero_init)
    return SeqNode(name=name, path=path, in_shape=x, out_shape=y, spec_path=spec_path, role=Role.BLOCK,
                   meta={**meta, "shortcut": "none"} if residual else meta, items=body)
