"""Lowering of a `dense` stage (DenseNet, Huang et al. 2017) onto the existing IR node types.

A dense layer is a ConcatNode of two branches on the same input: `identity` (an empty SeqNode, which
hands the input on unchanged) and `body` (BN-act-1x1 conv to bn_size x k channels, BN-act-3x3 conv to k
channels, then dropout if any). Its output is [input, new features] on channels, torchvision's order, so
after layer i the block holds C_0 + i x k channels and layer i+1 sees the concatenation of the block's
input and every earlier layer's features, exactly the paper's connectivity (Eq. 2), without an edge from
each earlier layer: the running concatenation carries them. The optional transition after the block is a
SeqNode (role block): BN-act-1x1 conv to floor(compression x C) channels, 2x2 average pool, stride 2.

The units are pre-activation (norm and act before the conv, as in the paper's "BN-ReLU-Conv"); their
convs have no bias (the next BN shifts anyway), unless the stage has no norm.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

from archc.ir.graph import ConcatNode, Node, Role, SeqNode
from archc.ops import REGISTRY, AvgPoolParams, ConvParams, DropoutParams, LayerContext, Shape

if TYPE_CHECKING:
    from archc.ir.lower import Lowerer
    from archc.spec.dense import DenseStage, TransitionSpec

DEFAULT_BN_SIZE = 4  # Huang et al. 2017, Sec. 3: "let each 1x1 convolution produce 4k feature-maps"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def preact_unit(lw: "Lowerer", name: str, prefix: str, x: Shape, out: int, kernel: int, spec_path: tuple,
                ctx: LayerContext) -> SeqNode:
    """norm -> act -> conv (kernel x kernel, `out` channels, stride 1, 'same' padding): one unit named `name`
    whose ops are `bn`, `act`, `conv` (those the stage's norm / act do not switch off)."""
    path = _join(prefix, name)
    conv = ConvParams(out=out, kernel=kernel, bias=ctx.norm == "none")
    parts = []
    if ctx.norm != "none":
        parts.append((REGISTRY[ctx.norm].unit_name, ctx.norm, REGISTRY[ctx.norm].unit_params(ctx)))
    if ctx.act != "none":
        act = REGISTRY[ctx.act].unit_params(ctx)
        if not parts and getattr(act, "inplace", False):  # first in the unit: its input is shared (the
            act = act.model_copy(update={"inplace": False})  # identity branch, an aux head's tap)
        parts.append(("act", ctx.act, act))
    parts.append(("conv", "conv", conv))
    items: list[Node] = []
    y = x
    for local, kind, params in parts:
        op = lw.op(kind, params, local, path, y, spec_path)
        items.append(op)
        y = op.out_shape
    label = REGISTRY["conv"].label(conv, x, y)
    return SeqNode(name=name, path=path, in_shape=x, out_shape=y, spec_path=spec_path, role=Role.UNIT,
                   meta={"kind": "conv", "label": label, "preact": True}, items=items)


def dense_layer(lw: "Lowerer", st: "DenseStage", name: str, prefix: str, x: Shape, spec_path: tuple,
                ctx: LayerContext) -> ConcatNode:
    """One dense layer: C x H x W -> (C + k) x H x W."""
    path = _join(prefix, name)
    body_path = _join(path, "body")
    k = st.growth_rate
    items: list[Node] = []
    y = x
    if st.bottleneck:
        bn_size = st.bn_size or DEFAULT_BN_SIZE
        items.append(preact_unit(lw, "conv1", body_path, y, bn_size * k, 1, spec_path + ("growth_rate",), ctx))
        y = items[-1].out_shape
    items.append(preact_unit(lw, "conv2" if st.bottleneck else "conv1", body_path, y, k, 3,
                             spec_path + ("growth_rate",), ctx))
    y = items[-1].out_shape
    if st.dropout > 0:
        items.append(lw.op("dropout", DropoutParams(p=st.dropout), "dropout", body_path, y, spec_path + ("dropout",)))
    identity = SeqNode(name="identity", path=_join(path, "identity"), in_shape=x, out_shape=x, spec_path=spec_path,
                       role=Role.BRANCH, meta={"identity": True}, items=[])
    body = SeqNode(name="body", path=body_path, in_shape=x, out_shape=y, spec_path=spec_path, role=Role.BRANCH,
                   items=items)
    out = (x[0] + y[0], *x[1:])
    return ConcatNode(name=name, path=path, in_shape=x, out_shape=out, spec_path=spec_path, role=Role.BLOCK,
                      meta={"kind": "dense", "block": "dense layer", "growth_rate": k}, branches=[identity, body])


def transition(lw: "Lowerer", tr: "TransitionSpec", prefix: str, x: Shape, spec_path: tuple,
               ctx: LayerContext) -> SeqNode:
    """BN-act-1x1 conv to floor(compression x C) channels, then a 2x2 average pool with stride 2."""
    name = tr.name or "transition"
    path = _join(prefix, name)
    sp = spec_path + ("transition",)
    out = math.floor(tr.compression * x[0])
    if out < 1:
        raise lw.error(sp + ("compression",), f"the transition's 1x1 conv would have floor({tr.compression:g} x "
                       f"{x[0]}) = 0 channels", expected="compression x input channels >= 1",
                       got=f"{tr.compression:g} x {x[0]}")
    if min(x[1:]) < 2:
        raise lw.error(sp, f"the transition's 2x2 average pool does not fit the {x[1]}x{x[2]} feature map",
                       expected="at least 2x2 after the block (fewer stride-2 layers before it, or no transition)",
                       got=f"{x[1]}x{x[2]}")
    unit = preact_unit(lw, "conv", path, x, out, 1, sp, ctx)
    pool = lw.op("avgpool", AvgPoolParams(kernel=2, stride=2), "pool", path, unit.out_shape, sp)
    return SeqNode(name=name, path=path, in_shape=x, out_shape=pool.out_shape, spec_path=sp, role=Role.BLOCK,
                   meta={"block": "transition", "compression": tr.compression}, items=[unit, pool])


def dense_stage(lw: "Lowerer", st: "DenseStage", name: str, x: Shape, spec_path: tuple) -> SeqNode:
    """The block's layers layer1..L, then its transition if any (a SeqNode of role stage, meta kind dense)."""
    if len(x) != 3:
        raise lw.error(spec_path, "a dense block needs a C x H x W feature map", expected="C x H x W",
                       got=f"a flat vector of {x[0]}")
    if st.layers > lw.limits.max_blocks_per_stage:
        raise lw.error(spec_path + ("layers",), f"{st.layers:,} layers is too many",
                       expected=f"at most {lw.limits.max_blocks_per_stage:,} (see archc.Limits)")
    if not st.bottleneck and st.bn_size is not None:
        raise lw.error(spec_path + ("bn_size",), "`bn_size` sizes the bottleneck 1x1 conv; it has no effect with "
                       "`bottleneck: false`", expected="no `bn_size`, or `bottleneck: true`")
    ctx = replace(lw.ctx, norm=st.norm or lw.ctx.norm, act=st.act or lw.ctx.act)
    items: list[Node] = []
    y = x
    for i in range(st.layers):
        node = dense_layer(lw, st, f"layer{i + 1}", name, y, spec_path, ctx)
        if node.out_shape[0] > lw.limits.max_channels:
            raise lw.error(spec_path + ("layers",), f"the dense block grows to {node.out_shape[0]:,} channels "
                           f"at layer {i + 1}", expected=f"at most {lw.limits.max_channels:,} channels")
        items.append(node)
        y = node.out_shape
    if st.transition is not None:
        items.append(transition(lw, st.transition, name, y, spec_path, ctx))
        if items[-1].name in {n.name for n in items[:-1]}:
            raise lw.error(spec_path + ("transition", "name"), f"duplicate name {items[-1].name!r} in {name}",
                           expected=f"a name other than layer1..layer{st.layers}")
    meta = {"kind": "dense", "block": "dense layer", "blocks": st.layers, "growth_rate": st.growth_rate,
            "bn_size": (st.bn_size or DEFAULT_BN_SIZE) if st.bottleneck else None,
            "transition": st.transition.compression if st.transition is not None else None}
    return lw.seq(name, "", x, items, spec_path, Role.STAGE, meta)
