"""The spec-language reference (docs/spec.md), generated from the pydantic models so it cannot drift.

    python -m archc.spec.reference > docs/spec.md
"""
from __future__ import annotations

import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from archc.ops import LAYER_KINDS, REGISTRY
from archc.spec import model as m
from archc.spec.structural import STRUCTURAL_LAYERS

INTRO = """\
# The archc spec language

A spec is a YAML file describing one network. It is loaded with a safe YAML loader (no tags,
no `<<` merges, no duplicate keys), merged with the file it `extends`, overridden by `--set`,
its `${...}` expressions substituted, validated (unknown keys are errors, with a "did you mean"),
then lowered to the IR with every shape inferred. Every error reads
`file:line:col: spec.path: what is wrong (expected ..., got ...)`; with several problems the first
in the file is named and the others are listed by place (`[and 2 more problems: 7:12 head, ...]`).

**Scalars are read as YAML 1.2** (core schema), in spec files and in `--set` values alike: `1e-3`
is a float, `0x1f` and `0o17` are integers, `1:30`, `2001-12-14`, `yes`, `no`, `on`, `off` are
strings, only `true`/`false` are booleans and only `null`/`~`/nothing is null. A decimal integer
with a leading zero (`010`: 8 in YAML 1.1, 10 in 1.2) is refused as ambiguous. Every number must be
finite: `.nan`, `.inf` and `1e400` are refused wherever they appear (also through `vars`).

```yaml
archc: 1                       # format version
name: resnet50                 # a Python identifier (the class name in generated code)
title: ResNet-50
input: {channels: 3, size: 224}
classes: 1000
defaults: {norm: batchnorm, act: relu}       # conv = conv + norm + act unless overridden
init: {conv: kaiming_normal, mode: fan_out}
stem:
  - conv: {out: 64, kernel: 7, stride: 2}
  - maxpool: {kernel: 3, stride: 2, padding: 1}
stages:
  - residual: {block: bottleneck, width: 64,  blocks: 3}
  - residual: {block: bottleneck, width: 128, blocks: 4, stride: 2}
  - residual: {block: bottleneck, width: 256, blocks: 6, stride: 2}
  - residual: {block: bottleneck, width: 512, blocks: 3, stride: 2}
head:
  - gap: {}
  - fc: {}                     # out defaults to `classes`
```

## Structure

* `stem`, `head` and each aux head's `layers` are lists of **layers**; a layer is a one-key
  mapping `{kind: {params}}` (`- gap` alone is short for `- gap: {}`).
* `stages` is a list whose items are a `residual`, `plain`, `inception` or `dense` **stage**, or a
  bare layer (a max pool between stages, say).
* `conv` is a unit: convolution, then `norm` (default `defaults.norm`), then `act`
  (default `defaults.act`); its bias defaults to on only when there is no norm. Padding defaults
  to `dilation*(kernel-1)//2` ("same" at stride 1).
* `fc` flattens its input; its `out` defaults to `classes`. Without `head`, the head is `[gap, fc]`.
  The head must end in exactly `classes` scores, shape `(classes,)`.
* `head: []` draws and analyses a **module alone** (one block, one layer): the network ends in
  feature maps, nothing checks class scores, and `archc probe` refuses it (it trains a classifier).
  For example one bottleneck block at the size of ResNet-50's stage 1:
  `input: {channels: 256, size: 56}`, `stages: [{residual: {block: bottleneck, width: 64}}]`, `head: []`.
* `kernel`, `stride`, `padding`, `dilation` (conv), pool `kernel`/`stride`/`padding` and
  `adaptive_avgpool.size` take an integer or a pair `[h, w]`.
* A stage with custom `layers` takes no `width`, `stride`, `expansion`, `groups`, `base_width`,
  `stride_on`, `dilation`, `first_dilation` or `se` (they shape the built-in blocks only): put a stride
  or a dilation on one of its layers instead, an `se` layer in its body.
* An activation may not be `inplace: true` where its input is also read elsewhere: as the first op
  (after any `dropout` or `flatten`) of a residual body, of an inception branch or sub-branch, or of an aux head.

## Names

Every node has a stable dotted name that is also its module path in torch and in the generated
source: `stage2.block3.conv2.conv`, `stage2.inception4a.branch3.conv2`. Stages are `stage1`,
`stage2`, ... in order (bare layers between them are `<kind><n>`, e.g. `maxpool1`); blocks are
`block1..N`; inception modules are `<prefix><key>` (`inception4a`); dense layers are `layer1..L`, each
with an `identity` and a `body` branch (`denseblock2.layer3.body.conv2.conv`), and a dense block's
transition is `transition`; layers are `<kind><n>` within their container (`conv1`, `conv2`, `fc1`). Any layer or stage may set `name:`, unique in its
container.

One rule holds for every name a spec gives: the model `name`, stage and layer names, aux head
names and inception module names (`prefix` + key): an **ASCII** Python identifier (so Python's NFKC
normalisation of identifiers cannot change it: `ﬁ` is refused, Python would read `fi`), not
starting with `_`, not a Python keyword, and not an attribute of the torch module it becomes a
child of (`forward`, `append`, `named_buffers`, `training`, `shortcut`, ...; the list is
`archc.names.RESERVED_ATTRS`). The model name's class (`none` -> `None`) must not be a keyword
either. All of it is checked by `archc validate`, located at the name (for a module key, the key). Aux heads `attach:` to a node **by name** (its full path or
its last component when unique), never by index. The node must be on the main path: a stem layer,
a stage, a block or inception module of a stage, or a bare layer between stages, not a layer
inside a residual block or an inception branch (whose output is not the network's running value).

## Blocks

| block | layers | output |
|---|---|---|
| `basic` | 3x3 conv (stride), 3x3 conv | `width x expansion` (expansion 1) |
| `bottleneck` | 1x1 reduce, 3x3 (groups), 1x1 expand | `width x expansion` (expansion 4) |
| `inverted` | 1x1 expand (skipped when expansion is 1), 3x3 depthwise (stride), 1x1 linear projection | `width` (expansion 6) |
| `preact_basic` | BN-ReLU-3x3, BN-ReLU-3x3 (residual stages only) | as `basic` |
| `preact_bottleneck` | BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (residual stages only) | as `bottleneck` |

In a bottleneck the middle width is `int(width * base_width / 64) * groups` (ResNeXt: `groups: 32,
base_width: 4`; wide ResNet-50-2: `base_width: 128`). `stride_on: 3x3` is torchvision's "v1.5";
`stride_on: 1x1` is the paper's. `dilation: d` dilates the blocks' 3x3 convs (padding `d`, so the
size is kept); the first block's first 3x3 takes `first_dilation` (default `d`). torchvision's
`resnet50(replace_stride_with_dilation=[False, True, True])` is stages 3 and 4 with `stride: 1` and
`{dilation: 2, first_dilation: 1}`, `{dilation: 4, first_dilation: 2}` (as timm's `first_dilation`).
A `residual` block computes `act(body(x) + shortcut(x))`; the body's last conv has no activation,
for the built-in blocks and for custom `layers` alike (a custom body's last `conv` gets
`act: none` unless it sets `act` itself). Shortcuts: `projection` (1x1 conv + BN where the shape changes:
He et al. option B, the default), `pad` (subsample + zero channels: option A, no parameters),
`projection_all` (option C), `identity` (shapes must match: an error otherwise).
`plain` stages are the same blocks without shortcuts, or any `layers` list repeated `blocks` times
(VGG-style).

### Depthwise convolutions

`conv: {depthwise: true}` sets `groups` to the conv's input channels without writing them: one
kxk filter per channel (MobileNet). Its `out` defaults to the input channels; a larger `out` must be
a multiple of them (the channel multiplier), and `groups` may not be given with it. Every other conv
still requires `out`. Errors are located at the conv's `out` (multiplier not a whole number) or at
`depthwise` (given with `groups`). `sepconv` is the whole depthwise-separable unit as one layer.

```yaml
layers:
  - conv: {out: 96, kernel: 1}                       # expand
  - conv: {kernel: 3, stride: 2, depthwise: true}    # 96 -> 96, groups 96
  - conv: {out: 24, kernel: 1, act: none}            # linear projection
```

### Inverted residual blocks (MobileNet-V2)

`block: inverted` is Sandler et al.'s inverted residual with a linear bottleneck: on a C_in-channel
input, a 1x1 conv expands to `expansion` x C_in channels (t in the paper; default 6; left out when
1), a 3x3 depthwise conv takes the stride (and `dilation`), and a 1x1 conv projects to `width`
channels with a norm but **no activation**. `width` is the block's output (c in the paper's Table 2),
not a middle width. In a `residual` stage the identity shortcut is added exactly where the stride is 1
and the input and output channels are equal (torchvision's `use_res_connect`), with nothing after the
add; the other blocks have no shortcut (`shortcut`, `groups`, `base_width` and `stride_on` are refused).
In a `plain` stage no block has one. The activation is the stage's or `defaults.act` (`relu6` for
MobileNet-V2). Units are named `expand`, `depthwise`, `project` (`stage2.block1.depthwise.conv`).

```yaml
defaults: {act: relu6}
stem:
  - conv: {out: 32, kernel: 3, stride: 2}
stages:   # Table 2: t, c, n, s
  - residual: {block: inverted, expansion: 1, width: 16, blocks: 1}
  - residual: {block: inverted, expansion: 6, width: 24, blocks: 2, stride: 2}
  # ... as specs/mobilenet_v2.yaml
```

`archc analyze` reports what each depthwise + pointwise pair saves against the dense kxk conv it
replaces (from the depthwise conv's input to the pointwise conv's output channels), per block, per
stage and in total.

### Pre-activation blocks

`block: preact_basic` / `preact_bottleneck` are He et al.'s full pre-activation units ("Identity
Mappings in Deep Residual Networks", 2016, Fig. 4e): each conv comes after BN-ReLU and nothing follows
the add, so the identity path runs clean from block to block. The convs take every option of
`basic` / `bottleneck` (`groups`, `base_width`, `stride_on`, `dilation`). As in the authors' code
(resnet-1k-layers `resnet-pre-act.lua`, fb.resnet.torch `preresnet.lua`), a stage opens with one
BN-ReLU, `stageN.preact`, that its **first** block's body and shortcut both read; the later blocks
pre-activate inside their body (`stageN.blockB.preact`) and add their raw input. A projection
shortcut is a bare 1x1 conv (no BN), as is each block's last conv. `first_preact: false` leaves the
stage's BN-ReLU out, for an input that is activated already (an ImageNet stem's conv-BN-ReLU-max
pool: fb.resnet.torch's `no_preact`). The network's last BN-ReLU is the head's. `zero_init` zeroes the
BN before the last conv (the block starts as the identity). Pre-activation blocks need a `residual`
stage; `first_preact` needs pre-activation blocks.

```yaml
stem:
  - conv: {out: 16, kernel: 3, norm: none, act: none, bias: false}   # no BN-ReLU: stage1.preact does it
stages:
  - residual: {block: preact_bottleneck, width: 16, blocks: 18, stride_on: 1x1}
  - residual: {block: preact_bottleneck, width: 32, blocks: 18, stride: 2, stride_on: 1x1}
  - residual: {block: preact_bottleneck, width: 64, blocks: 18, stride: 2, stride_on: 1x1}
head: [batchnorm, relu, gap, fc]                                      # the final BN-ReLU before the pool
```
(`specs/cifar/preact_resnet164.yaml`; `specs/preact_resnet18.yaml` shows `first_preact: false`.)

## Inception modules

`modules:` maps a key to six numbers `[1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj]`
(GoogLeNet Table 1) or to `{branches: [[layers], [layers], ...]}`. The "5x5" branch uses a
`five: 5` (paper) or `five: 3` (torchvision) kernel; the pool branch's pool is `pool:`
(3x3, stride 1, padding 1 by default; `ceil: true` for torchvision).

### Nested branches (Inception-v3)

In the `branches:` form an item of a branch may itself be `branches: [[layers], ...]`: its
sub-branches all read that item's input and are concatenated on channels, inside the branch
(Szegedy et al. 2016, Fig. 7: after a 1x1 reduction a 1x3 and a 3x1 conv read the same tensor).
It needs at least two sub-branches, which must end in the same H x W; sub-branches may nest
again. The node is named `concat<n>` in its branch, its sub-branches `branch1..k`:
`mixed7.Mixed_7b.branch2.concat1.branch2.conv1`. A grid reduction is a module whose branches
all stride (stride-2 convs beside a `maxpool: {kernel: 3, stride: 2}`); asymmetric kernels are
pairs (`kernel: [1, 7]`, padding "same" per axis); BN eps is `defaults.bn_eps`. The bundled
`specs/inception_v3.yaml` is torchvision's Inception-v3 written this way.

```yaml
defaults: {norm: batchnorm, act: relu, bn_eps: 0.001}
stages:
  - inception:
      prefix: Mixed_
      modules:
        6a:                          # grid reduction 35 -> 17: two strided branches beside a max pool
          branches:
            - [conv: {out: 384, kernel: 3, stride: 2, padding: 0}]
            - [conv: {out: 64, kernel: 1}, conv: {out: 96, kernel: 3},
               conv: {out: 96, kernel: 3, stride: 2, padding: 0}]
            - [maxpool: {kernel: 3, stride: 2}]
        7b:                          # the expanded filter bank (three of its four branches)
          branches:
            - [conv: {out: 320, kernel: 1}]
            - - conv: {out: 384, kernel: 1}
              - branches:            # 1x3 and 3x1 on the same 384 channels, concatenated: 768
                  - [conv: {out: 384, kernel: [1, 3]}]
                  - [conv: {out: 384, kernel: [3, 1]}]
            - [avgpool: {kernel: 3, stride: 1, padding: 1}, conv: {out: 192, kernel: 1}]
aux_heads:
  - {name: AuxLogits, attach: Mixed_6e, loss_weight: 0.4, layers: [avgpool: {kernel: 5, stride: 3},
     conv: {out: 128, kernel: 1}, conv: {out: 768, kernel: 5, padding: 0}, adaptive_avgpool: {size: 1}, fc: {}]}
```

`archc analyze` reports what the 1x1 reductions save (each module without them, a nested
concat's convs then reading the module's input) and, under "factorised convolutions", what each
factorised group saves against the one dense conv with its receptive field: two stacked 3x3 for a
5x5, 1xn + nx1 for an nxn, a parallel 1xn | nx1 pair for one nxn to their summed width.

## Dense blocks

A `dense` stage is one dense block of DenseNet (Huang et al. 2017): `layers` layers, each
BN-ReLU-1x1 conv to `bn_size x growth_rate` channels (the bottleneck, default 4k), BN-ReLU-3x3 conv to
`growth_rate` (k) channels, whose output is concatenated to its input, `[x, new features]` on channels
(torchvision's order). Layer i therefore sees the block's input and every earlier layer's features,
C0 + (i-1)k channels, and the block ends with C0 + Lk. `bottleneck: false` drops the 1x1 (the paper's
DenseNet without B); `dropout: p` follows each 3x3 conv; `norm`/`act` override the defaults as in
other stages. `transition: {compression: 0.5}` (or `{}`) adds the transition layer after the block:
BN-ReLU-1x1 conv to floor(compression x C) channels, then a 2x2 average pool with stride 2. The final
BN-ReLU before the global pool is the head's (`head: [batchnorm, relu, gap, fc]`).

```yaml
stem:
  - conv: {out: 64, kernel: 7, stride: 2}
  - maxpool: {kernel: 3, stride: 2, padding: 1}
stages:           # DenseNet-121 (specs/densenet121.yaml): 7,978,856 params, 2.834 GMACs
  - dense: {layers: 6,  growth_rate: 32, transition: {compression: 0.5}}   # 64 -> 256 -> 128 channels
  - dense: {layers: 12, growth_rate: 32, transition: {compression: 0.5}}  # 128 -> 512 -> 256
  - dense: {layers: 24, growth_rate: 32, transition: {compression: 0.5}}  # 256 -> 1024 -> 512
  - dense: {layers: 16, growth_rate: 32}                                  # 512 -> 1024
head: [batchnorm, relu, gap, fc]
```

The transition is an option of the block rather than four bare layers because its width follows from
the block (floor(0.5 x (C0 + Lk))): a change to `layers` or `growth_rate` needs no arithmetic by hand,
and compression is named as in the paper. Bare layers still express any other transition (`- batchnorm`,
`- relu`, `- conv: {out: 128, kernel: 1, norm: none, act: none, bias: false}`, `- avgpool: {kernel: 2}`).
A dense layer lowers to the IR's ConcatNode of an empty (identity) branch and its body, so every
backend and analysis handles it as it does an inception module; paths: a block of L layers multiplies
the input-output path count by 2^L (docs/analysis.md).

## Squeeze-excitation gates

A gate multiplies its input channel-wise by a scale it computes from that input, `y = x * s(x)` (Hu et
al. 2018, "Squeeze-and-Excitation Networks", Fig. 1): the squeeze, a global average pool, gives one
number per channel (C x 1 x 1); the excitation, a 1x1 conv C -> C // r with bias and ReLU, then a 1x1
conv C // r -> C with bias and sigmoid, turns them into one scale in (0, 1) per channel. The output has
the input's shape; the gate adds 2 C (C // r) + C // r + C parameters and 2 C (C // r) MACs (the
multiply's C x H x W products count 0 MACs: archc counts conv and fc multiply-adds). Its module is
`<name>.squeeze`, `<name>.reduce.conv`, `<name>.expand.conv` (state_dict keys
`stage1.block1.se.reduce.conv.weight`, ...).

On stages of built-in blocks, `se:` puts a gate in every block: on a basic or bottleneck body's
output, before the add of a residual block (Hu et al. Fig. 3, SE-ResNet); in an inverted block
between the depthwise conv and the projection (where MobileNet-V3 has it; C is then the hidden
width). In any list of layers `se` is a layer, so a custom body (or a stem, a head, an inception
branch) places gates where it likes:

```yaml
stages:
  - residual: {block: bottleneck, width: 64, blocks: 3, se: {reduction: 16}}   # SE-ResNet-50's stage 1
  - residual:
      blocks: 2
      layers:                      # the same gate in a custom body
        - conv: {out: 64, kernel: 3}
        - conv: {out: 64, kernel: 3}
        - se: {reduction: 16}      # named se1; default reduction 16
```

A gate needs a feature map with at least 2 channels, and `C // reduction` must leave at least one:
both are errors located at the `se` key (`reduction` for the second). The bundled
`specs/se_resnet50.yaml` is SE-ResNet-50 (28,088,024 parameters; the paper's Table 1: 28.1M). Path
analyses count no path through a gate's scale (it is one number per channel, not a feature map:
`archc/ir/dag.py`); diagrams draw the gate as a side branch ending in a multiply node (×).

## `vars` and expressions

`vars: {n: 9}` defines numbers. Any string value may contain `${expr}`: a whole-string expression
becomes a number (`blocks: "${n}"`, `width: "${2*w}"`); inside a longer string it is spliced in
(`title: "ResNet-${6*n+2}"`). Expressions are parsed as a tiny arithmetic language (numbers,
variables, `+ - * / // % **`, parentheses, `min max round int floor ceil`), never evaluated by
Python; results above 1e15 and exponents above 64 are refused. A var may use earlier vars.

## `extends` and merge rules

`extends: base.yaml` (relative to the extending file's folder) loads the base first, then:

* mappings merge key by key, recursively; the extending file wins;
* lists and scalars are replaced whole (a stage list is never spliced);
* a key set to `null` deletes the inherited key (`stem: null`);
* `vars` merge like any mapping, so a child can change `n` and reuse the parent's `${n}`;
* `${...}` is substituted once, after all merging and `--set` overrides.

Chains may be up to 16 deep; cycles are errors. Errors in inherited parts point into the base file.

What `extends` may reach: a **relative** path ending in `.yaml`/`.yml` that, with symlinks
followed, lies in the folder of the spec named on the command line (or below it) or among the
bundled specs (`specs/`). Absolute paths, `~`, paths leaving those folders, symlink loops, and
anything that is not a regular file (a FIFO, a device) are refused at the `extends` line. The same
holds for the spec itself: `archc validate /dev/zero` or a FIFO is refused before any read.
Spec names on the command line are literal: `*` is a file named `*` or a bundled spec, never a glob.

## `--set` overrides

`archc build spec.yaml --set classes=10 --set vars.n=18 --set stages[1].residual.blocks=4`:
the path uses dots and `[i]` (or `.i`, no negative indexes) for list items; the value is parsed as
YAML by the same reader as spec files (YAML 1.2 numbers, the same alias, size and depth limits), and `null` deletes the key or list item, as in `extends`. `vars.<name>` must name a variable
the spec defines. Overrides apply after `extends`, before `vars` substitution, and are recorded in
`summary.json` and in analysis reports.

## Limits

Untrusted specs are bounded (`archc.Limits`, all configurable in the Python API): 1 MB file,
200,000 YAML nodes after alias expansion, nesting depth 64, 10,000 blocks per stage,
1,000,000 channels (and classes), 2 billion parameters, input side 16,384, any feature map's side
65,536, and 4 GiB of activations for one image (float32, every op's output summed: what a
`build --check` forward or an fvcore count holds). Bottleneck middle widths that round to 0 are
located at `base_width`.

## Initialisation

`init.conv`/`init.fc` choose the scheme, `mode` the kaiming fan. **A grouped conv's fan-out is
divided by its groups** (as timm does; torch's initialisers ignore groups): each input of a
depthwise 3x3 feeds 9 outputs, so `mode: fan_out` gives std sqrt(2/9), not sqrt(2/(9 x channels));
a ResNeXt 3x3 with 128 channels in 32 groups gets sqrt(2/36). Xavier uses the same grouped fan-out.
Ungrouped convs get exactly torch's `kaiming_normal_` etc. Fan-in is per group in torch already.

## Reference
"""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names)
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"mapping to {_type_name(args[1])}"
    if origin is tuple:
        return "[" + ", ".join(_type_name(a) for a in args) + "]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.__name__
    name = getattr(tp, "__name__", str(tp))
    if origin is typing.Annotated and args:  # a validated type (free text): named by what it holds
        name = _type_name(args[0])
    meta = getattr(tp, "__metadata__", None)
    if meta:
        return "positive int" if "gt=0" in str(meta) else "int >= 0" if "ge=0" in str(meta) else name
    return {"int": "int", "float": "number", "str": "string", "bool": "bool"}.get(name, name)


def _default(field: Any) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, BaseModel):
            return "see below"
        return f"`{value!r}`" if value not in ([], {}) else "empty"
    if field.default is None or field.default is PydanticUndefined:
        return "—"
    return f"`{field.default!r}`"


def model_table(model: type[BaseModel]) -> str:
    rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        desc = (field.description or "").replace("|", "\\|")
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |")
    return "\n".join(rows)


def reference() -> str:
    parts = [INTRO]
    for title, model in [("Top level (`Spec`)", m.Spec), ("`input`", m.InputSpec), ("`defaults`", m.Defaults),
                         ("`init`", m.InitSpec), ("`residual` stage", m.ResidualStage),
                         ("`plain` stage", m.PlainStage), ("`inception` stage", m.InceptionStage),
                         ("`dense` stage", m.DenseStage), ("`dense.transition`", m.TransitionSpec),
                         ("`aux_heads[]`", m.AuxHead)]:
        doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
        parts.append(f"### {title}\n\n{doc}\n\n{model_table(model)}\n")
    parts.append("### Layers\n\nEvery layer also accepts `name`.\n")
    layers = {kind: ((type(REGISTRY[kind]).__doc__ or REGISTRY[kind].doc or kind), REGISTRY[kind].Params)
              for kind in LAYER_KINDS}
    layers.update({kind: (params.__doc__ or kind, params) for kind, params in STRUCTURAL_LAYERS.items()})
    for kind, (text, params) in layers.items():
        doc = text.strip().splitlines()[0]
        fields = {k: v for k, v in params.model_fields.items() if k != "name"}
        parts.append(f"#### `{kind}`\n\n{doc}\n")
        if fields:
            rows = ["| key | type | default | meaning |", "|---|---|---|---|"]
            for name, field in fields.items():
                desc = (field.description or "").replace("|", "\\|")
                rows.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {desc} |")
            parts.append("\n".join(rows) + "\n")
        else:
            parts.append("No parameters.\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(reference(), end="")
