"""archc's own error type: every bad input becomes one located, one-line message."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class SourceLoc:
    """A position in a spec file (1-based line and column)."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.file
        return f"{self.file}:{self.line}:{self.col}"


class ArchcError(Exception):
    """Bad input: a spec, a path, an option. The CLI prints it as one line and exits 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        loc: Optional[SourceLoc] = None,
        spec_path: str = "",
        expected: str = "",
        got: str = "",
    ) -> None:
        self.message = message
        self.loc = loc
        self.spec_path = spec_path
        self.expected = expected
        self.got = got
        super().__init__(self.format())

    def format(self) -> str:
        parts = []
        if self.loc is not None:
            parts.append(f"{self.loc}: ")
        if self.spec_path:
            parts.append(f"{self.spec_path}: ")
        parts.append(self.message)
        detail = []
        if self.expected:
            detail.append(f"expected {self.expected}")
        if self.got:
            detail.append(f"got {self.got}")
        if detail:
            parts.append(f" ({', '.join(detail)})")
        # one line whatever the input held: a newline in a file name or value must not forge a second message
        return "".join(parts).replace("\r", "\\r").replace("\n", "\\n")


class SpecError(ArchcError):
    """A spec that does not load, validate or lower."""


class ArchcRuntimeError(ArchcError):
    """A failure while running (probe diverged, out of memory, missing tool): exit code 1."""

    exit_code = 1


def format_path(path: tuple) -> str:
    """('stages', 2, 'residual', 'width') -> 'stages[2].residual.width'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def short_repr(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
