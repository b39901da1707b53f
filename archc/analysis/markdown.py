"""Markdown rendering of reports, the index and comparisons (pure functions of the JSON dicts)."""
from __future__ import annotations

from typing import Any, Optional, Sequence

from archc.analysis.initprop import SCHEMES, summary_rows
from archc.formats import percent, shape_text
from archc.mdtext import md_code, md_text, md_url, table

def shape(s: Sequence[int]) -> str:
    return shape_text(s)


def n(v: int) -> str:
    return f"{v:,}"


def g(v: int) -> str:
    return f"{v / 1e9:.3f}"


def big(v: int, log2: Optional[float] = None) -> str:
    """Exact up to 10^15, else scientific with log2 (the exact integer is in report.json)."""
    if v < 10**15:
        return n(v)
    digits = len(str(v))  # integer arithmetic: a float holds at most ~1.8e308
    head = (v + 5 * 10 ** (digits - 5)) // 10 ** (digits - 4)  # 4 significant digits, rounded
    if head >= 10_000:
        head, digits = head // 10, digits + 1
    text = f"{head / 1000:.3f}e{digits - 1}"
    if v & (v - 1) == 0:
        return f"2^{v.bit_length() - 1} = {text}"
    return text + (f" (2^{log2:.2f})" if log2 is not None else "")


def pct(x: float) -> str:
    return percent(x, significant=4)


def opt(x: Optional[float]) -> str:
    return "overflow" if x is None else f"{x:.4g}"


# ---------------------------------------------------------------- one report


def _complexity(r: dict[str, Any]) -> list[str]:
    c = r["complexity"]
    t, ta = c["total"], c["total_with_aux"]
    out = ["## Complexity", "", f"Convention: {c['convention']}.", ""]
    rows = [["network (inference)", n(t["params"]), n(t["macs"]), g(t["macs"]), g(t["flops"]), n(t["activations"]),
             f"{t['activation_bytes'] / 2**20:.1f} MiB"]]
    if c["aux_heads"]:
        rows.append(["with aux heads (training)", n(ta["params"]), n(ta["macs"]), g(ta["macs"]), g(ta["flops"]),
                     n(ta["activations"]), f"{ta['activation_bytes'] / 2**20:.1f} MiB"])
    out += [table(["", "params", "MACs", "GMACs", "GFLOPs (2 x MACs)", "activations / image", "activation memory"],
                  rows), ""]
    depth = r["paths"]["outputs"]["output"]["layers"]["max"]
    out += [f"Depth: {depth} weighted layers (conv/fc) on the longest input-output path; {c['weighted_ops']} conv/fc "
            "ops in all.", "", "### Per stage", ""]
    rows = [[md_text(s["name"]), md_text(s["kind"]), shape(s["output"]), n(s["params"]), g(s["macs"]), g(s["flops"]),
             pct(s["share_macs"]), n(s["activations"])] for s in c["stages"]]
    rows += [[md_text(a["name"]), md_text(a["kind"]), shape(a["output"]), n(a["params"]), g(a["macs"]), g(a["flops"]), "",
              n(a["activations"])] for a in c["aux_heads"]]
    out += [table(["stage", "kind", "output", "params", "GMACs", "GFLOPs", "share of MACs", "activations"], rows,
                  "lllrrrrr"), "", "![cost per stage](cost_per_stage.svg)", "", "### Per op category", ""]
    rows = [[k, v["ops"], n(v["params"]), n(v["macs"])] for k, v in c["by_category"].items()]
    out += [table(["category", "ops", "params", "MACs"], rows), ""]
    if c["blocks"]:
        rows = [[md_text(b["path"]), md_text(b["kind"]), shape(b["input"]), shape(b["output"]), n(b["params"]), n(b["macs"])]
                for b in c["blocks"]]
        out += ["<details><summary>Per block / module</summary>", "",
                table(["block", "kind", "input", "output", "params", "MACs"], rows, "llllrr"), "", "</details>", ""]
    return out


def _fvcore(r: dict[str, Any]) -> list[str]:
    fv = r.get("fvcore")
    if fv is None:
        return []
    cl = fv["conv_linear_macs"]
    verdict = "equal" if fv["all_equal"] else (f"DIFFERENT at {len(fv['mismatches'])} op(s): "
                                                + ", ".join(md_text(m) for m in fv["mismatches"][:5]))
    out = ["### Cross-check with fvcore", "",
           f"{fv['tool']}, traced on the compiled module; fvcore's per-module counts are keyed by the spec's "
           "names.", "",
           f"- conv and fc MACs over {fv['ops_checked']} ops: archc {n(cl['analytic'])}, fvcore {n(cl['fvcore'])}: "
           f"**{verdict}**.",
           f"- totals: archc {n(fv['total_macs']['analytic'])} MACs, fvcore {n(fv['total_macs']['fvcore'])}."]
    if fv["fvcore_only"]:
        out.append("- counted by fvcore, 0 MACs in archc's convention: "
                   + ", ".join(f"{k} {n(v)}" for k, v in fv["fvcore_only"].items()) + ".")
    if fv["unsupported"]:
        out.append("- not counted by fvcore (unsupported ops, calls): "
                   + ", ".join(f"{md_code(k)} x{v}" for k, v in fv["unsupported"].items()) + ".")
    return out + [""]


def _inception(inc: dict[str, Any]) -> list[str]:
    if not inc["modules"]:
        return []
    out = [f"### {inc.get('title', 'Inception modules: 1x1 reductions')}", "", inc["note"] + ".", ""]
    rows = [[md_text(m["module"]), shape(m["input"]), n(m["specified"]["macs"]), n(m["naive"]["macs"]),
             f"{m['macs_factor']:.2f}x", n(m["specified"]["params"]), n(m["naive"]["params"]),
             f"{m['output_channels']} / {m['naive_output_channels']}"] for m in inc["modules"]]
    t = inc["total"]
    rows.append(["**total**", "", n(t["specified"]["macs"]), n(t["naive"]["macs"]), f"{t['macs_factor']:.2f}x",
                 n(t["specified"]["params"]), n(t["naive"]["params"]), ""])
    out += [table(["module", "input", "MACs as specified", "MACs without 1x1", "factor", "params as specified",
                   "params without 1x1", "out channels (spec / naive)"], rows, "llrrrrrr"), "",
            "![savings](savings_inception.svg)", "", "<details><summary>Formulas (k*k*C_in*C_out*H*W)</summary>", ""]
    for m in inc["modules"]:
        out.append(f"**{md_text(m['module'])}** (input {shape(m['input'])})")
        out.append("")
        for b in m["branches"]:
            if b["removed"] == "nothing":
                continue
            spec = " + ".join(c["formula"] for c in b["specified"]["convs"])
            naive = " + ".join(c["formula"] for c in b["naive"]["convs"]) or "0 (pool only)"
            if len(b["naive"]["convs"]) > 1:
                naive += f" = {n(b['naive']['macs'])}"
            out.append(f"- {md_text(b['branch'].rsplit('.', 1)[-1])} without its {b['removed']}: {naive}; "
                       f"as specified: {spec} = {n(b['specified']['macs'])}")
        out.append("")
    return out + ["</details>", ""]


def _factorisation(fac: Optional[dict[str, Any]]) -> list[str]:
    """Inception-v3's factorised convs vs the dense conv each group stands for (archc.analysis.factorisation)."""
    if not fac or not fac["factorisations"]:
        return []
    out = ["### Inception modules: factorised convolutions", "", fac["note"] + ".", ""]
    rows = [[md_text(r["branch"]), r["kind"], f"{r['factorised']} for {r['replaces']}",
             f"{shape(r['input'])} -> {shape(r['output'])}", n(r["specified"]["macs"]), n(r["dense"]["macs"]),
             f"{r['macs_factor']:.2f}x", n(r["specified"]["params"]), n(r["dense"]["params"])]
            for r in fac["factorisations"]]
    t = fac["total"]
    rows.append(["**total**", "", "", "", n(t["specified"]["macs"]), n(t["dense"]["macs"]), f"{t['macs_factor']:.2f}x",
                 n(t["specified"]["params"]), n(t["dense"]["params"])])
    out += [table(["branch", "kind", "convs", "in -> out", "MACs as specified", "MACs dense", "factor",
                   "params as specified", "params dense"], rows, "llllrrrrr"), "",
            "<details><summary>Formulas (k*k*C_in*C_out*H*W)</summary>", ""]
    out += [f"- {md_text(r['branch'])}: {r['specified']['formula']} = {n(r['specified']['macs'])}; dense "
            f"{r['replaces']}: {r['dense']['formula']} = {n(r['dense']['macs'])}" for r in fac["factorisations"]]
    return out + ["", "</details>", ""]


def _blocks(res: dict[str, Any]) -> list[str]:
    if not res["stages"]:  # no block stage, or a counterpart that is not a valid net: say which
        return ["### Blocks: bottleneck vs basic", "", res["note"] + ".", ""] if res.get("note") else []
    out = ["### Blocks: bottleneck vs basic", "", res["note"] + ".", ""]
    rows = []
    for s in res["stages"]:
        last = s["blocks"][-1]
        rows.append([md_text(s["stage"]), f"{s['from']} -> {s['to']}", f"{shape(last['input'])} -> {shape(last['output'])}",
                     n(last["specified"]["macs"]), n(last["counterpart"]["macs"]), n(s["specified"]["macs"]),
                     n(s["counterpart"]["macs"]), f"{s['macs_factor']:.2f}x"])
    net = res["network"]
    rows.append(["**network**", "", "", "", "", n(net["specified"]["macs"]), n(net["counterpart"]["macs"]),
                 f"{net['macs_factor']:.2f}x"])
    out += [table(["stage", "rewrite", "last block in -> out", "block MACs", "counterpart block MACs", "stage MACs",
                   "counterpart stage MACs", "factor"], rows, "lllrrrrr"), "",
            f"Parameters: {n(net['specified']['params'])} as specified, {n(net['counterpart']['params'])} with the "
            f"counterpart blocks ({net['params_factor']:.2f}x).", "", "![savings](savings_blocks.svg)", "",
            "<details><summary>Formulas of each stage's last block (k*k*C_in*C_out*H*W)</summary>", ""]
    for s in res["stages"]:
        last = s["blocks"][-1]
        for key in ("specified", "counterpart"):
            convs = last[key]["convs"]
            out.append(f"- {md_text(last['block'])} {key} ({last[key]['block']}): "
                       + " + ".join(c["formula"].split(" = ")[0] for c in convs)
                       + f" = {n(sum(c['macs'] for c in convs))}")
    return out + ["", "</details>", ""]


def _depthwise(dw: Optional[dict[str, Any]]) -> list[str]:
    """Depthwise kxk + pointwise 1x1 pairs vs the dense kxk each replaces (absent: no such pair)."""
    if not dw:
        return []
    t = dw["total"]
    out = ["### Depthwise factorisations: depthwise + pointwise vs a dense conv", "", dw["note"] + ".", ""]
    rows = [[md_text(s["stage"]), s["pairs"], n(s["specified"]["macs"]), n(s["dense"]["macs"]),
             f"{s['macs_factor']:.2f}x", n(s["specified"]["params"]), n(s["dense"]["params"])] for s in dw["stages"]]
    rows.append(["**total**", sum(s["pairs"] for s in dw["stages"]), n(t["specified"]["macs"]),
                 n(t["dense"]["macs"]), f"{t['macs_factor']:.2f}x", n(t["specified"]["params"]),
                 n(t["dense"]["params"])])
    out += [table(["stage", "pairs", "MACs as specified", "MACs dense", "factor", "params as specified",
                   "params dense"], rows, "lrrrrrr"), "",
            f"The dense convs would add {n(t['macs_saved'])} MACs to the network's {n(t['network_macs'])}.", "",
            "![savings](savings_depthwise.svg)", "",
            "<details><summary>Formulas per block (k*k*C_in*C_out*H*W)</summary>", ""]
    for b in dw["blocks"]:
        spec = " + ".join(c["formula"].split(" = ")[0] for c in b["specified"]["convs"])
        dense = b["dense"]["convs"][0]["formula"]
        out.append(f"- {md_text(b['block'])} ({shape(b['input'])} -> {shape(b['output'])}): {spec} = "
                   f"{n(b['specified']['macs'])}; dense: {dense} ({b['macs_factor']:.2f}x)")
    return out + ["", "</details>", ""]


def _paths(r: dict[str, Any]) -> list[str]:
    p = r["paths"]
    lo, hi = p["effective_window"]
    out = ["## Paths", "", f"Exact counts by {p['method']}. Lengths are counted in weighted layers (conv/fc) and in "
           "blocks (residual blocks, inception modules, dense layers, plain blocks and transitions whose body the "
           "path passes through; an identity shortcut, or a dense layer's identity branch, skips its block). "
           f"{p['blocks_on_main_path']} blocks on the main path.", ""]
    rows = []
    for name, o in sorted(p["outputs"].items(), key=lambda kv: (kv[0] != "output", kv[0])):  # main, then aux
        L, B = o["layers"], o["blocks"]
        rows.append([md_text(name), big(o["paths"], o["paths_log2"]), f"{L['min']}..{L['max']} (mean {L['mean']:.2f})",
                     f"{B['min']}..{B['max']} (mean {B['mean']:.2f})", pct(o["effective_share"])])
    out += [table(["output", "paths", "length in layers", "length in blocks", f"share with {lo}..{hi} blocks"], rows,
                  "lrrrr"), "",
            f"The share of paths {lo}..{hi} blocks long is Veit et al.'s \"effective paths\" window for ResNet-110 "
            "(54 blocks, where those lengths carry almost all the gradient).", "", "![path lengths](paths.svg)", ""]
    return out


def _in_scheme_order(schemes: dict[str, Any]) -> list[tuple[str, Any]]:
    """The schemes in SCHEMES order whatever the dict's order (report.json stores its keys sorted)."""
    rank = {name: i for i, name in enumerate(SCHEMES)}
    return sorted(schemes.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0]))


def _init(r: dict[str, Any]) -> list[str]:
    ini = r.get("init")
    if ini is None:
        return []
    out = ["## Signal propagation at initialisation", "",
           f"{ini['method']}; input {shape(ini['input'])}, batch {ini['batch']}, seed {ini['seed']}, "
           f"{len(ini['layers'])} weighted layers. Schemes set conv and fc init alike: "
           + "; ".join(f"{k} = {', '.join(f'{a}={b}' for a, b in v.items())}" for k, v in _in_scheme_order(ini["schemes"]))
           + ". 'overflow' marks a signal that left float32's range.", ""]
    rows = [[s["scheme"], s["variant"], opt(s["act_first"]), opt(s["act_last"]), opt(s["act_ratio"]),
             opt(s["grad_first"]), opt(s["grad_last"]), opt(s["grad_ratio"])] for s in summary_rows(ini)]
    out += [table(["init", "variant", "act std, first conv", "act std, last conv", "last / first",
                   "grad std, first conv", "grad std, last conv", "first / last"], rows, "llrrrrrr"), "",
            "![init propagation](init_propagation.svg)", ""]
    return out


def render_report(r: dict[str, Any], plot_files: list[str], diagrams: Sequence[str] = (),
                  probe_md: Optional[str] = None) -> str:
    head = [f"# {md_text(r['title'])}: analysis", ""]
    facts = [f"spec {md_code(r['spec'])}" if r["spec"] else "", f"input {shape(r['input'])}",
             f"{r['classes']} classes" if r["classes"] is not None else "no classifier (a module alone)"]
    if r.get("overrides"):
        facts.append("with " + " ".join(md_code(f"--set {o}") for o in r["overrides"]))
    head += [" · ".join(f for f in facts if f), ""]
    if r["references"]:
        head += ["References: " + "; ".join(md_text(ref) for ref in r["references"]), ""]
    if diagrams:
        label = "Diagram" if len(diagrams) == 1 else "Diagrams"
        head += [f"{label}: " + ", ".join(f"[{md_text(d.rsplit('/', 1)[-1])}]({md_url(d)})" for d in diagrams), ""]
    head += ["Regenerate with `archc analyze` (all bundled specs) or `archc analyze <spec>`.", ""]
    if r.get("skipped"):
        head += ["Not run (opt-in, slower: they build the torch module): "
                 + "; ".join(f"{s['analysis']} (`{s['option']}`)" for s in r["skipped"])
                 + ". `--full` runs every analysis.", ""]
    body = _complexity(r) + _fvcore(r) + ["## Bottleneck savings", ""]
    savings = (_inception(r["savings"]["inception"]) + _factorisation(r["savings"].get("factorisation"))
               + _blocks(r["savings"]["residual"]))
    savings += _depthwise(r["savings"].get("depthwise"))
    body += savings or ["No inception modules and no basic/bottleneck block stages: nothing to rewrite.", ""]
    body += _paths(r) + _init(r)
    if probe_md:
        body += ["## Training probe (archc.probe)", "", probe_md.rstrip(), ""]
    return "\n".join(head + body).rstrip() + "\n"


# ---------------------------------------------------------------- index and compare


def render_index(rows: list[dict[str, Any]]) -> str:
    out = ["# archc reports", "", "All bundled specs, analysed by `archc analyze`. MACs count multiply-adds "
           "(what torchvision calls FLOPs); GFLOPs = 2 x GMACs. Depth: weighted layers (conv/fc) on the longest "
           "input-output path. Blocks: residual/plain blocks and inception modules. Paths: exact input-output path "
           "counts. fvcore: conv and fc MACs cross-checked op by op.", ""]
    body = []
    for r in rows:
        check = {None: "-", True: "equal", False: "DIFFERENT"}[r["fvcore_equal"]]
        params = n(r["params"]) + (f" ({n(r['params_with_aux'])} with aux)" if r["aux_heads"] else "")
        diagram = f"[stage diagram]({md_url(r['diagram'])})" if r.get("diagram") else "-"
        body.append([f"[{md_text(r['name'])}]({md_url(r['dir'] + '/report.md')})", md_text(r["title"]), shape(r["input"]), params, g(r["macs"]),
                     g(2 * r["macs"]), r["depth"], r["blocks"], big(r["paths"], r["paths_log2"]), check, diagram])
    out.append(table(["spec", "title", "input", "params", "GMACs", "GFLOPs", "depth", "blocks", "paths",
                      "fvcore conv+fc", "diagram"], body, "lllrrrrrrll"))
    return "\n".join(out) + "\n"


def render_compare(c: dict[str, Any]) -> str:
    a, b = c["a"], c["b"]
    out = [f"# {md_text(a['title'])} vs {md_text(b['title'])}", "",
           f"Input {shape(a['input'])} vs {shape(b['input'])}; stages aligned by position; MACs = multiply-adds, "
           "GFLOPs = 2 x GMACs; aux heads (training only) not included.", ""]
    rows = []
    for sa, sb in c["stages"]:
        cells = []
        for s in (sa, sb):
            if s is None:
                cells += ["", "", "", ""]
                continue
            label = s["name"] if s["kind"] == s["name"] else f"{s['name']}: {s['kind']}"
            cells += [md_text(label), shape(s["output"]), n(s["params"]), g(s["macs"])]
        rows.append(cells)
    hdr = [f"{md_text(a['name'])} stage", "output", "params", "GMACs", f"{md_text(b['name'])} stage", "output", "params", "GMACs"]
    out += [table(hdr, rows, "llrrllrr"), ""]
    rows = [[k, v[0], v[1]] for k, v in c["totals"].items()]
    out += [table(["", md_text(a["name"]), md_text(b["name"])], rows, "lrr")]
    return "\n".join(out) + "\n"
