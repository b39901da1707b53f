"""Line-aware safe YAML loading: plain Python data plus a table of where each value came from."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from archc.errors import SourceLoc, SpecError, format_path

Path_ = tuple  # a spec path: ('stages', 2, 'residual', 'width')


@dataclass(frozen=True)
class Limits:
    """Resource limits for untrusted specs; raise them with ARCHC_LIMITS-free code by passing a Limits."""

    max_file_bytes: int = 1_000_000
    max_nodes: int = 200_000  # after alias expansion: stops "billion laughs"
    max_depth: int = 64
    max_blocks_per_stage: int = 10_000
    max_channels: int = 1_000_000
    max_total_params: int = 50_000_000_000
    max_input_size: int = 16_384


DEFAULT_LIMITS = Limits()


@dataclass
class Document:
    """Spec data as plain dicts/lists/scalars, with the source location of every node."""

    data: Any
    file: str
    locs: dict = field(default_factory=dict)  # path -> SourceLoc of the value
    key_locs: dict = field(default_factory=dict)  # path -> SourceLoc of the mapping key
    overrides: tuple = ()  # the `--set` assignments applied

    def loc_of(self, path: Path_, *, key: bool = False) -> SourceLoc:
        """The location of path, or of its nearest ancestor that has one."""
        path = tuple(path)
        table = self.key_locs if key else self.locs
        if path in table:
            return table[path]
        for cut in range(len(path) - 1, -1, -1):
            prefix = path[:cut]
            if prefix in self.locs:
                return self.locs[prefix]
        return SourceLoc(self.file)

    def error(self, path: Path_, message: str, *, key: bool = False, **kw: str) -> SpecError:
        return SpecError(message, loc=self.loc_of(path, key=key), spec_path=format_path(tuple(path)), **kw)


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _mark_loc(file: str, mark: Any) -> SourceLoc:
    if mark is None:
        return SourceLoc(file)
    return SourceLoc(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, limits: Limits, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.limits = limits
        self.loader = loader
        self.count = 0
        self.locs: dict = {}
        self.key_locs: dict = {}

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if self.count > self.limits.max_nodes:
            raise SpecError(
                f"spec too large: more than {self.limits.max_nodes} YAML nodes after expanding aliases",
                loc=_mark_loc(self.file, node.start_mark),
                spec_path=format_path(path),
                expected="a small spec (YAML alias bomb?)",
            )
        if depth > self.limits.max_depth:
            raise SpecError(
                f"spec nested deeper than {self.limits.max_depth} levels",
                loc=_mark_loc(self.file, node.start_mark),
                spec_path=format_path(path),
            )
        self.locs[path] = _mark_loc(self.file, node.start_mark)
        if not isinstance(node, yaml.ScalarNode) and node.tag not in _PLAIN_TAGS:
            raise SpecError(f"unsupported YAML tag {node.tag!r}", loc=_mark_loc(self.file, node.start_mark),
                            spec_path=format_path(path), expected="plain mappings, lists and scalars")
        if isinstance(node, yaml.MappingNode):
            out: dict = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    raise SpecError(
                        "mapping keys must be plain scalars (no complex keys, no '<<' merges)",
                        loc=_mark_loc(self.file, key_node.start_mark),
                        spec_path=format_path(path),
                    )
                key = self.loader.construct_object(key_node)
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    key = str(key)
                if key in out:
                    raise SpecError(
                        f"duplicate key {key!r}",
                        loc=_mark_loc(self.file, key_node.start_mark),
                        spec_path=format_path(path),
                        expected="each key once",
                    )
                child = path + (key,)
                self.key_locs[child] = _mark_loc(self.file, key_node.start_mark)
                out[key] = self.build(value_node, child, depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node)


def _check_depth(text: str, file: str, limits: Limits) -> None:
    """Refuse deep nesting before PyYAML's recursive composer sees it (the event parser is iterative)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > limits.max_depth:
                    raise SpecError(f"spec nested deeper than {limits.max_depth} levels",
                                    loc=_mark_loc(file, event.start_mark), expected="a flatter spec")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError:
        return  # reported with its location by the real parse


def parse_yaml(text: str, file: str, limits: Limits = DEFAULT_LIMITS) -> Document:
    """Parse YAML text safely (no tags that build objects), keeping node locations."""
    if len(text) > limits.max_file_bytes:
        raise SpecError(
            f"spec file too large ({len(text):,} characters)",
            loc=SourceLoc(file),
            expected=f"at most {limits.max_file_bytes:,}",
        )
    _check_depth(text, file, limits)
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise SpecError(f"invalid YAML: character {exc.character!r} is not allowed", loc=SourceLoc(file, line, col),
                        expected="printable text") from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            problem = exc.problem or exc.context or "invalid YAML"
            hint = ""
            if "\t" in text and ("tab" in str(problem).lower() or "\\t" in str(problem)):
                hint = " (YAML indentation must use spaces, not tabs)"
            raise SpecError(f"invalid YAML: {problem}{hint}", loc=_mark_loc(file, mark)) from None
        except yaml.YAMLError as exc:
            raise SpecError(f"invalid YAML: {exc}".splitlines()[0], loc=SourceLoc(file)) from None
        except RecursionError:
            raise SpecError("spec nested too deeply", loc=SourceLoc(file)) from None
        if root is None:
            raise SpecError("empty spec", loc=SourceLoc(file, 1, 1), expected="a mapping with 'name' and 'stages'")
        builder = _Builder(file, limits, loader)
        try:
            data = builder.build(root, (), 0)
        except yaml.constructor.ConstructorError as exc:
            raise SpecError(
                f"unsupported YAML value: {exc.problem}", loc=_mark_loc(file, exc.problem_mark)
            ) from None
        except RecursionError:
            raise SpecError("spec nested too deeply", loc=SourceLoc(file)) from None
    finally:
        loader.dispose()
    return Document(data=data, file=file, locs=builder.locs, key_locs=builder.key_locs)


def read_yaml_file(path: Path, limits: Limits = DEFAULT_LIMITS, display: Optional[str] = None) -> Document:
    """Read and parse a spec file, turning I/O and decoding problems into located errors."""
    shown = display or str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SpecError("no such spec file", loc=SourceLoc(shown)) from None
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", loc=SourceLoc(shown)) from None
    if path.is_dir():
        raise SpecError("is a directory, not a spec file", loc=SourceLoc(shown))
    if size > limits.max_file_bytes:
        raise SpecError(
            f"spec file too large ({size:,} bytes)",
            loc=SourceLoc(shown),
            expected=f"at most {limits.max_file_bytes:,} bytes",
        )
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise SpecError("not a text file (contains NUL bytes)", loc=SourceLoc(shown), expected="UTF-8 YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("not valid UTF-8 text", loc=SourceLoc(shown, line, 1), expected="UTF-8 YAML") from None
    return parse_yaml(text, shown, limits)
