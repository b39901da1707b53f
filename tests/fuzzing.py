"""Hypothesis strategies for valid and mutated specs (shared by the fuzz test and bench/fuzz_campaign.py)."""
from __future__ import annotations

import copy
import types
import typing
from typing import Any

import annotated_types
from hypothesis import strategies as st

from archc.ops import ACTIVATIONS, LAYER_KINDS, NORMS, REGISTRY

JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.integers(40_000, 200_000),  # paddings and sizes that blow feature maps up
    st.text(max_size=12), st.lists(st.integers(-3, 300), max_size=7), st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
    st.sampled_from(["${n}", "${2*n}", "${n/0}", "${9**99}", "${x}", "${", "abc", "3x3", "-1", "1e9", "none",
                     "${__import__('os')}", "relu", "bottleneck", "projection", "pad", "\"\"\"", "\x00", "a" * 300,
                     # issue 10's kinds: names Python or torch cannot take, YAML 1.1 forms, hostile expressions
                     "none", "class", "append", "named_buffers", "forward", "training", "\ufb01", "caf\u00e9",
                     "010", "1:30", "1e-3", ".nan", "-.inf", "1e400", "${(-1)**0.5 // 1}", "${1e15 ** 64}",
                     "${round(2, -10**15)}", "*", "**"]),
)


# string fields whose domain the registry defines (the validators check them against the same views)
STRING_DOMAINS = {"norm": NORMS, "act": ACTIVATIONS + ("none",)}
SMALL = 6  # integers range over [lower bound, lower bound + SMALL]: kernels and strides that fit small inputs


def _bounds(metadata: list) -> tuple[float, float]:
    lo, hi = 0.0, float(SMALL)
    for m in metadata:
        if isinstance(m, annotated_types.Gt):
            lo = float(m.gt) + (1 if isinstance(m.gt, int) else 1e-3)
        elif isinstance(m, annotated_types.Ge):
            lo = float(m.ge)
        elif isinstance(m, annotated_types.Le):
            hi = float(m.le)
        elif isinstance(m, annotated_types.Lt):
            hi = float(m.lt) - 1e-3
    return lo, max(lo, min(hi, lo + SMALL))


def value_of(tp: Any, metadata: list, name: str) -> st.SearchStrategy:
    """A value for one schema type: the strategy follows the pydantic annotation and its constraints."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return value_of(args[0], metadata + list(args[1:]), name)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([value_of(a, metadata, name) for a in args])
    if origin is tuple:
        return st.tuples(*(value_of(a, metadata, name) for a in args))
    if tp is type(None):
        return st.none()
    if tp is bool:
        return st.booleans()
    lo, hi = _bounds(metadata)
    if tp is int:
        return st.integers(int(lo), int(hi))
    if tp is float:
        return st.floats(lo, hi, allow_nan=False)
    if tp is str:
        return st.sampled_from(STRING_DOMAINS.get(name, ("x",)))
    raise TypeError(f"no strategy for {tp!r} (field {name!r}): teach tests/fuzzing.py the type")


@st.composite
def params_of(draw: Any, kind: str) -> dict:
    """Parameters of one registered op, drawn from its schema: required fields always, the others at random."""
    out: dict = {}
    for name, info in REGISTRY[kind].Params.model_fields.items():
        if name == "name" or (not info.is_required() and draw(st.booleans())):
            continue
        value = draw(value_of(info.annotation, list(info.metadata), name))
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


# every layer a spec may write, from the registry; weighted ops twice (they make the nets worth exercising)
FUZZ_KINDS = LAYER_KINDS + tuple(k for k in LAYER_KINDS if REGISTRY[k].weighted)


@st.composite
def layer(draw: Any) -> dict:
    kind = draw(st.sampled_from(FUZZ_KINDS))
    return {kind: draw(params_of(kind))}


@st.composite
def stage(draw: Any) -> dict:
    kind = draw(st.sampled_from(["residual", "plain", "inception", "layer"]))
    if kind == "layer":
        return draw(layer())
    if kind == "inception":
        modules = {f"{i}a": [draw(st.integers(1, 8)) for _ in range(6)] for i in range(draw(st.integers(1, 2)))}
        return {"inception": {"modules": modules, "five": draw(st.sampled_from([3, 5]))}}
    body: dict = {"width": draw(st.integers(1, 12)), "blocks": draw(st.integers(1, 3)),
                  "stride": draw(st.integers(1, 2))}
    if draw(st.booleans()):
        body["block"] = draw(st.sampled_from(["basic", "bottleneck", "inverted"]))
    else:
        body = {"layers": draw(st.lists(layer(), min_size=1, max_size=3)), "blocks": body["blocks"]}
    if kind == "residual" and body.get("block") in ("basic", "bottleneck"):
        body["shortcut"] = draw(st.sampled_from(["projection", "pad", "projection_all", "identity"]))
    return {kind: body}


@st.composite
def valid_spec(draw: Any) -> dict:
    spec: dict = {"archc": 1, "name": "fuzz", "vars": {"n": draw(st.integers(1, 3))},
                  "input": {"channels": draw(st.integers(1, 4)), "size": draw(st.integers(8, 40))},
                  "classes": draw(st.integers(1, 12)),
                  "stages": draw(st.lists(stage(), min_size=1, max_size=3))}
    if draw(st.booleans()):
        spec["stem"] = draw(st.lists(layer(), min_size=1, max_size=2))
    if draw(st.booleans()):
        spec["defaults"] = {"norm": draw(st.sampled_from(["batchnorm", "none"])),
                            "act": draw(st.sampled_from(["relu", "gelu", "tanh", "none"]))}
    if draw(st.booleans()):
        spec["aux_heads"] = [{"attach": draw(st.sampled_from(["stage1", "stem", "block1", "inception0a", "nope"])),
                              "layers": [{"gap": {}}, {"fc": {}}]}]
    return spec


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, prefix + (i,))
    return out


@st.composite
def mutated_spec(draw: Any) -> dict:
    spec = copy.deepcopy(draw(valid_spec()))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(spec) if p]
        path = draw(st.sampled_from(paths))
        parent = spec
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "add_key", "wrap", "nest"]))
        last = path[-1]
        if action == "replace":
            parent[last] = draw(JUNK)
        elif action == "delete":
            del parent[last]
        elif action == "add_key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(JUNK)
        elif action == "wrap":
            parent[last] = [parent[last]]
        elif action == "nest":
            parent[last] = {"x": parent[last]}
    return spec
