"""A parsed YAML document validated against the spec language (archc.spec.model): pydantic's errors turned
into one located SpecError (file:line:col, spec path, what was expected), module names checked, and the
language's JSON schema."""
from __future__ import annotations

import difflib
import json
import types
import typing
from typing import Any, Optional, Union

from pydantic import BaseModel, ValidationError

from archc.errors import SpecError, format_path, short_repr
from archc.names import name_problem
from archc.spec.model import FORMAT_VERSION, Spec
from archc.spec.yamlload import DEFAULT_LIMITS, Document, Limits

def _unwrap(tp: Any) -> list:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        out = []
        for arg in typing.get_args(tp):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [tp]


def _model_at(loc: tuple) -> Optional[type[BaseModel]]:
    """The pydantic model class that a loc path points into (for 'did you mean')."""
    candidates: list = [Spec]
    for part in loc:
        nxt: list = []
        for tp in candidates:
            for t in _unwrap(tp):
                origin = typing.get_origin(t)
                if isinstance(t, type) and issubclass(t, BaseModel) and isinstance(part, str) and part in t.model_fields:
                    nxt.append(t.model_fields[part].annotation)
                elif origin is list and isinstance(part, int):
                    nxt.append(typing.get_args(t)[0])
                elif origin is dict and isinstance(part, str):
                    nxt.append(typing.get_args(t)[1])
        candidates = nxt
    for tp in candidates:
        for t in _unwrap(tp):
            if isinstance(t, type) and issubclass(t, BaseModel):
                return t
    return None


_MESSAGES = {
    "missing": "missing required key",
    "int_type": "expected an integer",
    "int_parsing": "expected an integer",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "greater_than": "must be positive",
    "finite_number": "expected a finite number",
}


def _clean_loc(loc: tuple, data: Any, missing: bool = True) -> tuple:
    """Keep the loc parts that address the user's data; drop pydantic's union-member and validator tags
    (a last part not in the data is kept only for a `missing` key: else it is a tag like 'list[int]')."""
    out = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif missing and i == len(loc) - 1 and isinstance(part, str) and isinstance(node, dict):
            out.append(part)  # a missing key: the path of the key that should be there
        else:
            node = node  # a tag such as 'InceptionModuleSpec' or 'list[int]': skip it
    return tuple(out)


def _data_order(path: tuple, data: Any) -> tuple:
    """Where path comes in the data, in document order (a missing key sorts after its siblings)."""
    order = []
    node = data
    for part in path:
        if isinstance(node, dict):
            keys = list(node)
            order.append(keys.index(part) if part in node else len(keys))
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int):
            order.append(part)
            node = node[part] if 0 <= part < len(node) else None
        else:
            order.append(0)
            node = None
    return tuple(order)


def _more(others: list, doc: Document, shown: int = 3) -> str:
    """' [and 2 more problems: 7:12 stages[1].conv.out, 9:3 head]' (locations in the same file as line:col)."""
    if not others:
        return ""
    places = []
    for path in others[:shown]:
        loc = doc.loc_of(path)
        where = f"{loc.line}:{loc.col}" if loc.file == doc.file and loc.line else str(loc)
        places.append(f"{where} {format_path(path) or '(top level)'}")
    rest = ", ..." if len(others) > shown else ""
    return f" [and {len(others)} more problem{'s' if len(others) > 1 else ''}: {', '.join(places)}{rest}]"


def spec_error_from_validation(exc: ValidationError, doc: Document) -> SpecError:
    errors = exc.errors(include_url=False)
    cleaned = [_clean_loc(e["loc"], doc.data, e["type"] == "missing") for e in errors]
    # a union's alternatives fail together: keep the most specific (deepest) error of each problem
    specific = [i for i, c in enumerate(cleaned)
                if not any(len(o) > len(c) and o[: len(c)] == c for o in cleaned)]
    # report the first problem in file (data) order; at one place prefer an unknown key, then depth
    first = min(specific, key=lambda i: (_data_order(cleaned[i], doc.data), errors[i]["type"] != "extra_forbidden"))
    err = errors[first]
    loc = cleaned[first]
    kind = err["type"]
    given = err.get("input")
    got = short_repr(list(given) if isinstance(given, tuple) else given) if kind != "missing" else ""  # a YAML list
    others = list(dict.fromkeys(cleaned[i] for i in specific if cleaned[i] != loc))
    more = _more(others, doc)
    if kind == "extra_forbidden" and loc:
        key = str(loc[-1])
        model = _model_at(loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        expected = "one of " + ", ".join(allowed) if allowed and len(allowed) <= 12 else ""
        return doc.error(loc, f"unknown key {key!r}{hint}{more}", key=True, expected=expected)
    if kind == "missing" and loc:
        return doc.error(loc[:-1], f"missing required key {str(loc[-1])!r}{more}")
    if kind == "literal_error":
        return doc.error(loc, f"invalid value{more}", expected=err.get("ctx", {}).get("expected", ""), got=got)
    if kind in ("value_error", "assertion_error"):
        message = str(err.get("ctx", {}).get("error", err["msg"]))
        return doc.error(loc, message + more)
    message = _MESSAGES.get(kind, err["msg"][0].lower() + err["msg"][1:])
    here = [e for e in errors if _clean_loc(e["loc"], doc.data, e["type"] == "missing") == loc]
    if len(here) > 1 and any(isinstance(p, str) and p.startswith("tuple[") for e in here for p in e["loc"]):
        # `kernel: [3, 5, 7]` fails both union members (an int, a pair): name both
        return doc.error(loc, f"expected an integer or a pair [h, w]{more}", got=got)
    if kind.startswith(("greater_than", "less_than", "too_short", "too_long")):
        message = err["msg"][0].lower() + err["msg"][1:]
    return doc.error(loc, f"{message}{more}", got=got)


def check_module_names(spec: Spec, doc: Document) -> None:
    """Inception module names are `prefix` + key: the name rule applies to the result, located at the key."""
    for i, item in enumerate(spec.stages):
        st = item.inception
        if st is None:
            continue
        where = ("stages", i, "inception")
        if st.prefix and not (st.prefix.isascii() and st.prefix.replace("_", "a").isalnum() and st.prefix[0].isalpha()):
            raise doc.error(where + ("prefix",), f"prefix {st.prefix[:40]!r} cannot start a Python identifier",
                            expected="ASCII letters, digits and _, starting with a letter, or ''")
        for key in st.modules:
            problem = name_problem(f"{st.prefix}{key}")
            if problem:
                raise doc.error(where + ("modules", key), f"module key {str(key)[:40]!r} with prefix "
                                f"{st.prefix!r}: {problem}", key=True)


def validate_document(doc: Document, limits: Limits = DEFAULT_LIMITS) -> Spec:
    """Validate resolved spec data against the Spec model; errors carry file:line:col. The Spec keeps the
    document and the limits it was loaded under (`spec.document`, `spec.limits`) for lowering."""
    if isinstance(doc.data, dict) and "archc" in doc.data and doc.data["archc"] != FORMAT_VERSION:
        raise doc.error(("archc",), "unsupported format version", expected=str(FORMAT_VERSION),
                        got=short_repr(doc.data["archc"]))
    try:
        # strict, in JSON mode: no "16" -> 16 or true -> 1 coercions, while YAML lists still fill tuples
        payload = json.dumps(doc.data, default=str, ensure_ascii=False)
        spec = Spec.model_validate_json(payload, strict=True)
    except ValidationError as exc:
        error = spec_error_from_validation(exc, doc)  # doc.error adds the related --set overrides
        raise error from None
    check_module_names(spec, doc)
    spec._document, spec._limits = doc, limits
    return spec


def json_schema() -> dict:
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "archc spec"
    return schema
