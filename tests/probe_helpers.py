"""Tiny specs and helpers shared by the probe tests (CPU, seconds)."""
from __future__ import annotations

import pickle

import numpy as np

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


def write_cifar(folder, batches: int = 2, per_batch: int = 12, meta: bool = True) -> np.ndarray:
    """CIFAR-10 python format: dicts with bytes keys, data N x 3072 (R plane, G plane, B plane)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    all_data = []
    for b in range(1, batches + 1):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, size=per_batch)]
        with open(folder / f"data_batch_{b}", "wb") as handle:
            pickle.dump({b"batch_label": b"training batch", b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * per_batch}, handle, protocol=2)
        all_data.append(data)
    if meta:
        names = [n.encode() for n in ("airplane automobile bird cat deer dog frog horse ship truck").split()]
        with open(folder / "batches.meta", "wb") as handle:
            pickle.dump({b"label_names": names, b"num_cases_per_batch": per_batch}, handle, protocol=2)
    return np.concatenate(all_data)
