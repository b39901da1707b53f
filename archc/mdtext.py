"""Text from specs, options and paths made inert in Markdown (report.md, compare, the probe's probe.md).

Every Markdown writer puts user-controlled text through one of these, and nothing else:

    md_text(title)        # plain text in a heading, a paragraph, a list item or a table cell
    md_code(override)     # an inline code span (`--set x=1`)
    md_url(path)          # a link or image destination: ![plot](md_url(name))

The result is one line (newlines and other line breaks become spaces, so a reference cannot start a
`## heading`), raw HTML is shown as text (`<script>` -> `&lt;script&gt;`), and link, image, emphasis,
code, table and strike-through syntax is backslash-escaped, so `[x](javascript:alert(1))` renders as
those characters, not as a link. Intraword underscores (`bvlc_googlenet`) are left as they are: they
cannot start emphasis, and the committed reports stay readable.
"""
from __future__ import annotations

import re
from typing import Any, Sequence
from urllib.parse import quote

__all__ = ["md_text", "md_code", "md_url", "one_line"]

# characters that end a line in Markdown or in an editor; C0/C1 controls are shown as U+FFFD
_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_BACKSLASHED = set("\\`*[]|~$")
_BLOCK_START = re.compile(r"^(\s*)(#|[-+=>]|\d{1,9}[.)])")


def one_line(text: object) -> str:
    """The text on one line: line breaks become one space, other control characters U+FFFD, tabs a space."""
    out = _BREAKS.sub(" ", str(text)).replace("\t", " ")
    return _CONTROLS.sub("\ufffd", out)


def md_text(text: object) -> str:
    """Inert Markdown for plain text: renders as the same characters, never as markup."""
    s = one_line(text)
    out = []
    for i, ch in enumerate(s):
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _BACKSLASHED:
            out.append("\\" + ch)
        elif ch == "_" and not (0 < i < len(s) - 1 and s[i - 1].isalnum() and s[i + 1].isalnum()):
            out.append("\\_")
        else:
            out.append(ch)
    escaped = "".join(out)
    # a list marker, heading, quote or setext underline at the start of a line
    return _BLOCK_START.sub(lambda m: m.group(1) + "\\" + m.group(2) if m.group(2)[0] in "#-+=>" else
                            m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], escaped, count=1)


def md_code(text: object) -> str:
    """An inline code span holding exactly `text` (on one line), whatever backticks it contains."""
    s = one_line(text)
    if not s:
        return ""  # an empty span would show its backticks
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    # CommonMark strips one space each side when both are there, unless the content is only spaces
    pad = " " if s.strip(" ") and (s[:1] in ("`", " ") or s[-1:] in ("`", " ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def md_url(path: object) -> str:
    """A link destination: percent-encoded, so spaces, parentheses, `<`, `>` and `javascript:` cannot act."""
    return quote(one_line(path), safe="/._-~")


_PIPE = re.compile(r"(?<!\\)\|")


def _cell(value: Any) -> str:
    """A table cell on one line; a pipe that is not already escaped would split the cell."""
    return _PIPE.sub(r"\\|", one_line(value))


def table(header: Sequence[str], rows: list[Sequence[Any]], align: str = "") -> str:
    """A GitHub Markdown table; `align` is one char per column: l or r (default r except the first)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
