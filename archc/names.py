"""One rule for every name a spec gives (model, stage, layer, aux head, inception module key + prefix).

Names become Python identifiers in generated source and attribute names of torch modules, so each must
be an ASCII identifier (then NFKC normalisation, which Python applies to identifiers, cannot change it),
not start with `_`, not be a Python keyword, and not be an attribute of the module it lands in. The
attribute list is fixed here (validation must not import torch); tests/test_names.py checks that it
covers what the installed torch's nn.Module, nn.Sequential and archc's container modules define.
"""
from __future__ import annotations

import keyword
import unicodedata

RESERVED_ATTRS = frozenset({
    # torch.nn.Module and nn.Sequential (public attributes and methods)
    "T_destination", "add_module", "append", "apply", "bfloat16", "buffers", "call_super_init", "children",
    "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extend", "extra_repr", "float", "forward",
    "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "insert", "ipu",
    "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules",
    "named_parameters", "parameters", "pop", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook",
    "register_load_state_dict_pre_hook", "register_module", "register_parameter",
    "register_state_dict_post_hook", "register_state_dict_pre_hook", "requires_grad_", "set_extra_state",
    "set_submodule", "share_memory", "state_dict", "to", "to_empty", "train", "training", "type", "xpu",
    "zero_grad",
    # archc's containers (archc/backends/modules.py): Residual, Concat, Gate, Network
    "act", "shortcut", "body_names", "zero_init_last_bn", "branch_names", "gate_names", "plan", "aux_loss_weights",
})

RULE = "an ASCII Python identifier (letters, digits, _; not starting with _ or a digit), not a keyword"


def name_problem(value: object, *, attribute: bool = True) -> str:
    """Why `value` cannot be a name ('' when it can). attribute=False skips the module-attribute check."""
    if not isinstance(value, str):
        return f"a name must be a string, got {type(value).__name__}"
    shown = repr(value[:40])
    if not value.isascii():
        normal = unicodedata.normalize("NFKC", value)
        hint = f" (Python reads it as {normal[:40]!r})" if normal != value and normal.isidentifier() else ""
        return f"{shown} is not ASCII{hint}; a name must be {RULE}"
    if not value.isidentifier() or value.startswith("_"):
        return f"{shown} is not usable as a name; a name must be {RULE}"
    if keyword.iskeyword(value):
        return f"{shown} is a Python keyword, not a usable identifier (it names an attribute or class); choose another name"
    if attribute and value in RESERVED_ATTRS:
        return f"name {value!r} is reserved: torch modules already have an attribute of that name; choose another name"
    return ""


def check_name(value: object, *, attribute: bool = True) -> object:
    """Raise ValueError (pydantic turns it into a located error) when `value` breaks the name rule."""
    if value is None:
        return value
    problem = name_problem(value, attribute=attribute)
    if problem:
        raise ValueError(problem)
    return value


def class_name(name: str) -> str:
    """The generated class name for a model name: snake_case -> CamelCase (`resnet50` -> Resnet50)."""
    parts = [p for p in name.split("_") if p]
    return "".join(p[:1].upper() + p[1:] for p in parts) or "Model"
