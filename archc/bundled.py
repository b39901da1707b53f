"""The specs that ship with archc (specs/): where they are, their order, and names for them."""
from __future__ import annotations

import re
from pathlib import Path

from archc.errors import SourceLoc, SpecError


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def bundled_specs_dir() -> Path:
    return repo_root() / "specs"


def _natural_key(path: Path, root: Path) -> tuple:
    """Top-level specs before sub-folders; numbers compare as numbers (resnet18 < resnet50 < resnet101)."""
    parts = path.relative_to(root).with_suffix("").parts
    return (len(parts), [[int(t) if t.isdigit() else t for t in re.split(r"(\d+)", part)] for part in parts])


def bundled_specs() -> list[Path]:
    root = bundled_specs_dir()
    return sorted((p for p in root.rglob("*.yaml") if not p.name.startswith("_")), key=lambda p: _natural_key(p, root))


_BUNDLED_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(/[A-Za-z0-9][A-Za-z0-9_-]*)*")


def resolve_spec_arg(text: str) -> Path:
    """A spec path, or the name of a bundled spec (`resnet50`, `cifar/resnet56`). Names are literal: no
    glob patterns (`*` is a file named `*` or nothing), no `..`."""
    path = Path(text)
    try:
        if path.exists() or path.is_symlink():
            return path  # the reader reports what it is (a loop, a FIFO, a folder)
    except (OSError, ValueError):
        return path
    if _BUNDLED_NAME.fullmatch(text):
        root = bundled_specs_dir()
        direct = root / f"{text}.yaml"
        if direct.is_file():
            return direct
        for candidate in bundled_specs():  # `resnet56` also names cifar/resnet56 when unique at the top
            if candidate.relative_to(root).with_suffix("").as_posix().endswith("/" + text):
                return candidate
    raise SpecError("no such spec file or bundled spec", loc=SourceLoc(text),
                    expected="a path to a .yaml spec or a name from `archc list`")
