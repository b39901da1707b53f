"""Per-stage summary of a lowered model (shapes, params, MACs), as rows and as a text table."""
from __future__ import annotations

from typing import Any

from archc.formats import format_macs, shape_text
from archc.ir.graph import Model, Node, Role




def fmt_shape(shape: tuple) -> str:
    return shape_text(shape, "spaced")


def stage_kind(node: Node) -> str:
    if node.role == Role.STAGE:
        kind = node.meta.get("kind", "stage")
        block = node.meta.get("block")
        n = node.meta.get("blocks")
        if kind == "inception":
            return f"inception x{n}"
        if kind == "dense":  # a dense block: its layers and growth rate (and the transition after it)
            return f"dense x{n}, k={node.meta.get('growth_rate')}" + (" + transition" if node.meta.get("transition")
                                                                      else "")
        return f"{kind} {block} x{n}"
    if node.role in (Role.STEM, Role.HEAD):
        return node.role
    return getattr(node, "kind", node.role)


def summary_rows(model: Model) -> list[dict[str, Any]]:
    rows = []
    for node in model.stages:
        cost = node.cost
        rows.append({"name": node.name, "kind": stage_kind(node), "output": list(node.out_shape),
                     "params": cost.params, "macs": cost.macs})
    for aux in model.aux_heads:
        cost = aux.head.cost
        rows.append({"name": aux.name, "kind": f"aux head on {aux.attach} (training only)",
                     "output": list(aux.head.out_shape), "params": cost.params, "macs": cost.macs})
    return rows


def summary_dict(model: Model) -> dict[str, Any]:
    cost = model.cost
    full = model.cost_with_aux()
    return {
        "name": model.name,
        "title": model.title,
        "class_name": model.class_name,
        "input": list(model.input_shape),
        "classes": model.classes if model.is_classifier else None,
        "output": list(model.body.out_shape),
        "stages": summary_rows(model),
        "overrides": list(model.overrides),
        "params": cost.params,
        "params_with_aux": full.params,
        "macs": cost.macs,
        "flops": 2 * cost.macs,
        "convention": "MACs = multiply-accumulates of conv and fc layers (what torchvision/fvcore call FLOPs); "
                      "FLOPs = 2 x MACs",
    }


def format_table(model: Model) -> str:
    rows = summary_rows(model)
    header = ("stage", "kind", "output (C x H x W)", "params", "MACs")
    body = [(r["name"], r["kind"], fmt_shape(r["output"]), f"{r['params']:,}", format_macs(r["macs"]))
            for r in rows]
    cost = model.cost
    total = ("total", "", fmt_shape(model.body.out_shape), f"{cost.params:,}", format_macs(cost.macs))
    widths = [max(len(str(row[i])) for row in [header, *body, total]) for i in range(len(header))]

    def line(row: tuple) -> str:
        cells = [str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [f"{model.title}  (input {fmt_shape(model.input_shape)}, {model.output_text})", line(header), rule]
    out += [line(r) for r in body]
    out += [rule, line(total)]
    if model.aux_heads:
        full = model.cost_with_aux()
        out.append(f"with aux heads (training only): {full.params:,} params")
    out.append(f"FLOPs = 2 x MACs = {format_macs(2 * cost.macs).replace('MACs', 'FLOPs')}")
    return "\n".join(out)
