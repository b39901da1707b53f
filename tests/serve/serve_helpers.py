"""Shared by the playground tests: the bad-spec corpus as the editor would send it."""
from __future__ import annotations

from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parents[1] / "bad_specs"
EXPECTED = yaml.safe_load((CORPUS / "expected.yaml").read_text())
# these extend their corpus neighbours, which the editor's text does not have next to it
NEEDS_NEIGHBOURS = {"extends_cycle_a.yaml", "extends_cycle_b.yaml", "extends_self.yaml"}
EDITOR_CASES = sorted(set(EXPECTED) - NEEDS_NEIGHBOURS)


def corpus_text(name: str) -> str:
    """The file as text; bytes that are not UTF-8 kept as lone surrogates (they reach the reader as bytes)."""
    return (CORPUS / name).read_bytes().decode("utf-8", "surrogateescape")


def check_located(name: str, error: dict) -> None:
    """The error the playground shows for corpus file `name`: at the expected line:col of spec.yaml, with the
    expected words (except words that only name the corpus file, which the editor's text is not)."""
    expected = EXPECTED[name]
    message = error["message"]
    prefix = f"spec.yaml:{expected['loc']}:" if expected["loc"] else "spec.yaml:"
    assert message.startswith(prefix), (name, message)
    for words in expected["says"]:
        if words not in name:
            assert words in message, (name, message)
    if expected["loc"]:
        line, col = (int(x) for x in expected["loc"].split(":"))
        assert (error["line"], error["col"]) == (line, col), (name, error)
