"""Shared bits of the diagram tests: small specs and a tiny DOT reader (ids, edges, attributes)."""
from __future__ import annotations

import re

import archc

INCEPTION_AUX = """
name: tiny_inception
title: Tiny inception
input: {channels: 192, size: 28}
defaults: {norm: none}
stages:
  - inception: {modules: {3a: [64, 96, 128, 16, 32, 32], 3b: [128, 128, 192, 32, 96, 64]}}
aux_heads:
  - attach: inception3a
    layers: [{avgpool: {kernel: 5, stride: 3}}, {conv: {out: 128, kernel: 1}}, {flatten: {}}, {fc: {out: 1024}},
             {dropout: {p: 0.7}}, {fc: {}}]
"""

PAD_NET = """
name: tiny_pad
title: Tiny CIFAR ResNet (zero-pad shortcuts)
input: {channels: 3, size: 32}
classes: 10
stem: [conv: {out: 16, kernel: 3}]
stages:
  - residual: {block: basic, width: 16, blocks: 2, shortcut: pad}
  - residual: {block: basic, width: 32, blocks: 2, stride: 2, shortcut: pad}
"""

_EDGE = re.compile(r'^\s*"?([^"\s]+)"?\s*->\s*"?([^"\s]+)"?\s*(?:\[(.*)\])?\s*$')
_NODE = re.compile(r'^\s*"?([^"\s\[]+)"?\s*\[(.*)\]\s*$')
_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<.*?>(?=\s+\w+=|$)|[^\s\]]+)')


def lower_text(text: str):
    return archc.lower(archc.loads(text))


def attrs(text: str) -> dict[str, str]:
    out = {}
    for key, value in _ATTR.findall(text or ""):
        out[key] = value.strip('"')
    return out


def edges(source: str) -> list[tuple[str, str, dict]]:
    out = []
    for line in source.splitlines():
        m = _EDGE.match(line)
        if m:
            out.append((m.group(1), m.group(2), attrs(m.group(3) or "")))
    return out


def nodes(source: str) -> dict[str, str]:
    """node id -> the raw attribute text of its (first) node statement."""
    out: dict[str, str] = {}
    for line in source.splitlines():
        if "->" in line:
            continue
        m = _NODE.match(line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            out.setdefault(m.group(1), m.group(2))
    return out
