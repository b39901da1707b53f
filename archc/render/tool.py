"""Running the real Graphviz `dot` program, and the clear error when it is not installed."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Callable, Optional

from archc.errors import ArchcRuntimeError

FORMATS = ("svg", "pdf", "png", "dot")
INSTALL_HINT = ("install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
                "(macOS), `conda install graphviz`, or see https://graphviz.org/download/")
PNG_DPI = 150
TIMEOUT_S = 300


class GraphvizMissing(ArchcRuntimeError):
    """The `dot` program is not on PATH (the DOT source was still written)."""


def find_dot() -> Optional[str]:
    return shutil.which("dot")


def dot_version() -> str:
    exe = find_dot()
    if exe is None:
        return "not installed"
    done = subprocess.run([exe, "-V"], capture_output=True, text=True, timeout=30)
    return (done.stderr or done.stdout).strip()


def check_format(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt


def render_source(source: str, fmt: str, dpi: int = PNG_DPI,
                  warn: Optional[Callable[[str], None]] = None) -> bytes:
    """DOT text -> the bytes of an SVG / PDF / PNG file, by the `dot` program; its warnings (a PNG too
    large for a bitmap gets scaled down) go to `warn`."""
    fmt = check_format(fmt)
    if fmt == "dot":
        return source.encode("utf-8")
    exe = find_dot()
    if exe is None:
        raise GraphvizMissing(f"Graphviz `dot` was not found on PATH, so no {fmt.upper()} was drawn; {INSTALL_HINT}")
    args = [exe, f"-T{fmt}"]
    if fmt == "png":
        args.append(f"-Gdpi={dpi}")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")  # newer cairo honours it; _fixed_dates covers older ones
    try:
        done = subprocess.run(args, input=source.encode("utf-8"), capture_output=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise ArchcRuntimeError(f"Graphviz `dot` took longer than {TIMEOUT_S} s",
                                expected="a coarser --level or a --focus on one part") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ArchcRuntimeError(f"Graphviz `dot -T{fmt}` failed: {message[0] if message else 'no message'}")
    if warn is not None:
        for line in done.stderr.decode("utf-8", "replace").strip().splitlines():
            hint = "; SVG or PDF keep it sharp" if "too large" in line else ""
            warn(f"note: Graphviz: {line.strip()}{hint}")
    return _fixed_dates(done.stdout) if fmt == "pdf" else done.stdout


def _fixed_dates(pdf: bytes) -> bytes:
    """cairo stamps PDFs with the time of day; a fixed date of the same length keeps the xref offsets
    valid and the bytes deterministic."""
    return re.sub(rb"/(CreationDate|ModDate) \(D:\d{14}", lambda m: m.group(0)[:-14] + b"19700101000000", pdf)
