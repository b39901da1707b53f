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

from archc.errors import SourceLoc, SpecError, format_path, short_repr
from archc.spec.expr import ExprError, evaluate, names_in, substitute
from archc.spec.yamlload import DEFAULT_LIMITS, Document, Limits, parse_yaml, read_yaml_file

MAX_EXTENDS_DEPTH = 16


def _prefixed(table: dict, prefix: tuple) -> dict:
    return {p: loc for p, loc in table.items() if p[: len(prefix)] == prefix}


def _merge(base: Any, over: Any, path: tuple, origin: dict) -> Any:
    """Merge `over` onto `base`; origin[path] records "child" for a subtree taken whole from `over` and
    "both" for a mapping merged key by key. Linear in the size of both: no table is scanned per key."""
    if isinstance(base, dict) and isinstance(over, dict):
        origin[path] = "both"
        out = dict(base)
        for key, value in over.items():
            child = path + (key,)
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = _merge(out[key], value, child, origin)
            else:
                out[key] = value
                origin[child] = "child"
        return out
    origin[path] = "child"
    return over


def _merged_locs(node: Any, path: tuple, from_child: bool, origin: dict, parent: Document, child: Document,
                 locs: dict, key_locs: dict) -> None:
    """Fill the location tables of merged data: each value points at the file that supplied it."""
    how = "child" if from_child else origin.get(path)
    src = child if how == "child" else parent
    loc = (child.locs.get(path) if how == "both" else None) or src.locs.get(path)
    if loc is not None:
        locs[path] = loc
    key_loc = (child.key_locs.get(path) if how == "both" else None) or src.key_locs.get(path)
    if key_loc is not None:
        key_locs[path] = key_loc
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        _merged_locs(value, path + (key,), how == "child", origin, parent, child, locs, key_locs)


def _resolve_path(path: Path, what: str, loc_error: Any) -> Path:
    """path with every symlink followed; a loop or an unreadable link is a located error."""
    try:
        return path.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # Python < 3.13 raises RuntimeError on a symlink loop
        raise loc_error(f"{what}: cannot resolve (symlink loop?): {exc}") from None


def allowed_extends_roots(top: Path) -> tuple[Path, ...]:
    """Folders an `extends` chain may reach: the top-level spec's folder (and below) and the bundled specs."""
    from archc.bundled import bundled_specs_dir

    roots = [top.parent]
    try:
        roots.append(bundled_specs_dir().resolve())
    except (OSError, RuntimeError):
        pass
    return tuple(roots)


def _check_extends_target(doc: Document, ref: str, path: Path, roots: tuple[Path, ...]) -> Path:
    def err(message: str, **kw: str) -> SpecError:
        return doc.error(("extends",), message, **kw)

    if not isinstance(ref, str) or not ref.strip():
        raise err("extends must name a spec file", expected="a relative path", got=short_repr(ref))
    if "\x00" in ref or Path(ref).is_absolute() or ref.startswith("~"):
        raise err("extends takes a path relative to the extending file", expected="e.g. base.yaml or ../base.yaml",
                  got=short_repr(ref))
    if not ref.endswith((".yaml", ".yml")):
        raise err("extends must name a .yaml spec file", got=short_repr(ref))
    target = _resolve_path(path.parent / ref, f"extends {ref!r}", err)
    if not any(target == root or root in target.parents for root in roots):
        raise err(f"extends {ref!r} leaves the allowed folders",
                  expected="a spec in the top-level spec's folder (or below) or among the bundled specs")
    return target


def _load_with_extends(path: Path, limits: Limits, stack: tuple, display: str,
                       roots: tuple[Path, ...]) -> Document:
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
    parent_path = _check_extends_target(doc, parent_ref, path, roots)
    if parent_path in stack:
        chain = " -> ".join(p.name for p in stack + (parent_path,))
        raise doc.error(("extends",), f"extends cycle: {chain}", expected="a chain of specs without cycles")
    if len(stack) >= MAX_EXTENDS_DEPTH:
        raise doc.error(("extends",), f"extends chain deeper than {MAX_EXTENDS_DEPTH}")
    if not parent_path.is_file():
        what = "not a regular file" if parent_path.exists() else "not found"
        raise doc.error(("extends",), f"extended spec {what}: {parent_ref}", expected=f"a file next to {path.name}")
    parent_display = str(Path(display).parent / parent_ref)
    parent = _load_with_extends(parent_path, limits, stack + (parent_path,), parent_display, roots)
    child_data = {k: v for k, v in doc.data.items() if k != "extends"}
    origin: dict = {}
    merged = _merge(parent.data, child_data, (), origin)
    merged.pop("extends", None)
    locs: dict = {}
    key_locs: dict = {}
    _merged_locs(merged, (), False, origin, parent, doc, locs, key_locs)
    return Document(data=merged, file=doc.file, locs=locs, key_locs=key_locs)


def parse_set_path(text: str) -> tuple:
    """'stages[1].residual.blocks' or 'stages.1.residual.blocks' -> ('stages', 1, 'residual', 'blocks')."""
    parts: list = []
    for raw in text.replace("[", ".").replace("]", "").split("."):
        if raw == "":
            raise ValueError(f"empty component in key path {text!r}")
        parts.append(int(raw) if raw.lstrip("-").isdigit() else raw)
    return tuple(parts)


def apply_override(doc: Document, assignment: str, limits: Limits = DEFAULT_LIMITS) -> None:
    """Apply one `--set key.path=value` in place; the value is YAML read like a spec file (same reader,
    same YAML 1.2 numbers, same size/alias/depth limits)."""
    where = SourceLoc(f"--set {assignment[:200]}")
    if "=" not in assignment:
        raise SpecError("override must look like key.path=value", loc=where, got=short_repr(assignment))
    key_text, value_text = assignment.split("=", 1)
    try:
        path = parse_set_path(key_text.strip())
    except ValueError as exc:
        raise SpecError(f"bad override: {exc}", loc=where) from None
    if len(path) > limits.max_depth:  # a spec cannot be nested deeper than this, so no key path can be longer
        raise SpecError(f"override key path has {len(path)} components", loc=where,
                        expected=f"at most {limits.max_depth} (the spec nesting limit)")
    try:
        value = parse_yaml(value_text, "value", limits, allow_empty=True).data if value_text.strip() else ""
    except SpecError as exc:
        raise SpecError(f"bad override value: {exc.message}", loc=where, spec_path=format_path(path),
                        expected=exc.expected, got=exc.got) from None
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
    deps: dict = doc.var_deps  # var -> vars it depends on, transitively
    for name, value in raw.items():
        path = ("vars", name)
        if isinstance(value, str):
            direct = names_in(value) if "${" in value else names_in("${" + value + "}")
            deps[name] = set(direct)  # direct only: the transitive closure is taken when an error needs it
            doc.var_uses[path] = set(direct) | {name}
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
        doc.var_uses[path] = set(names_in(node))
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
    top = _resolve_path(Path(path), "spec", lambda message: SpecError(message, loc=SourceLoc(shown)))
    doc = _load_with_extends(top, limits, (top,), shown, allowed_extends_roots(top))
    overrides = tuple(overrides)
    for assignment in overrides:
        apply_override(doc, assignment, limits)
    doc.overrides = overrides
    doc.override_paths = tuple((a, parse_set_path(a.split("=", 1)[0].strip())) for a in overrides)
    variables = _resolve_vars(doc)
    doc.data = _substitute_all(doc.data, variables, (), doc)
    doc.data["vars"] = variables
    return doc
