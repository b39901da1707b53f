"""What the playground's worker processes compute: spec text in, JSON-ready results out.

Every function here is pure (no server, no state): the web app validates a request with
`parse_request`, sends it to a worker process (archc.serve.workers) and relays the returned dict.
A spec that archc refuses comes back as `{"ok": False, "error": {...}}` with archc's one-line
message and its line and column in the editor's text, never as an exception.

The editor's text is written to a temporary folder (removed before the function returns) as
`spec.yaml`, next to links to the bundled specs of the gallery entry it came from, so that
`extends: _resnet_cifar.yaml` resolves exactly as it does for the bundled file itself.
"""
from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional

from archc.errors import ArchcError
from archc.spec.yamlload import DEFAULT_LIMITS, Limits

SPEC_FILE = "spec.yaml"  # the editor's text, as named in error messages
LEVELS = ("stage", "block", "layer")
MAX_OVERRIDES = 16
MAX_OVERRIDE_CHARS = 200
MAX_FOCUS_CHARS = 2_000
_FOCUS = re.compile(r"[A-Za-z0-9_.]+")
UNSAFE_SVG_TAGS = {"script", "foreignobject", "iframe", "object", "embed", "use", "animate", "set", "handler"}
EXPAND_ROLES = {"stage": "block", "block": "layer", "module": "layer"}  # node role (a str Role) clicked -> drawn at this level


class BadRequest(ValueError):
    """A request the page could not have sent (wrong types, unknown level): HTTP 400."""


@dataclass(frozen=True)
class SpecText:
    """One spec as the editor holds it: the text, the gallery entry it came from (its folder is where
    `extends` looks), and `--set` overrides."""

    text: str
    origin: str = ""
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    spec: SpecText
    level: str = "stage"
    focus: str = ""


# ---------------------------------------------------------------- requests


def gallery_names() -> list[str]:
    """The bundled specs by name (`resnet50`, `cifar/resnet56`), in archc's order."""
    from archc.bundled import bundled_specs, bundled_specs_dir

    root = bundled_specs_dir()
    return [p.relative_to(root).with_suffix("").as_posix() for p in bundled_specs()]


def gallery_text(name: str, limits: Limits = DEFAULT_LIMITS) -> Optional[str]:
    """The text of a bundled spec named exactly as in the gallery; None for any other name."""
    from archc.bundled import bundled_specs_dir

    if name not in gallery_names():
        return None
    data = (bundled_specs_dir() / f"{name}.yaml").read_bytes()[: limits.max_file_bytes]
    return data.decode("utf-8", "replace")


def schema_keys() -> list[str]:
    """Every key the spec format knows (from archc's JSON Schema), for the editor's completion."""
    from archc.spec.validate import json_schema

    keys: set[str] = set()
    todo: list = [json_schema()]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            keys.update(k for k in (node.get("properties") or {}) if isinstance(k, str))
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return sorted(keys)


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be a string")
    if len(value) > limit:
        raise BadRequest(f"{what} is longer than {limit:,} characters")
    return value


def parse_spec(payload: Any, limits: Limits = DEFAULT_LIMITS) -> SpecText:
    if not isinstance(payload, dict):
        raise BadRequest("a spec must be an object with 'text'")
    text = _text(payload.get("text", ""), "text", limits.max_file_bytes)
    origin = _text(payload.get("origin") or "", "origin", 200)
    if origin and origin not in gallery_names():
        raise BadRequest("origin must name a bundled spec")
    raw = payload.get("overrides") or []
    if not isinstance(raw, list) or len(raw) > MAX_OVERRIDES:
        raise BadRequest(f"overrides must be a list of at most {MAX_OVERRIDES} strings")
    overrides = tuple(_text(o, "an override", MAX_OVERRIDE_CHARS) for o in raw if not isinstance(o, str) or o.strip())
    return SpecText(text, origin, overrides)


def parse_request(payload: Any, limits: Limits = DEFAULT_LIMITS) -> Request:
    """A JSON body {text, origin, overrides, level, focus} -> Request; BadRequest when malformed."""
    spec = parse_spec(payload, limits)
    level = payload.get("level") or "stage"
    if level not in LEVELS:
        raise BadRequest(f"level must be one of {', '.join(LEVELS)}")
    focus = _text(payload.get("focus") or "", "focus", MAX_FOCUS_CHARS)
    if focus and not _FOCUS.fullmatch(focus):
        raise BadRequest("focus must be a node path such as stage2.block1")
    return Request(spec, level, focus)


# ---------------------------------------------------------------- loading


def load_text(spec: SpecText, limits: Limits = DEFAULT_LIMITS):  # -> archc.ir.graph.Model
    """Validate and lower the editor's text (ArchcError when archc refuses it)."""
    from archc.api import lower
    from archc.bundled import bundled_specs_dir
    from archc.spec.validate import validate_document
    from archc.spec.resolve import resolve_file

    root = bundled_specs_dir()
    folder = (root / spec.origin).parent if spec.origin else root
    with tempfile.TemporaryDirectory(prefix="archc-serve-") as tmp:
        here = Path(tmp)
        for entry in folder.iterdir():  # `extends` then finds the gallery entry's neighbours
            if entry.name != SPEC_FILE and (entry.suffix in (".yaml", ".yml") or entry.is_dir()):
                os.symlink(entry, here / entry.name)
        path = here / SPEC_FILE
        path.write_bytes(_encode(spec.text))
        doc = resolve_file(path, spec.overrides, limits, display=SPEC_FILE)
    return lower(validate_document(doc, limits))


def _encode(text: str) -> bytes:
    """The text as the bytes the reader checks: undecodable bytes a client kept as lone surrogates
    (Python's surrogateescape) become those bytes again, any other lone surrogate stays invalid UTF-8."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def error_dict(exc: ArchcError) -> dict[str, Any]:
    """archc's one-line message and, when it points into the editor's text, its line and column."""
    loc = exc.loc
    in_editor = loc is not None and loc.file == SPEC_FILE and loc.line > 0
    return {"message": exc.format(), "line": loc.line if in_editor else 0, "col": loc.col if in_editor else 0,
            "file": loc.file if loc is not None else "", "path": exc.spec_path}


def guarded(job: Any, *args: Any) -> dict[str, Any]:
    """Run a job; an archc error (bad spec) becomes {"ok": False, "error": ...}."""
    try:
        return job(*args)
    except ArchcError as exc:
        return {"ok": False, "error": error_dict(exc)}
    except MemoryError:
        return {"ok": False, "error": {"message": "out of memory", "line": 0, "col": 0, "file": "", "path": ""}}
    except RecursionError:
        return {"ok": False, "error": {"message": "spec too deeply nested", "line": 0, "col": 0, "file": "",
                                       "path": ""}}


# ---------------------------------------------------------------- analyses


def _big(value: int) -> str:
    from archc.analysis.markdown import big

    return big(value)


def _histogram(dist: dict[str, int]) -> list[list[float]]:
    """[length, share of paths] pairs (shares as floats: counts like 2^600 do not fit a JSON number)."""
    total = sum(dist.values())
    return [[int(k), float(Fraction(v, total))] for k, v in sorted(dist.items(), key=lambda kv: int(kv[0]))]


def path_summary(model: Any) -> dict[str, Any]:
    from archc.analysis.paths import VEIT_WINDOW, path_counts

    result = path_counts(model).to_dict(VEIT_WINDOW)
    main = result["outputs"]["output"]
    stats = {key: {k: main[key][k] for k in ("min", "max", "mean")} for key in ("layers", "blocks")}
    return {"paths": _big(main["paths"]), "paths_log2": main["paths_log2"],
            "blocks_on_main_path": result["blocks_on_main_path"], "window": list(VEIT_WINDOW),
            "effective_share": main["effective_share"], **stats,
            "histogram_blocks": _histogram(main["blocks"]["distribution"]),
            "histogram_layers": _histogram(main["layers"]["distribution"])}


def savings_summary(model: Any) -> dict[str, Any]:
    from archc.analysis.savings import bottleneck_savings

    sv = bottleneck_savings(model)
    inc, res = sv["inception"], sv["residual"]
    modules = [{"name": m["module"], "input": m["input"], "macs": m["specified"]["macs"], "naive_macs": m["naive"]["macs"],
                "factor": m["macs_factor"]} for m in inc["modules"]]
    stages = [{"name": s["stage"], "rewrite": f"{s['from']} -> {s['to']}", "macs": s["specified"]["macs"],
               "counterpart_macs": s["counterpart"]["macs"], "factor": s["macs_factor"]} for s in res["stages"]]
    out: dict[str, Any] = {"modules": modules, "stages": stages}
    if modules:
        t = inc["total"]
        out["modules_total"] = {"macs": t["specified"]["macs"], "naive_macs": t["naive"]["macs"], "factor": t["macs_factor"]}
    if stages:
        net = res["network"]
        out["network"] = {"macs": net["specified"]["macs"], "counterpart_macs": net["counterpart"]["macs"],
                          "factor": net["macs_factor"], "params": net["specified"]["params"],
                          "counterpart_params": net["counterpart"]["params"]}
    return out


def cost_summary(model: Any) -> dict[str, Any]:
    from archc.analysis.complexity import complexity

    c = complexity(model)
    keep = ("name", "path", "kind", "input", "output", "params", "macs", "share_macs")
    return {"total": c["total"], "total_with_aux": c["total_with_aux"], "weighted_ops": c["weighted_ops"],
            "stages": [{k: row[k] for k in keep} for row in c["stages"]],
            "aux_heads": [{k: row.get(k) for k in keep} for row in c["aux_heads"]]}


def expand_targets(model: Any) -> dict[str, str]:
    """Node path -> the level it is drawn at when clicked (stages into blocks, blocks into layers)."""
    return {node.path: EXPAND_ROLES[node.role] for node in model.walk() if node.role in EXPAND_ROLES}


def clean_svg(svg: str) -> str:
    """Graphviz's SVG without its XML prolog, DOCTYPE and comments (inlined into the page). archc escapes
    every label it gives Graphviz; this parses the result and refuses any element or attribute that could
    run (script, foreignObject, on* handlers, javascript: links), so a renderer bug cannot become an XSS."""
    import xml.etree.ElementTree as ET

    start = svg.find("<svg")
    body = re.sub(r"<!--.*?-->", "", svg[start:] if start >= 0 else svg, flags=re.S)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise ArchcError(f"the diagram is not well-formed SVG: {exc}") from None
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower()
        if tag in UNSAFE_SVG_TAGS:
            raise ArchcError(f"the diagram contains a <{tag}> element; refused")
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on") or (local == "href" and not value.strip().startswith("#")):
                raise ArchcError(f"the diagram contains a {local}= attribute; refused")
    return body


def diagram_svg(model: Any, level: str, focus: str) -> str:
    from archc.render import dot_source, render_source

    return clean_svg(render_source(dot_source(model, level, focus=focus or None), "svg").decode("utf-8"))


def _analyze(req: Request, limits: Limits) -> dict[str, Any]:
    from archc.render.diagram import resolve_focus

    model = load_text(req.spec, limits)
    focus = resolve_focus(model, req.focus).path if req.focus else ""
    return {"ok": True, "name": model.name, "title": model.title, "input": list(model.input_shape),
            "classes": model.classes, "level": req.level, "focus": focus,
            "svg": diagram_svg(model, req.level, focus), "cost": cost_summary(model),
            "savings": savings_summary(model), "paths": path_summary(model), "targets": expand_targets(model)}


def analyze(req: Request, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The page's view of one spec: diagram, per-stage costs, savings, paths; or the located error."""
    return guarded(_analyze, req, limits)


def _side(spec: SpecText, limits: Limits, which: str) -> Any:
    try:
        return load_text(spec, limits)
    except ArchcError as exc:
        raise ArchcError(f"spec {which}: {exc.format()}") from None


def _compare(a: SpecText, b: SpecText, limits: Limits) -> dict[str, Any]:
    from archc.analysis.compare import compare as run

    result = run(_side(a, limits, "A"), _side(b, limits, "B"))
    raw = result.pop("raw")
    for side in ("a", "b"):
        raw[side]["paths"] = _big(raw[side]["paths"])
    return {"ok": True, **result, "raw": raw}


def compare(a: SpecText, b: SpecText, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """`archc compare` of two editor texts: per stage and in total."""
    return guarded(_compare, a, b, limits)


DOWNLOADS = {"pdf": "application/pdf", "svg": "image/svg+xml", "py": "text/x-python; charset=utf-8",
             "yaml": "text/yaml; charset=utf-8"}


def standalone_spec(model: Any) -> bytes:
    """The spec as archc read it: `extends` merged, `--set` applied, `vars` substituted (their values kept),
    so the file validates on its own, anywhere, to the same network."""
    import yaml

    doc = model.spec.document
    data = {k: v for k, v in doc.data.items() if k != "extends"}
    header = (f"# {model.name}: written by archc serve, self-contained (extends merged"
              + (f", --set {' '.join(doc.overrides)} applied" if doc.overrides else "") + ")\n")
    return (header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)).encode("utf-8")


def _download(req: Request, kind: str, limits: Limits) -> dict[str, Any]:
    from archc.render import dot_source, render_source

    model = load_text(req.spec, limits)
    if kind == "yaml":
        return {"ok": True, "filename": f"{model.name}.yaml", "media_type": DOWNLOADS[kind],
                "data": standalone_spec(model)}
    if kind == "py":
        from archc.api import generate_source

        data = generate_source(model).encode("utf-8")
    else:
        data = render_source(dot_source(model, req.level, focus=req.focus or None), kind)
    suffix = "" if kind == "py" or (req.level == "stage" and not req.focus) else \
        "_" + (req.focus.replace(".", "_") if req.focus else req.level)
    return {"ok": True, "filename": f"{model.name}{suffix}.{kind}", "media_type": DOWNLOADS[kind], "data": data}


def download(req: Request, kind: str, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """The diagram as PDF/SVG or the generated PyTorch source, as bytes with a file name."""
    if kind not in DOWNLOADS:
        raise BadRequest(f"download kind must be one of {', '.join(DOWNLOADS)}")
    return guarded(_download, req, kind, limits)
