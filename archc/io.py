"""Atomic, deterministic file output: a reader sees the old file or the new one, never half of one."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Union


def atomic_write(path: Union[str, Path], data: Union[str, bytes]) -> Path:
    """Write to a temporary file in the same folder, fsync, then rename over the target."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def to_json(obj: Any) -> str:
    """Deterministic JSON (sorted keys, fixed indentation, trailing newline)."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def atomic_write_json(path: Union[str, Path], obj: Any) -> Path:
    return atomic_write(path, to_json(obj))


def check_writable_dir(path: Union[str, Path], option: str = "output folder") -> None:
    """Refuse, before any work, an output folder that cannot be made: a file in its way, or no write permission."""
    from archc.errors import ArchcError

    target = Path(path)
    probe = target
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "is a file" if probe == target else f"cannot be made: {probe} is a file"
        raise ArchcError(f"{option} {target} {what}", expected="a folder path")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise ArchcError(f"{option} {target}: no permission to write in {probe}", expected="a writable folder")
