"""Pre-activation residual blocks (He et al. 2016, "Identity Mappings in Deep Residual Networks", Fig. 4e).

`block: preact_basic` / `preact_bottleneck` are the basic / bottleneck blocks with every conv preceded by
BN-ReLU and nothing after the add, so the shortcut is a clean identity from block to block. They lower to
the IR's existing nodes, with the op order of the authors' code:

    stageN.preact                   BN -> ReLU   (the stage's first pre-activation, shared: see below)
    stageN.block1  ResidualNode     body: conv1 (conv, BN, ReLU) ... convK (conv only); shortcut on the
                                    pre-activated tensor: identity, 1x1 projection (no BN) or zero-pad;
                                    post = None (no activation after the add)
    stageN.blockB  ResidualNode     body: preact (BN, ReLU), conv1 (conv, BN, ReLU) ... convK (conv only);
                                    identity shortcut on the block's raw input; post = None

The first block of a stage pre-activates *before* the split, so its body and its shortcut read the same
BN-ReLU output: fb.resnet.torch models/preresnet.lua ('both_preact' for the first block of every stage,
commit 7ac4a9f) and KaimingHe/resnet-1k-layers resnet-pre-act.lua (the "common BN, ReLU" of the units that
increase dimensions), also the paper's appendix: "for the first Residual Unit (that follows a stand-alone
convolutional layer, conv1), we adopt the first activation right after conv1 and before splitting into two
paths". That shared BN-ReLU belongs to neither branch, so it is drawn, named and counted at stage level
(`stageN.preact`), before block 1. `first_preact: false` leaves it out where the stage input is activated
already (fb.resnet.torch's 'no_preact': the ImageNet stage 1 after conv-BN-ReLU-maxpool). In both
reference codes a projection shortcut is a bare 1x1 conv (no BN): so it is here.

The network's last BN-ReLU (before the pool) is the spec's: `head: [batchnorm, relu, gap, fc]`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from archc.ir.graph import OpNode, Role, SeqNode
from archc.ops import REGISTRY, ConvParams, LayerContext, Shape

if TYPE_CHECKING:
    from archc.ir.lower import Lowerer

# pre-activation block kind -> the block kind whose convolutions it has
PREACT_BLOCKS: dict[str, str] = {"preact_basic": "basic", "preact_bottleneck": "bottleneck"}


def conv_block(block: Optional[str]) -> Optional[str]:
    """The basic/bottleneck kind whose conv widths, kernels and strides the block has."""
    return PREACT_BLOCKS.get(block or "", block)


def is_preact(st: Any) -> bool:
    """Whether a stage (a BlockStage) has pre-activation blocks."""
    return getattr(st, "block", None) in PREACT_BLOCKS


def check_stage(lowerer: "Lowerer", st: Any, kind: str, spec_path: tuple) -> None:
    """Refuse what a pre-activation stage cannot mean; SpecError located at the offending key."""
    if is_preact(st) and kind != "residual":
        raise lowerer.error(spec_path + ("block",), f"{st.block} is a residual block (BN-ReLU before each conv, "
                            "a clean identity shortcut); a plain stage has no shortcut",
                            expected=f"a residual stage, or block: {conv_block(st.block)} in a {kind} stage",
                            got=f"{kind} stage")
    if getattr(st, "first_preact", None) is not None and not is_preact(st):
        raise lowerer.error(spec_path + ("first_preact",), "`first_preact` applies to pre-activation blocks only",
                            expected="block: " + " or ".join(PREACT_BLOCKS) + ", or no `first_preact`",
                            got=f"block: {st.block or 'custom layers'}")


def bare_conv(params: ConvParams, ctx: LayerContext) -> ConvParams:
    """A conv with no norm and no activation after it (the block's last conv, the projection): the next
    BN-ReLU comes after the add. No bias under BN, as in the reference codes (cuDNN convs, bias removed)."""
    return params.model_copy(update={"norm": "none", "act": "none", "bias": ctx.norm == "none"})


def body_convs(convs: list[tuple[str, ConvParams]], ctx: LayerContext) -> list[tuple[str, ConvParams]]:
    """The block's convs as conv units: conv-BN-ReLU (the next conv's pre-activation) except the last."""
    return convs[:-1] + [(convs[-1][0], bare_conv(convs[-1][1], ctx))]


def preact_unit(lowerer: "Lowerer", prefix: str, x: Shape, spec_path: tuple, ctx: LayerContext) -> Optional[SeqNode]:
    """`<prefix>.preact`: the norm then the activation of the context (None when both are `none`)."""
    path = f"{prefix}.preact"
    items: list[OpNode] = []
    y = x
    for local, kind in ((REGISTRY[ctx.norm].unit_name if ctx.norm != "none" else "", ctx.norm), ("act", ctx.act)):
        if kind != "none":
            params = REGISTRY[kind].unit_params(ctx)
            if not items and getattr(params, "inplace", False):  # first (no norm): its input is also the
                params = params.model_copy(update={"inplace": False})  # shortcut's, or the caller's
            op = lowerer.op(kind, params, local, path, y, spec_path)
            items.append(op)
            y = op.out_shape
    if not items:
        return None
    return SeqNode(name="preact", path=path, in_shape=x, out_shape=y, spec_path=spec_path, role=Role.UNIT,
                   meta={"kind": "preact", "label": f"{items[0].label} (pre-activation)"}, items=list(items))


def stage_preact(lowerer: "Lowerer", st: Any, stage: str, x: Shape, spec_path: tuple,
                 ctx: LayerContext) -> Optional[SeqNode]:
    """The BN-ReLU a pre-activation stage opens with (shared by block 1's body and shortcut), or None."""
    if not is_preact(st) or st.first_preact is False:
        return None
    return preact_unit(lowerer, stage, x, spec_path, ctx)
