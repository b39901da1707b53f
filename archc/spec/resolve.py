"""From a spec file to resolved data: `extends:` merging, `--set` overrides, `vars` substitution.

Merge rules for `extends: base.yaml` (path relative to the extending file's folder):
  * mappings merge key by key, recursively; the extending file wins;
  * lists and scalars are replaced whole (a stage list is never spliced);
  * a key set to `null` in the extending file deletes the inherited key;
  * `vars` merge like any mapping, so a child can change `n` and reuse the parent's `${n}`;
  * substitution of `${...}` happens once, after all merging and overrides.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from archc.errors import SourceLoc, SpecError, format_path
from archc.spec.expr import ExprError, substitute, evaluate
from archc.spec.yamlload import DEFAULT_LIMITS, Document, Limits, read_yaml_file

MAX_EXTENDS_DEPTH = 16


def _prefixed(table: dict, prefix: tuple) -> dict:
    return {p: loc for p, loc in table.items() if p[: len(prefix)] == prefix}


def _merge(base: Any, over: Any, path: tuple, locs: dict, key_locs: dict, over_doc: Document) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for key, value in over.items():
            child = path + (key,)
            if value is None:
                out.pop(key, None)
                for table in (locs, key_locs):
                    for p in list(_prefixed(table, child)):
                        del table[p]
                continue
            out[key] = _merge(base.get(key), value, child, locs, key_locs, over_doc) if key in base else value
            if key not in base or not (isinstance(base.get(key), dict) and isinstance(value, dict)):
                for table, src in ((locs, over_doc.locs), (key_locs, over_doc.key_locs)):
                    for p in list(_prefixed(table, child)):
                        del table[p]
                    table.update(_prefixed(src, child))
        return out
    for table, src in ((locs, over_doc.locs), (key_locs, over_doc.key_locs)):
        for p in list(_prefixed(table, path)):
            del table[p]
        table.update(_prefixed(src, path))
    return over


def _load_with_extends(path: Path, limits: Limits, stack: tuple, display: str) -> Document:
    doc = read_yaml_file(path, limits, display)
    if not isinstance(doc.data, dict):
        raise SpecError(
            "a spec must be a mapping of keys",
            loc=doc.loc_of(()),
            expected="keys like name:, input:, stages:",
            got=type(doc.data).__name__,
        )
    parent_ref = doc.data.get("extends")
    if parent_ref is None:
        return doc
    if not isinstance(parent_ref, str) or not parent_ref.strip():
        raise doc.error(("extends",), "extends must name a spec file", expected="a relative path", got=repr(parent_ref))
    parent_path = (path.parent / parent_ref).resolve()
    if parent_path in stack:
        chain = " -> ".join(p.name for p in stack + (parent_path,))
        raise doc.error(("extends",), f"extends cycle: {chain}", expected="a chain of specs without cycles")
    if len(stack) >= MAX_EXTENDS_DEPTH:
        raise doc.error(("extends",), f"extends chain deeper than {MAX_EXTENDS_DEPTH}")
    if not parent_path.is_file():
        raise doc.error(("extends",), f"extended spec not found: {parent_ref}", expected=f"a file next to {path.name}")
    parent_display = str(Path(display).parent / parent_ref)
    parent = _load_with_extends(parent_path, limits, stack + (parent_path,), parent_display)
    locs = dict(parent.locs)
    key_locs = dict(parent.key_locs)
    child_data = {k: v for k, v in doc.data.items() if k != "extends"}
    merged = _merge(parent.data, child_data, (), locs, key_locs, doc)
    merged.pop("extends", None)
    return Document(data=merged, file=doc.file, locs=locs, key_locs=key_locs)


def parse_set_path(text: str) -> tuple:
    """'stages[1].residual.blocks' or 'stages.1.residual.blocks' -> ('stages', 1, 'residual', 'blocks')."""
    parts: list = []
    for raw in text.replace("[", ".").replace("]", "").split("."):
        if raw == "":
            raise ValueError(f"empty component in key path {text!r}")
        parts.append(int(raw) if raw.lstrip("-").isdigit() else raw)
    return tuple(parts)


def apply_override(doc: Document, assignment: str) -> None:
    """Apply one `--set key.path=value` (value parsed as YAML) in place."""
    where = SourceLoc(f"--set {assignment}")
    if "=" not in assignment:
        raise SpecError("override must look like key.path=value", loc=where, got=assignment)
    key_text, value_text = assignment.split("=", 1)
    try:
        path = parse_set_path(key_text.strip())
        value = yaml.safe_load(value_text) if value_text.strip() else ""
    except (ValueError, yaml.YAMLError) as exc:
        raise SpecError(f"bad override: {str(exc).splitlines()[0]}", loc=where) from None
    if any(isinstance(part, int) and part < 0 for part in path) or "-" in key_text:
        raise SpecError("negative list indexes are not supported", loc=where, expected="an index from 0")
    if path[0] == "vars" and len(path) == 2 and path[1] not in (doc.data.get("vars") or {}):
        known = ", ".join(sorted(doc.data.get("vars") or {})) or "none"
        raise SpecError(f"unknown variable {path[1]!r}", loc=where, spec_path=format_path(path),
                        expected=f"one of the spec's vars ({known})")
    node = doc.data
    for depth, part in enumerate(path[:-1]):
        here = path[: depth + 1]
        if isinstance(node, dict):
            if part not in node or node[part] is None:
                node[part] = {}
                doc.locs[here] = doc.key_locs[here] = where  # a key the override made: errors point at it
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int):
            if part >= len(node):
                raise SpecError(f"index {part} out of range", loc=where, spec_path=format_path(here),
                                expected=f"0..{len(node) - 1}")
            node = node[part]
        else:
            raise SpecError("cannot descend into this value", loc=where, spec_path=format_path(here))
    last = path[-1]
    if value is None and isinstance(node, dict):  # `null` deletes, as in `extends`
        node.pop(last, None)
    elif value is None and isinstance(node, list) and isinstance(last, int) and last < len(node):
        del node[last]
    elif isinstance(node, dict):
        node[last] = value
    elif isinstance(node, list) and isinstance(last, int) and last < len(node):
        node[last] = value
    else:
        raise SpecError("cannot set this key", loc=where, spec_path=format_path(path))
    for table in (doc.locs, doc.key_locs):
        for p in list(_prefixed(table, path)):
            del table[p]
    doc.locs[path] = doc.key_locs[path] = where
    doc.key_locs[path] = where


def _resolve_vars(doc: Document) -> dict:
    raw = doc.data.get("vars", {})
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise doc.error(("vars",), "vars must be a mapping", expected="name: number", got=type(raw).__name__)
    resolved: dict = {}
    for name, value in raw.items():
        path = ("vars", name)
        if not isinstance(name, str) or not name.isidentifier():
            raise doc.error(path, f"variable name {name!r} is not an identifier", key=True)
        if isinstance(value, str):
            try:
                value = substitute(value, resolved) if "${" in value else evaluate(value, resolved)
            except ExprError as exc:
                raise doc.error(path, f"bad expression: {exc}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise doc.error(path, "variable must be a number", expected="int or float", got=repr(value))
        resolved[name] = value
    return resolved


def _substitute_all(node: Any, variables: dict, path: tuple, doc: Document) -> Any:
    if isinstance(node, dict):
        return {k: (v if path == () and k == "vars" else _substitute_all(v, variables, path + (k,), doc))
                for k, v in node.items()}
    if isinstance(node, list):
        return [_substitute_all(v, variables, path + (i,), doc) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:
        try:
            return substitute(node, variables)
        except ExprError as exc:
            raise doc.error(path, f"bad expression {node!r}: {exc}") from None
    return node


def resolve_file(
    path: Path,
    overrides: Iterable[str] = (),
    limits: Limits = DEFAULT_LIMITS,
    display: Optional[str] = None,
) -> Document:
    """Load a spec file with its extends chain, apply overrides, substitute vars."""
    shown = display or str(path)
    doc = _load_with_extends(Path(path).resolve(), limits, (Path(path).resolve(),), shown)
    overrides = tuple(overrides)
    for assignment in overrides:
        apply_override(doc, assignment)
    doc.overrides = overrides
    variables = _resolve_vars(doc)
    doc.data = _substitute_all(doc.data, variables, (), doc)
    doc.data["vars"] = variables
    return doc
