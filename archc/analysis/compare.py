"""Two models side by side: per stage (aligned by position) and in total."""
from __future__ import annotations

from itertools import zip_longest
from typing import Any

from archc.analysis.complexity import complexity
from archc.analysis.markdown import big, g, n
from archc.analysis.paths import path_counts
from archc.ir.graph import Model


def _side(model: Model) -> dict[str, Any]:
    c = complexity(model)
    p = path_counts(model).to_dict()["outputs"]["output"]
    return {"name": model.name, "title": model.title, "complexity": c, "paths": p}


def compare(a: Model, b: Model) -> dict[str, Any]:
    sa, sb = _side(a), _side(b)
    stages = [[x, y] for x, y in zip_longest(sa["complexity"]["stages"], sb["complexity"]["stages"])]
    totals = {}
    for label, key in (("params", "params"), ("MACs", "macs")):
        totals[label] = [n(sa["complexity"]["total"][key]), n(sb["complexity"]["total"][key])]
    totals["GMACs"] = [g(sa["complexity"]["total"]["macs"]), g(sb["complexity"]["total"]["macs"])]
    totals["GFLOPs (2 x MACs)"] = [g(sa["complexity"]["total"]["flops"]), g(sb["complexity"]["total"]["flops"])]
    totals["activations / image"] = [n(sa["complexity"]["total"]["activations"]),
                                     n(sb["complexity"]["total"]["activations"])]
    totals["depth (weighted layers, longest path)"] = [sa["paths"]["layers"]["max"], sb["paths"]["layers"]["max"]]
    totals["conv/fc ops"] = [sa["complexity"]["weighted_ops"], sb["complexity"]["weighted_ops"]]
    totals["paths"] = [big(s["paths"]["paths"], s["paths"]["paths_log2"]) for s in (sa, sb)]
    totals["path length in layers"] = [f"{s['paths']['layers']['min']}..{s['paths']['layers']['max']}"
                                       for s in (sa, sb)]
    return {"a": {"name": a.name, "title": a.title, "input": list(a.input_shape)},
            "b": {"name": b.name, "title": b.title, "input": list(b.input_shape)},
            "stages": stages, "totals": totals,
            "raw": {"a": {"total": sa["complexity"]["total"], "paths": sa["paths"]["paths"]},
                    "b": {"total": sb["complexity"]["total"], "paths": sb["paths"]["paths"]}}}
