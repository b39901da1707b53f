"""The held-out test part of a probe's data: a seeded split, stratified by class, with no image in both.

Sources with their own test split (CIFAR-10's `test_batch`, an image folder with `train/` and `test/`)
keep it; every other source holds out the same fraction of each class."""
from __future__ import annotations

import math

import torch

from archc.probe.data import DataError, ProbeData, with_test

SPLIT_SEED_OFFSET = 7_919  # the split's generator differs from the batch order's for the same --seed


def split_indices(labels: torch.Tensor, classes: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, test) indices, each ascending: round(fraction x n_c) images of each class c go to the test part,
    chosen by a permutation seeded with `seed`. The same labels, fraction and seed give the same split."""
    if not (0 <= fraction < 1) or not math.isfinite(fraction):
        raise ValueError(f"test fraction must be in [0, 1), got {fraction!r}")
    gen = torch.Generator().manual_seed(SPLIT_SEED_OFFSET + int(seed))
    test_parts = []
    for c in range(classes):
        members = (labels == c).nonzero().flatten()
        take = int(round(fraction * len(members)))
        test_parts.append(members[torch.randperm(len(members), generator=gen)[:take]])
    test = torch.cat(test_parts).sort().values if test_parts else torch.zeros(0, dtype=torch.int64)
    mask = torch.ones(len(labels), dtype=torch.bool)
    mask[test] = False
    return mask.nonzero().flatten(), test


def hold_out(data: ProbeData, fraction: float, seed: int) -> ProbeData:
    """The training part of `data`, with `fraction` of each class held out as its `test` part (0: none)."""
    if fraction == 0:
        return data
    train_idx, test_idx = split_indices(data.labels, data.classes, fraction, seed)
    if len(test_idx) == 0:
        raise DataError(f"holding out {fraction:g} of data {data.name} ({len(data)} images) leaves no test image",
                        expected="a larger --test-fraction, more data, or --test-fraction 0 (no test error)")
    train = ProbeData(data.images[train_idx], data.labels[train_idx], data.classes, data.name, data.source,
                      list(data.notes), data.fits_any_input)
    test = ProbeData(data.images[test_idx], data.labels[test_idx], data.classes, data.name, data.source, [],
                     data.fits_any_input)
    how = (f"{len(test_idx):,} of {len(data):,} images held out ({fraction:.0%} of each class, seed {seed}; "
           f"no image in both)")
    return with_test(train, test, how)
