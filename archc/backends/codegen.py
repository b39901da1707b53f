"""IR -> readable, standalone PyTorch source (only torch needed to run it), with shape comments.

The generated class has the same module tree, hence the same state_dict keys, as archc.compile()."""
from __future__ import annotations

import builtins
import inspect
import math
from typing import Any

from archc.backends import modules as custom
from archc.backends.torch_backend import init_class_names
from archc.formats import shape_text
from archc.ir.graph import ConcatNode, GateNode, Model, Node, NodeRules, OpNode, ResidualNode, SeqNode
from archc.ops import ModuleCall
from archc.formats import format_macs
from archc.version import __version__

INDENT = "    "


def _value(v: Any) -> str:
    if isinstance(v, ModuleCall):
        return call_expr(v)
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] and all(isinstance(i, int) for i in v):
        return repr(v[0])
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(i) for i in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, float) and not math.isfinite(v):  # `nan` / `inf` would be NameErrors in the source
        raise ValueError(f"cannot print the non-finite number {v!r} in generated source")
    if isinstance(v, (bool, int, float, str)) or v is None:
        return repr(v)
    raise TypeError(f"cannot print {type(v).__name__} in generated source")


def doc_text(text: str) -> str:
    """Spec text made inert inside a generated docstring: no quote, backslash or control character survives."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return "".join(c if c.isprintable() or c == "\n" else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in text)


def _shape(shape: tuple) -> str:
    return shape_text(shape)


def call_expr(call: ModuleCall) -> str:
    """A registry ModuleCall as a constructor expression (nested calls inline)."""
    args = [_value(a) for a in call.args] + [f"{k}={_value(v)}" for k, v in call.kwargs]
    return f"{call.cls}({', '.join(args)})"


def op_expr(node: OpNode) -> str:
    return call_expr(node.module_call())


def _named_children(opener: str, closer: str, children: list[tuple[str, Node]], depth: int, comment: str) -> list[str]:
    lines = [opener + (f"  # {comment}" if comment else "")]
    pad = INDENT * (depth + 1)
    for name, child in children:
        sub = expr(child, depth + 1)
        lines.append(f"{pad}{name}={sub[0]}")
        lines.extend(sub[1:])
        lines[-1] += ","
    lines.append(INDENT * depth + closer)
    return lines


def _op(node: OpNode, depth: int) -> list[str]:
    return [f"{op_expr(node)}"]


def _seq(node: SeqNode, depth: int) -> list[str]:
    if not node.items:  # an identity branch (a dense layer's): the empty sequence hands its input on
        return ["seq()"]
    comment = f"{_shape(node.in_shape)} -> {_shape(node.out_shape)}"
    return _named_children("seq(", ")", [(c.name, c) for c in node.items], depth, comment)


def _residual(node: ResidualNode, depth: int) -> list[str]:
    comment = (f"{node.meta.get('block', '')} block, {node.shortcut_kind} shortcut: "
               f"{_shape(node.in_shape)} -> {_shape(node.out_shape)}")
    pad = INDENT * (depth + 1)
    body = _named_children("dict(", "),", [(c.name, c) for c in node.body], depth + 1, "")
    lines = [f"Residual(  # {comment}", pad + body[0], *body[1:]]
    if node.shortcut is not None:
        sub = expr(node.shortcut, depth + 1)
        lines.append(f"{pad}shortcut={sub[0]}")
        lines.extend(sub[1:])
        lines[-1] += ","
    if node.post is not None:
        lines.append(f"{pad}act={op_expr(node.post)},")
    if node.zero_init_last_bn:
        lines.append(f"{pad}zero_init_last_bn=True,")
    lines.append(INDENT * depth + ")")
    return lines


def _concat(node: ConcatNode, depth: int) -> list[str]:
    comment = f"concat: {_shape(node.in_shape)} -> {_shape(node.out_shape)}"
    lines = _named_children("Concat(dict(", "))", [(b.name, b) for b in node.branches], depth, comment)
    return lines


def _gate(node: GateNode, depth: int) -> list[str]:
    comment = f"{node.meta.get('label', 'gate')}: x * gate(x) per channel, {_shape(node.in_shape)}"
    return _named_children("Gate(dict(", "))", [(c.name, c) for c in node.gate], depth, comment)


# source lines of an expression building each IR node type (first line unindented, the rest at `depth`);
# a new structure: one entry here, and its container class in STRUCTURAL
expr: NodeRules[list[str]] = NodeRules("codegen", {
    OpNode: _op, SeqNode: _seq, ResidualNode: _residual, ConcatNode: _concat, GateNode: _gate})

# what every generated file needs: the structural containers and the init function
STRUCTURAL = (custom.seq, custom.Residual, custom.Concat, custom.Gate, custom.init_weights)
# names the generated module may define (everything in modules.py but the in-memory root, Network) or imports
TAKEN = {name for name, obj in vars(custom).items()
         if getattr(obj, "__module__", None) == custom.__name__ and obj is not custom.Network} | {
    "OrderedDict", "Dict", "List", "Optional", "Tuple", "torch", "F", "nn", "math"}


def _tuple_source(names: tuple[str, ...]) -> str:
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


def used_classes(model: Model) -> set[str]:
    """Every module class the model's ops name in their registry ModuleCalls (nested calls included)."""
    out: set[str] = set()
    for op in model.walk():
        if isinstance(op, OpNode):
            out.update(call.cls for call in op.module_call().calls())
    return out


def helpers(model: Model) -> list[Any]:
    """The archc.backends.modules objects the file needs, in their source order: the structural ones and the
    classes the model's ops name (derived from the registry's calls, so none can be forgotten)."""
    names = used_classes(model)
    chosen = []
    for name, obj in vars(custom).items():
        if getattr(obj, "__module__", None) != custom.__name__:
            continue
        if obj in STRUCTURAL or name in names:
            chosen.append(obj)
    missing = sorted(n for n in names if not n.startswith("nn.") and n not in {o.__name__ for o in chosen})
    if missing:
        raise ValueError(f"ops name module classes {', '.join(missing)} that archc/backends/modules.py does not "
                         "define (expected nn.<Name> or a class there)")
    return chosen


def _helpers_source(model: Model) -> str:
    return "\n\n\n".join(inspect.getsource(obj).rstrip() for obj in helpers(model))


def _model_class(model: Model) -> str:
    """The model's class name, kept clear of the helpers' (a spec named `residual` -> ResidualNet)."""
    name = model.class_name
    return name + "Net" if name in TAKEN or hasattr(builtins, name) else name


def _forward(model: Model) -> list[str]:
    from archc.backends.torch_backend import execution_plan

    lines = [f"{INDENT}def forward(self, x: torch.Tensor):",
             f'{INDENT * 2}"""eval: logits; train with aux heads: (logits, {{aux name: aux logits}})."""']
    has_aux = bool(model.aux_heads)
    if has_aux:
        lines.append(f"{INDENT * 2}aux: Dict[str, torch.Tensor] = {{}}")
    by_path = {node.path: node for node in model.walk()}  # one walk, not one search per step
    for path, taps in execution_plan(model):
        node = by_path[path]
        lines.append(f"{INDENT * 2}x = self.{path}(x)  # {_shape(node.out_shape)}")
        for tap in taps:
            lines.append(f"{INDENT * 2}if self.training:")
            lines.append(f'{INDENT * 3}aux["{tap}"] = self.{tap}(x)')
    if has_aux:
        lines.append(f"{INDENT * 2}if self.training:")
        lines.append(f"{INDENT * 3}return x, aux")
    lines.append(f"{INDENT * 2}return x")
    return lines


def generate(model: Model) -> str:
    """The model as a standalone Python module."""
    cost = model.cost
    spec = model.spec
    init = model.init
    refs = "".join(f"\nReference: {doc_text(r)}" for r in spec.references)
    source_note = f" from {doc_text(model.source)}" if model.source else ""
    if model.overrides:
        source_note += f" with --set {doc_text(' '.join(model.overrides))}"
    cls = _model_class(model)
    title = doc_text(model.title)
    out = [
        f'"""{title}: generated by archc {__version__}{source_note}.',
        "",
        f"Standalone: needs only torch. Input {_shape(model.input_shape)}, {model.output_text}, "
        f"{cost.params:,} parameters, {format_macs(cost.macs)}.{refs}",
        "",
        f"    model = {cls}().eval()",
        '"""',
        "import math",
        "from collections import OrderedDict",
        "from typing import Dict, List, Optional, Tuple",
        "",
        "import torch",
        "import torch.nn.functional as F",
        "from torch import nn",
        "",
        "",
        _helpers_source(model),
        "",
        "",
        f"class {cls}(nn.Module):",
        f'{INDENT}"""{title}."""',
        "",
        f"{INDENT}aux_loss_weights = {{{', '.join(f'{a.name!r}: {a.loss_weight!r}' for a in model.aux_heads)}}}",
        "",
        f"{INDENT}def __init__(self) -> None:",
        f"{INDENT * 2}super().__init__()",
    ]
    for node in model.body.items:
        lines = expr(node, 2)
        out.append(f"{INDENT * 2}self.{node.name} = {lines[0]}")
        out.extend(lines[1:])
    for aux in model.aux_heads:
        lines = expr(aux.head, 2)
        out.append(f"{INDENT * 2}# auxiliary classifier on {aux.attach} (training only, loss weight {aux.loss_weight})")
        out.append(f"{INDENT * 2}self.{aux.name} = {lines[0]}")
        out.extend(lines[1:])
    classes = ", ".join(f"{rule!r}: {_tuple_source(names)}" for rule, names in init_class_names(model).items())
    out.append(f"{INDENT * 2}# the module classes each init rule sets (from the op registry)")
    out.append(f"{INDENT * 2}init_weights(self, {{{classes}}},")
    out.append(f"{INDENT * 3}conv={init.conv!r}, fc={init.fc!r}, mode={init.mode!r}, "
               f"nonlinearity={init.nonlinearity!r}, std={init.std!r})")
    out.append("")
    out.extend(_forward(model))
    c, h, w = model.input_shape
    out += [
        "",
        "",
        'if __name__ == "__main__":',
        f"{INDENT}model = {cls}().eval()",
        f"{INDENT}print(model(torch.randn(1, {c}, {h}, {w})).shape)",
        "",
    ]
    return "\n".join(out)
