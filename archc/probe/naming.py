"""Names of probe runs as reports show them: "Plain-56 without BN" rather than "plain56 (defaults.norm=none)",
and file names that stay distinct when two labels reduce to the same characters."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

# overrides that read better as words in a legend; any other override is shown as written
OVERRIDE_WORDS = {"defaults.norm=none": "without BN"}


def run_label(name: str, title: str, overrides: Iterable[str]) -> str:
    """The model's short title (its title up to " (", else its name), then what the overrides change:
    ("plain56", "Plain-56 (CIFAR-10, n = 9)", ["defaults.norm=none"]) -> "Plain-56 without BN"."""
    short = title.split(" (", 1)[0].strip() if title else ""
    label = short if short and len(short) <= 40 else name
    words, others = [], []
    for item in overrides:
        (words if item in OVERRIDE_WORDS else others).append(OVERRIDE_WORDS.get(item, item))
    if words:
        label += " " + ", ".join(words)
    if others:
        label += f" ({', '.join(others)})"
    return label


def slug(label: str) -> str:
    """A file-name stem for a label: letters, digits, '_', '.', '-'."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_.") or "run"


def unique_slugs(labels: Sequence[str]) -> list[str]:
    """slug() of each label, with _2, _3, ... added where two would give the same file name (case-folded,
    for file systems that ignore case)."""
    used: set[str] = set()
    out = []
    for label in labels:
        base = slug(label)
        name, n = base, 1
        while name.casefold() in used:  # also when a label itself reads like a numbered one ("X_Y_2")
            n += 1
            name = f"{base}_{n}"
        used.add(name.casefold())
        out.append(name)
    return out


def mpl_text(text: str) -> str:
    """Text for a matplotlib title or legend: a '$' stays a dollar sign (matplotlib reads $...$ as math)."""
    return text.replace("$", r"\$")
