"""Probe data sources on small files the tests write: CIFAR-10 pickles, an ImageFolder tree, digits."""
from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from archc.probe import ProbeConfig, run_probe
from archc.probe.data import BatchOrder, DataError, cifar10, digits, image_folder, synthetic
from archc.probe.sources import load_data
from probe_helpers import TINY_RES, model, write_cifar






def test_cifar10_pickle_batches_load(tmp_path):
    raw = write_cifar(tmp_path / "cifar-10-batches-py")
    data = cifar10(tmp_path)  # the parent folder works too
    assert data.shape == (3, 32, 32) and len(data) == 24 and data.classes == 10
    assert data.images.dtype == torch.uint8
    # pixel (row 2, col 5) of image 7: R at 2*32+5, G at 1024 + that, B at 2048 + that
    i = 2 * 32 + 5
    assert data.images[7, :, 2, 5].tolist() == [raw[7, i], raw[7, 1024 + i], raw[7, 2048 + i]]
    assert int(data.labels.max()) < 10


def test_cifar10_refuses_pickles_that_run_code(tmp_path):
    (tmp_path / "c").mkdir()

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with open(tmp_path / "c" / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": Evil(), b"labels": [0]}, handle)
    with pytest.raises(DataError, match="refusing to load"):
        cifar10(tmp_path / "c")


def test_cifar10_missing_or_malformed(tmp_path):
    with pytest.raises(DataError, match="no CIFAR-10 batches"):
        cifar10(tmp_path)
    (tmp_path / "m").mkdir()
    with open(tmp_path / "m" / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, handle)
    with pytest.raises(DataError, match="unexpected array shapes"):
        cifar10(tmp_path / "m")


def write_folder(root, sizes=((10, 12), (8, 8), (20, 9)), mode: str = "RGB") -> None:
    from PIL import Image

    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i, (w, h) in enumerate(sizes):
            color = (200, 10 + 40 * c, 30 * i) if mode == "RGB" else 60 * i + c
            Image.new(mode, (w, h), color).save(root / name / f"{i}.png")
    (root / "dog" / "notes.txt").write_text("not an image")


def test_image_folder_resizes_and_labels(tmp_path):
    write_folder(tmp_path)
    data = image_folder(tmp_path, (3, 8, 8))
    assert data.shape == (3, 8, 8) and len(data) == 6 and data.classes == 2
    assert data.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert data.images[0, :, 4, 4].tolist() == [200, 10, 0]  # a flat colour survives resizing
    grey = image_folder(tmp_path, (1, 8, 8))
    assert grey.shape == (1, 8, 8)
    with pytest.raises(DataError, match="1 or 3 channels"):
        image_folder(tmp_path, (4, 8, 8))


def test_image_folder_errors(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        image_folder(tmp_path / "nope", (3, 8, 8))
    (tmp_path / "only").mkdir()
    with pytest.raises(DataError, match="class folder"):
        image_folder(tmp_path, (3, 8, 8))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot read image"):
        image_folder(tmp_path, (3, 8, 8))


def test_probe_trains_on_an_image_folder(tmp_path):
    write_folder(tmp_path / "imgs", sizes=[(9, 9)] * 8)
    spec = TINY_RES.replace("classes: 4", "classes: 2")
    result = run_probe(model(spec), ProbeConfig(steps=3, batch=8, data=f"folder:{tmp_path / 'imgs'}",
                                                progress=False, path_gradients=False))
    # 8 images per class: round(0.2 x 8) = 2 of each held out for testing
    assert result.status == "completed" and result.data["name"] == "folder" and result.data["images"] == 12
    assert result.data["test_images"] == 4 and result.test_steps == [0, 3]


def test_data_and_spec_disagree(tmp_path):
    write_cifar(tmp_path / "c")
    config = ProbeConfig(steps=1, batch=8, data=f"cifar10:{tmp_path / 'c'}", progress=False)
    with pytest.raises(DataError, match=r"3x32x32 images but the spec expects 3x8x8") as exc:
        run_probe(model(TINY_RES), config)
    assert "--set input.size=32" in str(exc.value) and exc.value.exit_code == 2
    spec32 = TINY_RES.replace("size: 8", "size: 32")
    with pytest.raises(DataError, match="10 classes but the spec's classifier has 4") as exc:
        run_probe(model(spec32), config)
    assert "--set classes=10" in str(exc.value)
    spec10 = spec32.replace("classes: 4", "classes: 10")
    with pytest.raises(DataError, match="fewer than one batch of 64"):
        run_probe(model(spec10), ProbeConfig(steps=1, batch=64, data=f"cifar10:{tmp_path / 'c'}", progress=False))
    with pytest.raises(DataError, match="unknown data source"):
        load_data("imagenet", (3, 8, 8), 4)


def test_digits_without_scikit_learn_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(DataError, match="needs scikit-learn"):
        digits()


def test_digits_converts_scikit_learn_arrays(monkeypatch):
    images = np.arange(3 * 64, dtype=np.float64).reshape(3, 8, 8) % 17  # 0..16 like load_digits
    fake = types.ModuleType("sklearn.datasets")
    fake.load_digits = lambda: types.SimpleNamespace(images=images, target=np.array([0, 9, 4]))
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    monkeypatch.setitem(sys.modules, "sklearn.datasets", fake)
    data = digits()
    assert data.shape == (1, 8, 8) and data.classes == 10 and data.labels.tolist() == [0, 9, 4]
    assert int(data.images[0, 0, 0, 16 % 8]) == 0 and int(data.images.max()) == 255


def test_synthetic_shift_is_a_circular_roll():
    """The vectorised per-sample shift equals torch.roll (noise-free check through the prototypes)."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 6)
    shifts = torch.tensor([[1, -2], [-1, 3]])
    rows, cols = torch.arange(5), torch.arange(6)
    ri = (rows.view(1, -1) - shifts[:, :1]) % 5
    ci = (cols.view(1, -1) - shifts[:, 1:]) % 6
    got = x.gather(2, ri.view(2, 1, 5, 1).expand(2, 3, 5, 6)).gather(3, ci.view(2, 1, 1, 6).expand(2, 3, 5, 6))
    for i in range(2):
        assert torch.equal(got[i], torch.roll(x[i], (int(shifts[i, 0]), int(shifts[i, 1])), (1, 2)))


def test_synthetic_is_deterministic_balanced_and_sized():
    a = synthetic((3, 8, 8), 4, 64, seed=1)
    b = synthetic((3, 8, 8), 4, 64, seed=1)
    c = synthetic((3, 8, 8), 4, 64, seed=2)
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert not torch.equal(a.images, c.images)
    assert torch.bincount(a.labels).tolist() == [16, 16, 16, 16]
    assert a.shape == (3, 8, 8)
    big = synthetic((3, 8, 8), 4, 10**6, max_bytes=3 * 8 * 8 * 100)
    assert len(big) == 100 and "capped at 100 images" in big.notes[0]


def test_batch_order_covers_each_epoch_and_splits_for_ranks():
    order = BatchOrder(10, 4, seed=0)
    epoch = torch.cat([order.indices(1), order.indices(2)])
    assert len(set(epoch.tolist())) == 8  # no repeats within an epoch (2 full batches)
    full = order.indices(3)
    halves = [BatchOrder(10, 4, seed=0, rank=r, world=2).indices(3) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), full)
    with pytest.raises(ValueError, match="not divisible"):
        BatchOrder(10, 5, seed=0, world=2)
