"""Line-aware safe YAML loading: plain Python data plus a table of where each value came from."""
from __future__ import annotations

import math
import os
import re
import stat
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
    max_total_params: int = 2_000_000_000  # 8 GB of float32 weights: what `build` can still allocate and run
    max_input_size: int = 16_384
    max_feature_size: int = 65_536  # H or W of any intermediate feature map
    max_activation_bytes: int = 4 * 2**30  # float32 outputs of every op for one image, summed


DEFAULT_LIMITS = Limits()


@dataclass
class Document:
    """Spec data as plain dicts/lists/scalars, with the source location of every node."""

    data: Any
    file: str
    locs: dict = field(default_factory=dict)  # path -> SourceLoc of the value
    key_locs: dict = field(default_factory=dict)  # path -> SourceLoc of the mapping key
    overrides: tuple = ()  # the `--set` assignments applied
    override_paths: tuple = ()  # (assignment, parsed key path) per override
    var_uses: dict = field(default_factory=dict)  # path of a substituted value -> vars it names directly
    var_deps: dict = field(default_factory=dict)  # var name -> the vars its own expression names directly

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
        loc = self.loc_of(path, key=key)
        note = "" if str(loc.file).startswith("--set") else self.override_note(tuple(path))
        return SpecError(message + note, loc=loc, spec_path=format_path(tuple(path)), **kw)

    def override_note(self, path: tuple) -> str:
        """' (after --set ...)' naming the overrides that can have caused a problem at path: those that set
        it, a key inside it or around it, or a variable an expression at or around it used; '' if none."""
        def related(other: tuple) -> bool:
            n = min(len(other), len(path))
            return other[:n] == path[:n]

        used: set = set()
        todo = [name for where, names in self.var_uses.items() if related(where) for name in names]
        while todo:  # the vars used, through the vars they use (linear: each var is expanded once)
            name = todo.pop()
            if name not in used:
                used.add(name)
                todo.extend(self.var_deps.get(name, ()))
        hits = [text for text, target in self.override_paths
                if related(target) or (len(target) == 2 and target[0] == "vars" and target[1] in used)]
        return f" (after --set {' '.join(hits)})" if hits else ""


_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")
_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


class Yaml12Resolver(yaml.resolver.Resolver):
    """PyYAML's safe loader with YAML 1.2 core-schema plain scalars instead of YAML 1.1's.

    `1e-3` is a float (1.1: a string), `1:30` and `2001-12-14` are strings (1.1: 90 and a date),
    `yes`/`no`/`on`/`off` are strings (1.1: booleans), `0x1f`/`0o17` are hex/octal ints. A decimal
    int with a leading zero (`010`: 8 in YAML 1.1, 10 in 1.2) is refused as ambiguous by the builder."""

    yaml_implicit_resolvers: dict = {}


for _tag, _regexp, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (_INT_TAG, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (_FLOAT_TAG, r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+0123456789.")),
    ("tag:yaml.org,2002:merge", r"^<<$", ["<"]),  # recognised only to be refused with a clear message
):
    Yaml12Resolver.add_implicit_resolver(_tag, re.compile(_regexp), _first)


class Yaml12Loader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer,
                   yaml.constructor.SafeConstructor, Yaml12Resolver):
    """Pure-Python safe loader with YAML 1.2 scalars (used when libyaml is missing)."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        Yaml12Resolver.__init__(self)


if getattr(yaml, "__with_libyaml__", False):
    class Yaml12FastLoader(yaml.cyaml.CParser, yaml.constructor.SafeConstructor, Yaml12Resolver):  # type: ignore[misc]
        """libyaml's parser (C, about 10x faster) with the same YAML 1.2 scalars and safe constructor."""

        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            Yaml12Resolver.__init__(self)

    FAST_LOADER: type = Yaml12FastLoader
else:  # pragma: no cover - libyaml ships with PyYAML's wheels
    FAST_LOADER = Yaml12Loader

_AMBIGUOUS_INT = re.compile(r"^[-+]?0[0-9]+$")


def scalar_value(node: yaml.ScalarNode, loader: yaml.SafeLoader) -> Any:
    """A scalar node's value under the YAML 1.2 core schema; ValueError for forms archc refuses."""
    text = node.value
    if node.tag == _INT_TAG and not node.style:  # plain: None (pure Python) or "" (libyaml)
        if _AMBIGUOUS_INT.match(text):
            raise ValueError(f"ambiguous number {text!r}: a leading 0 means octal in YAML 1.1 and decimal in "
                             f"YAML 1.2; write {int(text, 10)} (or 0o{text.lstrip('+-0')} for octal)")
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)
    if node.tag == _FLOAT_TAG and not node.style:
        lowered = text.lower()
        value = float(lowered.replace(".inf", "inf").replace(".nan", "nan"))
    else:
        value = loader.construct_object(node)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number (NaN and infinities cannot be built into a network)")
    return value


def _mark_loc(file: str, mark: Any) -> SourceLoc:
    if mark is None:
        return SourceLoc(file)
    return SourceLoc(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str, limits: Limits, loader: Yaml12Loader) -> None:
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
                key = self.scalar(key_node, path)
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
        return self.scalar(node, path)

    def scalar(self, node: yaml.ScalarNode, path: Path_) -> Any:
        try:
            return scalar_value(node, self.loader)
        except ValueError as exc:
            raise SpecError(str(exc), loc=_mark_loc(self.file, node.start_mark), spec_path=format_path(path),
                            expected="a finite decimal number" if "finite" in str(exc) else "") from None


def _check_depth(text: str, file: str, limits: Limits) -> None:
    """Refuse deep nesting before PyYAML's recursive composer sees it (the event parser is iterative)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=FAST_LOADER):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > limits.max_depth:
                    raise SpecError(f"spec nested deeper than {limits.max_depth} levels",
                                    loc=_mark_loc(file, event.start_mark), expected="a flatter spec")
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except yaml.YAMLError as exc:
        if "nesting depth" in str(exc):  # libyaml's own limit (1,000) met before ours
            raise SpecError(f"spec nested deeper than {limits.max_depth} levels",
                            loc=_mark_loc(file, getattr(exc, "problem_mark", None)), expected="a flatter spec") from None
        return  # reported with its location by the real parse


def parse_yaml(text: str, file: str, limits: Limits = DEFAULT_LIMITS, *, allow_empty: bool = False) -> Document:
    """Parse YAML text safely (no tags that build objects), keeping node locations. Every YAML text archc
    reads goes through here (spec files, `--set` values), so every limit applies to all of them."""
    if len(text) > limits.max_file_bytes:
        raise SpecError(
            f"spec file too large ({len(text):,} characters)",
            loc=SourceLoc(file),
            expected=f"at most {limits.max_file_bytes:,}",
        )
    _check_depth(text, file, limits)
    try:
        loader = FAST_LOADER(text)
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
        if root is None and allow_empty:
            return Document(data=None, file=file)
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


def _refuse_special(mode: int, shown: str) -> None:
    if stat.S_ISDIR(mode):
        raise SpecError("is a directory, not a spec file", loc=SourceLoc(shown))
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise SpecError(f"not a regular file ({kind})", loc=SourceLoc(shown), expected="a .yaml spec file")


def _read_regular_file(path: Path, shown: str, limits: Limits) -> bytes:
    """The bytes of a regular file, at most the size limit; devices, FIFOs and sockets are refused before
    any read (a FIFO is opened non-blocking, so no writer is waited for)."""
    try:
        _refuse_special(os.stat(path).st_mode, shown)  # before open: opening a socket fails, a device may block
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise SpecError("no such spec file", loc=SourceLoc(shown)) from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a spec file", loc=SourceLoc(shown)) from None
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror or exc}", loc=SourceLoc(shown)) from None
    try:
        info = os.fstat(fd)
        _refuse_special(info.st_mode, shown)  # again on what was opened (it may have been swapped)
        if info.st_size > limits.max_file_bytes:
            raise SpecError(f"spec file too large ({info.st_size:,} bytes)", loc=SourceLoc(shown),
                            expected=f"at most {limits.max_file_bytes:,} bytes")
        chunks: list[bytes] = []
        total = 0
        while total <= limits.max_file_bytes:  # a file growing while read is still bounded
            chunk = os.read(fd, min(1 << 20, limits.max_file_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limits.max_file_bytes:
            raise SpecError("spec file too large", loc=SourceLoc(shown),
                            expected=f"at most {limits.max_file_bytes:,} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror or exc}", loc=SourceLoc(shown)) from None
    finally:
        os.close(fd)


def read_yaml_file(path: Path, limits: Limits = DEFAULT_LIMITS, display: Optional[str] = None) -> Document:
    """Read and parse a spec file, turning I/O and decoding problems into located errors."""
    shown = display or str(path)
    raw = _read_regular_file(path, shown, limits)
    if b"\x00" in raw:
        raise SpecError("not a text file (contains NUL bytes)", loc=SourceLoc(shown), expected="UTF-8 YAML")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("not valid UTF-8 text", loc=SourceLoc(shown, line, 1), expected="UTF-8 YAML") from None
    return parse_yaml(text, shown, limits)
