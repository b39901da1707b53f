"""Tiny specs and helpers shared by the probe tests (CPU, seconds)."""
from __future__ import annotations

import archc

TINY_RES = """
archc: 1
name: tinyres
input: {channels: 3, size: 8}
classes: 4
stem:
  - conv: {out: 8, kernel: 3}
stages:
  - residual: {name: stage1, block: basic, width: 8, blocks: 2}
  - residual: {name: stage2, block: basic, width: 16, blocks: 1, stride: 2, shortcut: pad}
head:
  - gap: {}
  - fc: {}
"""

TINY_PLAIN = TINY_RES.replace("name: tinyres", "name: tinyplain").replace("residual:", "plain:").replace(
    ", shortcut: pad", "")

TINY_PROJ = TINY_RES.replace("name: tinyres", "name: tinyproj").replace("shortcut: pad", "shortcut: projection")

TINY_NOBN = TINY_PLAIN.replace("name: tinyplain", "name: tinynobn").replace(
    "classes: 4", "classes: 4\ndefaults: {norm: none, act: relu}")

TINY_AUX = TINY_RES.replace("name: tinyres", "name: tinyaux") + """
aux_heads:
  - name: aux1
    attach: stage1
    loss_weight: 0.3
    layers:
      - gap: {}
      - fc: {}
"""


def spec(text: str):
    return archc.loads(text)


def model(text: str):
    return archc.lower(archc.loads(text))
