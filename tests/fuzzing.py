"""Hypothesis strategies for valid and mutated specs (shared by the fuzz test and bench/fuzz_campaign.py)."""
from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

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


@st.composite
def layer(draw: Any) -> dict:
    kind = draw(st.sampled_from(["conv", "conv", "maxpool", "avgpool", "relu", "dropout", "lrn", "batchnorm"]))
    if kind == "conv":
        return {"conv": {"out": draw(st.integers(1, 12)), "kernel": draw(st.sampled_from([1, 3, 5])),
                         "stride": draw(st.integers(1, 2))}}
    if kind in ("maxpool", "avgpool"):
        return {kind: {"kernel": draw(st.integers(1, 3)), "stride": draw(st.integers(1, 2)),
                       "ceil": draw(st.booleans())}}
    return {kind: {}}


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
        body["block"] = draw(st.sampled_from(["basic", "bottleneck"]))
    else:
        body = {"layers": draw(st.lists(layer(), min_size=1, max_size=3)), "blocks": body["blocks"]}
    if kind == "residual" and "block" in body:
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
