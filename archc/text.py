"""Free text from specs (title, description, references) and its limits, in one place.

At validation `check_text` refuses what no output can carry: control characters (XML, Graphviz and
terminals reject or mangle them), lone surrogates and non-characters (not encodable), and text longer
than a label can hold (Graphviz refuses an HTML label over 16,384 characters; archc escapes `&` to
`&amp;`, so a title is limited well below that). `clean_text` is the safety net of every renderer:
whatever reaches it (a name, an option) comes out printable and bounded.
"""
from __future__ import annotations

import re
from typing import Optional

TITLE_MAX_CHARS = 1_000  # also each reference; x6 for the worst escaping (&quot;) stays under 16,384
DESCRIPTION_MAX_CHARS = 20_000  # goes into docstrings and JSON, never into a Graphviz label
LABEL_MAX_CHARS = 1_000  # the renderers' cut for any one piece of text

# C0 controls but tab/newline/CR, DEL, C1 controls, lone surrogates, U+FFFE/U+FFFF: not XML 1.0 text
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029]")


def check_text(value: Optional[str], *, limit: int = TITLE_MAX_CHARS) -> Optional[str]:
    """Validator of free text: ValueError (located by the caller) for a character or a length no output carries."""
    if value is None:
        return value
    bad = _BAD.search(value)
    if bad is not None:
        raise ValueError(f"control character {bad.group(0)!r} at position {bad.start()} of the text; "
                         "use printable characters (tab and newline are allowed)")
    if len(value) > limit:
        raise ValueError(f"text of {len(value):,} characters is too long for a diagram or report label "
                         f"(at most {limit:,})")
    return value


def clean_text(text: object, limit: int = LABEL_MAX_CHARS) -> str:
    """Printable, one line, at most `limit` characters (cut with an ellipsis): safe for Graphviz and XML."""
    out = _ANY_CONTROL.sub(lambda m: " " if m.group(0) in "\t\n\r\u2028\u2029" else "\ufffd", str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"
