"""The probe's data sources by name (`--data`): each loads its images, then a test part is held out."""
from __future__ import annotations

from typing import Callable

from archc.probe.data import DataError, ProbeData, cifar10, digits, image_folder, synthetic
from archc.probe.holdout import hold_out

# source name -> (takes a PATH after the colon, loader(arg, shape, classes, seed, synthetic_size))
SOURCES: dict[str, tuple[bool, Callable[[str, tuple, int, int, int], ProbeData]]] = {
    "digits": (False, lambda arg, shape, classes, seed, size: digits()),
    "synthetic": (False, lambda arg, shape, classes, seed, size: synthetic(shape, classes, size, seed)),
    "cifar10": (True, lambda arg, shape, classes, seed, size: cifar10(arg)),
    "folder": (True, lambda arg, shape, classes, seed, size: image_folder(arg, shape)),
}


def load_data(source: str, shape: tuple, classes: int, seed: int = 0, synthetic_size: int = 8192,
              test_fraction: float = 0.2) -> ProbeData:
    """`digits`, `synthetic`, `cifar10:PATH` or `folder:PATH` -> ProbeData with its test part (not yet
    checked against the spec). A source with its own test split keeps it; the others hold out
    `test_fraction` of each class (seeded by `seed`; 0: no test part). See `archc.probe.holdout`.

    Raises DataError for an unknown source or one given without (or with) a PATH it does (not) take."""
    kind, _, arg = source.partition(":")
    takes_path, loader = SOURCES.get(kind, (None, None))
    if loader is None or takes_path != bool(arg):
        raise DataError(f"unknown data source {source!r}", expected="digits, synthetic, cifar10:PATH or folder:PATH")
    data = loader(arg, shape, classes, seed, synthetic_size)
    return data if data.test is not None else hold_out(data, test_fraction, seed)
