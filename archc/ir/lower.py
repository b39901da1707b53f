"""Lowering: a validated Spec -> the IR tree, inferring (C, H, W) for every op before any tensor exists."""
from __future__ import annotations

import difflib
import math
from typing import Optional

from archc.errors import SpecError
from archc.formats import shape_text
from archc.ir import preact
from archc.ir.dense import dense_stage
from archc.ir.graph import AuxHeadNode, ConcatNode, Model, Node, OpNode, ResidualNode, Role, SeqNode
from archc.ir.inverted import check_inverted_stage, inverted_block
from archc.ir.structural import LAYER_RULES, squeeze_excitation
from archc.names import class_name, name_problem
from archc.ops import (PASS_THROUGH, REGISTRY, ConvParams, LayerContext, LayerParams, PadShortcutParams, Shape,
                          ShapeError, pair)
from archc.spec.model import (UNIT_SETTING_KINDS, AuxHead, BlockStage, InceptionModuleSpec, InceptionStage, Layer,
                              ResidualStage, Spec)
from archc.spec.yamlload import DEFAULT_LIMITS, Document, Limits

# BlockStage keys that shape the built-in basic/bottleneck blocks only (custom `layers` say it all)
BLOCK_ONLY_KEYS = ("width", "stride", "expansion", "groups", "base_width", "stride_on", "dilation", "first_dilation",
                   "se")
WITH_LAYERS_INSTEAD = {  # what to write with custom `layers` in place of a block-only key
    "stride": "; put a stride on a layer instead, e.g. conv: {stride: 2} (it applies in every block: a one-block "
              "stage downsamples once)",
    "se": "; put an `se` layer in the body instead, e.g. after its last conv: se: {reduction: 16}"}

STAGE_KINDS = ("residual", "plain", "inception", "dense")  # StageItem keys that are stages, not bare layers

DEFAULT_HEAD = [Layer.model_validate({"gap": {}}), Layer.model_validate({"fc": {}})]


class Namer:
    """Default names `<kind><n>` within one container; explicit names must be unique there."""

    def __init__(self, lowerer: "Lowerer", container: str) -> None:
        self.lowerer = lowerer
        self.container = container
        self.counts: dict[str, int] = {}
        self.taken: set[str] = set()

    def name(self, explicit: Optional[str], kind: str, spec_path: tuple) -> str:
        if explicit is None:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            explicit = f"{kind}{self.counts[kind]}"
            while explicit in self.taken:
                self.counts[kind] += 1
                explicit = f"{kind}{self.counts[kind]}"
        problem = name_problem(explicit)
        if problem:
            raise self.lowerer.error(spec_path, problem)
        if explicit in self.taken:
            where = f" in {self.container}" if self.container else ""
            raise self.lowerer.error(spec_path, f"duplicate name {explicit!r}{where}", expected="unique names")
        self.taken.add(explicit)
        return explicit


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _fmt(shape: Shape) -> str:
    return shape_text(shape, "spaced")


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"


class Lowerer:
    def __init__(self, spec: Spec, doc: Optional[Document], limits: Limits) -> None:
        self.spec = spec
        self.doc = doc
        self.limits = limits
        d = spec.defaults
        self.ctx = LayerContext(norm=d.norm, act=d.act, bn_eps=d.bn_eps, bn_momentum=d.bn_momentum,
                                classes=spec.classes, unit_settings=tuple(
                                    (kind, getattr(d, kind)) for kind in UNIT_SETTING_KINDS
                                    if getattr(d, kind) is not None))
        self.op_count = 0
        self.activation_bytes = 0  # float32 outputs of every op so far, one image
        self.params = 0

    # ------------------------------------------------------------ errors

    def error(self, spec_path: tuple, message: str, **kw: str) -> SpecError:
        if self.doc is not None:
            return self.doc.error(spec_path, message, **kw)
        from archc.errors import format_path

        return SpecError(message, spec_path=format_path(spec_path), **kw)

    # ------------------------------------------------------------ ops and layers

    def op(self, kind: str, params: LayerParams, name: str, prefix: str, x: Shape, spec_path: tuple,
           role: Role = Role.LAYER) -> OpNode:
        opdef = REGISTRY[kind]
        try:
            y = opdef.shape(params, x)
        except ShapeError as exc:
            # the field is the spec's only where the spec wrote this op (`spec_path` ends in its kind): not for a
            # norm or activation the compiler places in a unit or block (its params come from `defaults` or the stage)
            written = spec_path[-1:] == (kind,) and exc.field in type(params).model_fields
            where = spec_path + ((exc.field,) if exc.field and written else ())
            raise self.error(where, str(exc), expected=exc.expected, got=exc.got) from None
        if y[0] > self.limits.max_channels:
            raise self.error(spec_path, f"{kind} output {_fmt(y)} is too large",
                             expected=f"at most {self.limits.max_channels:,} channels")
        if len(x) == 3 and len(y) == 3 and max(y[1:]) > max(x[1:]) and getattr(params, "padding", None):
            spec_path = spec_path + ("padding",)  # only padding makes a map grow: name it
        if len(y) == 3 and max(y[1], y[2]) > self.limits.max_feature_size:
            raise self.error(spec_path, f"{kind} output {_fmt(y)} is too large",
                             expected=f"feature maps at most {self.limits.max_feature_size:,} px a side "
                                      "(see archc.Limits)")
        self.activation_bytes += 4 * math.prod(y)
        if self.activation_bytes > self.limits.max_activation_bytes:
            raise self.error(spec_path, f"the activations of one image reach {_bytes(self.activation_bytes)} "
                             f"at this {kind} ({_fmt(y)})",
                             expected=f"at most {_bytes(self.limits.max_activation_bytes)} in all (float32, "
                                      "every op's output; see archc.Limits)")
        self.params += opdef.cost(params, x, y).params
        if self.params > self.limits.max_total_params:
            raise self.error(spec_path, f"the network reaches {self.params:,} parameters at this {kind}",
                             expected=f"at most {self.limits.max_total_params:,} (see archc.Limits)")
        self.op_count += 1
        if self.op_count > self.limits.max_blocks_per_stage * 20:
            raise self.error(spec_path, f"network has more than {self.op_count - 1:,} ops",
                             expected="a smaller network (see archc.Limits)")
        return OpNode(name=name, path=_join(prefix, name), in_shape=x, out_shape=y, spec_path=spec_path,
                      role=role, kind=kind, params=params)

    def layer(self, kind: str, params: LayerParams, name: str, prefix: str, x: Shape, spec_path: tuple,
              ctx: LayerContext, role: Role = Role.LAYER) -> Node:
        if kind in LAYER_RULES:  # a structural layer: its own rule (archc.ir.structural)
            return LAYER_RULES[kind](self, params, name, prefix, x, spec_path + (kind,), ctx)
        opdef = REGISTRY[kind]
        params = opdef.resolve(params, ctx, x)
        parts = opdef.expand(params, ctx, x)
        if parts is None:
            return self.op(kind, params, name, prefix, x, spec_path + (kind,), role)
        path = _join(prefix, name)
        items: list[Node] = []
        y = x
        for local, part_kind, part_params in parts:
            node = self.op(part_kind, part_params, local, path, y, spec_path + (kind,))
            items.append(node)
            y = node.out_shape
        return SeqNode(name=name, path=path, in_shape=x, out_shape=y, spec_path=spec_path + (kind,),
                       role=Role.UNIT, meta={"kind": kind, "label": REGISTRY[kind].label(params, x, y)}, items=items)

    def layers(self, layers: list, prefix: str, x: Shape, spec_path: tuple, ctx: LayerContext,
               namer: Optional[Namer] = None) -> list[Node]:
        namer = namer or Namer(self, prefix)
        out: list[Node] = []
        for i, item in enumerate(layers):
            sp = spec_path + (i,)
            name = namer.name(item.params.name, item.kind, sp + (item.kind, "name"))
            node = self.layer(item.kind, item.params, name, prefix, x, sp, ctx)
            out.append(node)
            x = node.out_shape
        return out

    def refuse_inplace_on_shared_input(self, items: list[Node], shared_with: str) -> None:
        """An in-place op that reads a tensor another consumer also reads (the residual shortcut, the other
        inception branches, the main path after an aux head's tap) would change what that consumer sees."""
        for op in (o for item in items for o in item.ops()):
            if getattr(op.params, "inplace", False):
                raise self.error(op.spec_path + ("inplace",),
                                 f"an in-place {op.kind} here would overwrite the input it shares with "
                                 f"{shared_with}", expected="inplace: false here (in-place is safe after a layer "
                                                            "that makes a new tensor, e.g. a conv)", got="true")
            if op.kind not in PASS_THROUGH:  # the registry's pass_through flag: it may hand on its input
                return

    def seq(self, name: str, prefix: str, x: Shape, items: list[Node], spec_path: tuple, role: Role,
            meta: Optional[dict] = None) -> SeqNode:
        y = items[-1].out_shape if items else x
        return SeqNode(name=name, path=_join(prefix, name), in_shape=x, out_shape=y, spec_path=spec_path,
                       role=role, meta=meta or {}, items=items)

    # ------------------------------------------------------------ blocks

    def _stage_ctx(self, st: BlockStage | InceptionStage) -> LayerContext:
        from dataclasses import replace

        return replace(self.ctx, norm=st.norm or self.ctx.norm, act=st.act or self.ctx.act)

    def _block_convs(self, st: BlockStage, stride: int, residual: bool,
                     spec_path: tuple, first: bool = True) -> list[tuple[str, ConvParams]]:
        """basic: 3x3, 3x3; bottleneck: 1x1 reduce, 3x3, 1x1 expand (last act deferred past the add).

        Dilation as torchvision/timm: the first block's first 3x3 uses `first_dilation` (the previous
        stage's), every other 3x3 `dilation`; padding defaults to dilation * (kernel - 1) // 2."""
        width = st.width or 0
        last_act = "none" if residual else None
        d = st.dilation
        d0 = (st.first_dilation or d) if first else d
        if preact.conv_block(st.block) == "basic":
            expansion = st.expansion or 1
            if st.groups != 1 or st.base_width != 64:
                raise self.error(spec_path + ("groups",), "basic blocks support only groups=1 and base_width=64",
                                 expected=f"block: {(st.block or '').replace('basic', 'bottleneck')} for ResNeXt / "
                                          "wide ResNets")
            return [("conv1", ConvParams(out=width, kernel=3, stride=stride, dilation=d0)),
                    ("conv2", ConvParams(out=width * expansion, kernel=3, act=last_act, dilation=d))]
        expansion = st.expansion or 4
        mid = int(width * (st.base_width / 64.0)) * st.groups
        if mid < 1:
            raise self.error(spec_path + ("base_width",), "the bottleneck's middle width "
                             "int(width * base_width / 64) * groups rounds to 0",
                             expected="width * base_width >= 64", got=f"width {width}, base_width {st.base_width}")
        s1, s3 = (stride, 1) if st.stride_on == "1x1" else (1, stride)
        return [("conv1", ConvParams(out=mid, kernel=1, stride=s1)),
                ("conv2", ConvParams(out=mid, kernel=3, stride=s3, groups=st.groups, dilation=d0)),
                ("conv3", ConvParams(out=width * expansion, kernel=1, act=last_act))]

    def _block_body(self, st: BlockStage, prefix: str, x: Shape, stride: int, spec_path: tuple,
                    ctx: LayerContext, residual: bool, first: bool = True) -> list[Node]:
        if st.layers is not None:
            return self.layers(_last_conv_without_act(st.layers) if residual else st.layers, prefix, x,
                               spec_path + ("layers",), ctx)
        body: list[Node] = []
        field = ("width",)
        convs = self._block_convs(st, stride, residual, spec_path, first)
        if preact.is_preact(st):  # BN-ReLU first (block 1: shared, at stage level), the last conv bare
            convs = preact.body_convs(convs, ctx)
            unit = None if first else preact.preact_unit(self, prefix, x, spec_path, ctx)
            body, x = ([unit], unit.out_shape) if unit else (body, x)
        for name, params in convs:
            try:
                node = self.layer("conv", params, name, prefix, x, spec_path, ctx)
            except SpecError as exc:
                raise self.error(spec_path + field, exc.message, expected=exc.expected, got=exc.got) from None
            body.append(node)
            x = node.out_shape
        if st.se is not None:  # Hu et al. Fig. 3: on the body's output (before a residual add)
            body.append(squeeze_excitation(self, st.se, st.se.name or "se", prefix, x, spec_path + ("se",), ctx))
        return body

    def residual_block(self, st: ResidualStage, name: str, prefix: str, x: Shape, stride: int,
                       spec_path: tuple, ctx: LayerContext, first: bool = True) -> ResidualNode:
        path = _join(prefix, name)
        body = self._block_body(st, path, x, stride, spec_path, ctx, residual=True, first=first)
        self.refuse_inplace_on_shared_input(body, "the shortcut")
        y = body[-1].out_shape
        shortcut: Optional[Node] = None
        kind = "identity"
        same = tuple(y) == tuple(x)
        if st.shortcut == "projection_all" or (st.shortcut == "projection" and not same):
            kind = "projection"
            if len(x) != 3 or len(y) != 3 or y[1] < 1:
                raise self.error(spec_path, "a projection shortcut needs feature maps on both sides")
            proj_stride = max(1, -(-x[1] // y[1]))
            conv = ConvParams(out=y[0], kernel=1, stride=proj_stride, padding=0, act="none")
            conv = preact.bare_conv(conv, ctx) if preact.is_preact(st) else conv  # the authors': no BN
            shortcut = self.layer("conv", conv, "shortcut", path, x, spec_path + ("shortcut",), ctx, role=Role.SHORTCUT)
            shortcut.role = Role.SHORTCUT
        elif st.shortcut == "pad" and not same:
            kind = "pad"
            pad_stride = max(1, -(-x[1] // y[1])) if len(y) == 3 and y[1] else 1
            shortcut = self.op("pad_shortcut", PadShortcutParams(out=y[0], stride=pad_stride), "shortcut", path, x,
                               spec_path + ("shortcut",), role=Role.SHORTCUT)
        if shortcut is not None and tuple(shortcut.out_shape) != tuple(y):
            raise self.error(spec_path + ("shortcut",), "residual add: shortcut and body shapes differ",
                             expected=_fmt(y), got=_fmt(shortcut.out_shape))
        if shortcut is None and not same:
            raise self.error(spec_path + ("shortcut",), "residual add with mismatched shapes and no projection",
                             expected=f"body output {_fmt(y)} equal to the input {_fmt(x)}, "
                                      "or shortcut: projection / pad",
                             got=f"{_fmt(x)} -> {_fmt(y)}")
        post = None
        if ctx.act != "none" and not preact.is_preact(st):  # pre-activation: nothing after the add
            post = self.op(ctx.act, REGISTRY[ctx.act].unit_params(ctx), "act", path, y, spec_path, role=Role.LAYER)
        zero_init = st.zero_init if st.zero_init is not None else self.spec.init.zero_init_residual
        return ResidualNode(name=name, path=path, in_shape=x, out_shape=y, spec_path=spec_path, role=Role.BLOCK,
                            meta={"block": st.block or "custom", "shortcut": kind}, body=body, shortcut=shortcut,
                            post=post, shortcut_kind=kind, zero_init_last_bn=zero_init)

    def block_stage(self, st: BlockStage, kind: str, name: str, x: Shape, spec_path: tuple) -> SeqNode:
        if st.layers is not None:
            for key in BLOCK_ONLY_KEYS:
                if key in st.model_fields_set:
                    where = WITH_LAYERS_INSTEAD.get(key, "")
                    raise self.error(spec_path + (key,), f"`{key}` has no effect with custom `layers`{where}",
                                     expected="`block: basic/bottleneck` to use it, or no "
                                              f"`{key}` with `layers`")
        if st.blocks > self.limits.max_blocks_per_stage:
            raise self.error(spec_path + ("blocks",), f"{st.blocks:,} blocks is too many",
                             expected=f"at most {self.limits.max_blocks_per_stage:,} (see archc.Limits)")
        preact.check_stage(self, st, kind, spec_path)
        ctx = self._stage_ctx(st)
        if st.block == "inverted":
            check_inverted_stage(self, st, spec_path)
        shared = preact.stage_preact(self, st, name, x, spec_path, ctx)
        blocks: list[Node] = [shared] if shared else []
        y = shared.out_shape if shared else x
        node: Node
        for b in range(st.blocks):
            stride = st.stride if b == 0 else 1
            block_name = f"block{b + 1}"
            if st.block == "inverted":  # MobileNet-V2 (archc/ir/inverted.py)
                node = inverted_block(self, st, block_name, name, y, stride, spec_path, ctx,
                                      residual=isinstance(st, ResidualStage), first=b == 0)
            elif isinstance(st, ResidualStage):
                node = self.residual_block(st, block_name, name, y, stride, spec_path, ctx, first=b == 0)
            else:
                items = self._block_body(st, _join(name, block_name), y, stride, spec_path, ctx, residual=False,
                                         first=b == 0)
                node = self.seq(block_name, name, y, items, spec_path, Role.BLOCK, {"block": st.block or "custom"})
            blocks.append(node)
            y = node.out_shape
        meta = {"kind": kind, "block": st.block or "custom", "blocks": st.blocks}
        if isinstance(st, ResidualStage):
            meta["shortcut"] = st.shortcut
        return self.seq(name, "", x, blocks, spec_path, Role.STAGE, meta)

    def inception_module(self, st: InceptionStage, key: str, module: object, name: str, prefix: str, x: Shape,
                         spec_path: tuple, ctx: LayerContext) -> ConcatNode:
        from archc.ir.inception import branch_items, concat

        path = _join(prefix, name)
        if isinstance(module, InceptionModuleSpec):  # an item may itself be `branches:` (archc.ir.inception)
            branches = [branch_items(self, list(b), _join(path, f"branch{i + 1}"), x, spec_path + ("branches", i), ctx)
                        for i, b in enumerate(module.branches)]
        else:
            n1, r3, n3, r5, n5, pp = module  # type: ignore[misc]
            k5 = st.five
            plans: list[list[tuple[str, str, LayerParams]]] = [
                [("conv", "conv1", ConvParams(out=n1, kernel=1))],
                [("conv", "conv1", ConvParams(out=r3, kernel=1)), ("conv", "conv2", ConvParams(out=n3, kernel=3))],
                [("conv", "conv1", ConvParams(out=r5, kernel=1)), ("conv", "conv2", ConvParams(out=n5, kernel=k5))],
                [("maxpool", "pool", st.pool), ("conv", "conv1", ConvParams(out=pp, kernel=1))],
            ]
            branches = []
            for i, plan in enumerate(plans):
                bpath = _join(path, f"branch{i + 1}")
                y = x
                items: list[Node] = []
                for kind, local, params in plan:
                    node = self.layer(kind, params, local, bpath, y, spec_path, ctx)
                    items.append(node)
                    y = node.out_shape
                branches.append(items)
        return concat(self, name, prefix, x, branches, spec_path, Role.MODULE, {"kind": "inception", "key": key})

    def inception_stage(self, st: InceptionStage, name: str, x: Shape, spec_path: tuple) -> SeqNode:
        ctx = self._stage_ctx(st)
        namer = Namer(self, name)
        modules: list[Node] = []
        y = x
        for key, module in st.modules.items():
            sp = spec_path + ("modules", key)
            local = namer.name(f"{st.prefix}{key}", "inception", sp)
            if not local.isidentifier():
                raise self.error(sp, f"module name {local!r} is not an identifier", expected="keys like 3a, 4b")
            node = self.inception_module(st, str(key), module, local, name, y, sp, ctx)
            modules.append(node)
            y = node.out_shape
        return self.seq(name, "", x, modules, spec_path, Role.STAGE, {"kind": "inception", "blocks": len(modules)})

    # ------------------------------------------------------------ the model

    def model(self) -> Model:
        spec = self.spec
        h, w = pair(spec.input.size)
        if max(h, w) > self.limits.max_input_size:
            raise self.error(("input", "size"), "input size too large",
                             expected=f"at most {self.limits.max_input_size}", got=f"{h}x{w}")
        x: Shape = (spec.input.channels, h, w)
        if spec.classes > self.limits.max_channels:
            raise self.error(("classes",), f"{spec.classes:,} classes is too many",
                             expected=f"at most {self.limits.max_channels:,} (see archc.Limits)")
        self.activation_bytes = 4 * math.prod(x)
        top = Namer(self, "")
        items: list[Node] = []
        if spec.stem:
            top.name("stem", "stem", ("stem",))
            stem = self.layers(spec.stem, "stem", x, ("stem",), self.ctx)
            items.append(self.seq("stem", "", x, stem, ("stem",), Role.STEM))
            x = items[-1].out_shape
        stage_count = 0
        for i, item in enumerate(spec.stages):
            sp = ("stages", i)
            kind = item.kind
            params = item.params
            if kind in STAGE_KINDS:
                stage_count += 1
                name = top.name(params.name, "stage", sp + (kind, "name")) if params.name else None
                if name is None:
                    name = top.name(f"stage{stage_count}", "stage", sp)
                if kind == "inception":
                    node: Node = self.inception_stage(params, name, x, sp + (kind,))
                elif kind == "dense":
                    node = dense_stage(self, params, name, x, sp + (kind,))
                else:
                    node = self.block_stage(params, kind, name, x, sp + (kind,))
            else:
                name = top.name(params.name, kind, sp + (kind, "name"))
                node = self.layer(kind, params, name, "", x, sp, self.ctx)
            items.append(node)
            x = node.out_shape
        head_layers = spec.head if spec.head is not None else DEFAULT_HEAD
        head: list[Node] = []
        if head_layers:  # `head: []`: a module alone (a block, a layer), ending in feature maps
            top.name("head", "head", ("head",))
            head = self.layers(head_layers, "head", x, ("head",), self.ctx)
            items.append(self.seq("head", "", x, head, ("head",), Role.HEAD))
        out = items[-1].out_shape  # the schema asks for at least one stage
        if head_layers and tuple(out) != (spec.classes,):
            where: tuple = ("head",)
            if spec.head and len(out) == 1:  # flat, but not `classes` scores: name the layer that sized it
                last = max((i for i, n in enumerate(head) if tuple(n.in_shape) != tuple(n.out_shape)),
                           default=len(head) - 1)
                item = head_layers[last]
                where = ("head", last, item.kind) + (("out",) if "out" in item.params.model_fields_set else ())
            what = "a flat vector of" if len(out) != 1 else f"`classes` = {spec.classes}"
            raise self.error(where, f"the head must end in {what} class scores",
                             expected=f"({spec.classes},) e.g. from gap + fc (an fc without `out` gives `classes`)",
                             got=f"({out[0]},)" if len(out) == 1 else _fmt(out))
        self.refuse_inplace_on_shared_input(items, "the caller (it is the tensor passed to the network)")
        body = SeqNode(name=spec.name, path="", in_shape=(spec.input.channels, h, w), out_shape=out,
                       spec_path=(), role=Role.MODEL, items=items)
        aux = [self.aux_head(a, i, body, top) for i, a in enumerate(spec.aux_heads)]
        model = Model(name=spec.name, class_name=class_name(spec.name), title=spec.title or spec.name,
                      input_shape=body.in_shape, classes=spec.classes, body=body, aux_heads=aux,
                      init=spec.init, spec=spec, source=self.doc.file if self.doc else "",
                      overrides=self.doc.overrides if self.doc else ())
        params = model.cost_with_aux().params
        if params > self.limits.max_total_params:
            raise self.error((), f"network would have {params:,} parameters",
                             expected=f"at most {self.limits.max_total_params:,} (see archc.Limits)")
        return model

    def aux_head(self, aux: AuxHead, index: int, body: SeqNode, top: Namer) -> AuxHeadNode:
        sp = ("aux_heads", index)
        name = top.name(aux.name or f"aux{index + 1}", "aux", sp + ("name",))
        tappable = list(_tappable(body))
        by_path = {n.path: n for n in tappable}
        target = by_path.get(aux.attach)
        if target is None:
            matches = [n for n in tappable if n.path.rsplit(".", 1)[-1] == aux.attach]
            if len(matches) > 1:
                raise self.error(sp + ("attach",), f"attach name {aux.attach!r} is ambiguous",
                                 expected="one of " + ", ".join(m.path for m in matches))
            if not matches:
                names = [n.path for n in tappable] + [n.path.rsplit(".", 1)[-1] for n in tappable]
                close = difflib.get_close_matches(aux.attach, names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise self.error(sp + ("attach",), f"unknown node {aux.attach!r}{hint}",
                                 expected="the name of a stage, block, module or layer on the main path")
            target = matches[0]
        ctx = self.ctx
        layers = self.layers(aux.layers, name, target.out_shape, sp + ("layers",), ctx)
        self.refuse_inplace_on_shared_input(layers, f"the main path after {target.path}")
        head = self.seq(name, "", target.out_shape, layers, sp, Role.AUX)
        if len(head.out_shape) != 1:
            raise self.error(sp + ("layers",), "an aux head must end in a flat vector of class scores",
                             got=_fmt(head.out_shape))
        return AuxHeadNode(name=name, attach=target.path, loss_weight=aux.loss_weight, head=head)


def _last_conv_without_act(layers: list) -> list:
    """A residual body's last unit (a layer whose schema has an `act`: conv, or any unit op the registry adds)
    has no activation (the block's activation follows the add), unless the spec gives that unit an `act`."""
    last = max((i for i, item in enumerate(layers) if "act" in type(item.params).model_fields), default=None)
    if last is None or layers[last].params.act is not None:
        return layers
    out = list(layers)
    item = layers[last]
    out[last] = item.model_copy(update={item.kind: item.params.model_copy(update={"act": "none"})})
    return out


def _tappable(seq: SeqNode):
    """Nodes whose output flows along the main path (the only places an aux head can attach)."""
    for item in seq.items:
        if item.role == Role.HEAD:
            continue
        yield item
        if isinstance(item, SeqNode) and item.role in (Role.STEM, Role.STAGE):
            yield from _tappable(item)


def lower(spec: Spec, doc: Optional[Document] = None, limits: Limits = DEFAULT_LIMITS) -> Model:
    """Spec -> IR with every shape inferred; raises SpecError located in the spec file."""
    return Lowerer(spec, doc, limits).model()
