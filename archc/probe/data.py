"""Training data for the probe, held in memory as uint8 images: scikit-learn's handwritten digits (the
default: 1,797 real images shipped inside scikit-learn), a deterministic synthetic set, CIFAR-10 in its
python-pickle format and an ImageFolder tree.

Every source gives `ProbeData` with a held-out test part (`archc.probe.holdout`); `check_against` says
clearly when data and spec disagree."""
from __future__ import annotations

import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F

from archc.errors import ArchcError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff")
SYNTHETIC_MAX_BYTES = 128 << 20  # the synthetic set takes at most 128 MiB of uint8 pixels
FOLDER_MAX_BYTES = 2 << 30  # an image folder at the spec's input size: at most 2 GiB of uint8 pixels
IMAGE_MAX_PIXELS = 64_000_000  # one image file (a decompression bomb declares far more)


class DataError(ArchcError, ValueError):
    """Data that cannot be read, or does not fit the spec (CLI exit code 2)."""


@dataclass
class ProbeData:
    """uint8 images (N, C, H, W), int64 labels (N,), and the per-channel mean/std used to normalise.

    `fit_shape` (C, H, W): each batch is resized (bilinear) and its single channel copied to C channels on its
    way to the net, so a small set fits any input size without a resized copy in memory. `test`: the
    held-out part (same classes, normalised with this part's statistics), or None."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: int
    name: str
    source: str = ""
    notes: list[str] = field(default_factory=list)
    fits_any_input: bool = False  # small greyscale sets (digits) may be resized to the spec's input
    fit_shape: Optional[tuple[int, int, int]] = None
    test: Optional["ProbeData"] = None
    split: str = ""  # how the test part was made, for reports

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError(f"ProbeData.images must be a uint8 (N, C, H, W) tensor, got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(f"ProbeData.labels must have shape ({self.images.shape[0]},), "
                             f"got {tuple(self.labels.shape)}")
        self.labels = self.labels.to(torch.int64)
        c = self.images.shape[1]
        total, squares, count = torch.zeros(c, dtype=torch.float64), torch.zeros(c, dtype=torch.float64), 0
        for start in range(0, len(self), 256):  # in chunks: a float copy of a large set would not fit
            x = self.images[start:start + 256].to(torch.float64).div_(255.0).transpose(0, 1).reshape(c, -1)
            total += x.sum(1)
            squares += (x * x).sum(1)
            count += x.shape[1]
        mean = total / max(1, count)
        self.mean = mean.float()
        self.std = (squares / max(1, count) - mean * mean).clamp_min(1e-6).sqrt().float().clamp_min(1e-3)
        self._device_stats: dict = {}

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def stored_shape(self) -> tuple[int, int, int]:
        _, c, h, w = self.images.shape
        return int(c), int(h), int(w)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the batches the net sees."""
        return self.fit_shape or self.stored_shape

    def describe(self) -> str:
        c, h, w = self.shape
        return f"{self.name}: {len(self):,} images {c}x{h}x{w}, {self.classes} classes"

    def fitted(self, shape: tuple) -> "ProbeData":
        """This set with batches brought to `shape` (C, H, W); a note says how. Only for `fits_any_input` sets
        with 1 channel (or as many as the spec) -- DataError otherwise."""
        want = tuple(int(v) for v in shape)
        c, h, w = self.stored_shape
        if (len(want) != 3 or not self.fits_any_input or want in ((c, h, w), self.fit_shape)
                or c not in (1, want[0])):
            return self
        data = ProbeData(self.images, self.labels, self.classes, self.name, self.source, list(self.notes),
                         True, (want[0], want[1], want[2]),
                         self.test.fitted(shape) if self.test is not None else None, self.split)
        data.mean, data.std = self.mean, self.std  # a test part keeps the training part's statistics
        how = []
        if (h, w) != want[1:]:
            how.append(f"{h}x{w} images {'up' if want[1] * want[2] > h * w else 'down'}sampled bilinearly to "
                       f"{want[1]}x{want[2]}")
        if c != want[0]:
            how.append(f"the grey channel copied to {want[0]} channels")
        data.notes.append("; ".join(how) + " (the spec's input)")
        return data

    def check_against(self, input_shape: tuple, classes: int, batch: int) -> "ProbeData":
        """This set as the spec sees it (`fitted`); DataError when the images or classes do not match the spec,
        or the training part is smaller than a batch."""
        want = tuple(int(v) for v in input_shape)
        if len(want) != 3:
            raise DataError(f"the spec's input {want} is not an image", expected="input: {channels, size}")
        data = self.fitted(want)
        if data.shape != want:
            c, h, w = data.shape
            hint = []
            if c != want[0]:
                hint.append(f"--set input.channels={c}")
            if (h, w) != want[1:]:
                hint.append(f"--set input.size={h}" if h == w else f"input size {h}x{w}")
            raise DataError(f"data {self.name} has {c}x{h}x{w} images but the spec expects "
                            f"{want[0]}x{want[1]}x{want[2]}", expected=f"matching data, or {' '.join(hint)}")
        if self.classes != classes:
            raise DataError(f"data {self.name} has {self.classes} classes but the spec's classifier has {classes}",
                            expected=f"--set classes={self.classes}, or --data synthetic (made to fit any spec)")
        if len(self) < batch:
            held = f" (after holding out {len(self.test)} for testing)" if self.test is not None else ""
            raise DataError(f"data {self.name} has {len(self)} training images{held}, fewer than one batch of "
                            f"{batch}", expected=f"--batch {len(self)} or less")
        return data

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> float32, per-channel standardised, on the batch's device. The statistics are copied
        to a device once (a host->GPU copy per step would make every step wait for the GPU)."""
        stats = self._device_stats.get(images.device)
        if stats is None:
            stats = (self.mean.to(images.device).view(1, -1, 1, 1), self.std.to(images.device).view(1, -1, 1, 1))
            self._device_stats[images.device] = stats
        mean, std = stats
        x = images.float() / 255.0
        if self.fit_shape is not None:
            c, h, w = self.fit_shape
            if x.shape[2:] != (h, w):
                x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False,
                                  antialias=h * w < x.shape[2] * x.shape[3])
            if x.shape[1] != c:
                x = x.expand(-1, c, -1, -1)
        return (x - mean) / std


class BatchOrder:
    """Deterministic batches: a fresh permutation each epoch from (seed, epoch); the last partial batch is
    dropped. Under DDP every rank computes the same global batch and takes its own slice."""

    def __init__(self, size: int, batch: int, seed: int, rank: int = 0, world: int = 1,
                 device: torch.device = torch.device("cpu")) -> None:
        if batch % world:
            raise ValueError(f"batch {batch} is not divisible by {world} processes")
        if size < batch:
            raise ValueError(f"{size} samples are fewer than one batch of {batch}")
        self.size, self.batch, self.seed = size, batch, seed
        self.rank, self.world, self.device = rank, world, device
        self.per_epoch = size // batch
        self._epoch = -1
        self._perm: Optional[torch.Tensor] = None

    def indices(self, step: int) -> torch.Tensor:
        """Indices of this rank's part of the batch of `step` (1-based)."""
        epoch, b = divmod(step - 1, self.per_epoch)
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(self.size, generator=gen).to(self.device)
            self._epoch = epoch
        assert self._perm is not None
        local = self.batch // self.world
        start = b * self.batch + self.rank * local
        return self._perm[start:start + local]


# ---------------------------------------------------------------- sources


def synthetic_size(shape: tuple, classes: int, size: int, max_bytes: int = SYNTHETIC_MAX_BYTES) -> int:
    """How many images `synthetic` makes when asked for `size`: at most max_bytes of pixels (2 per class at least)."""
    c, h, w = (int(v) for v in shape)
    return min(size, max(classes * 2, max_bytes // (c * h * w)))


def synthetic(shape: tuple, classes: int, size: int = 8192, seed: int = 0,
              max_bytes: int = SYNTHETIC_MAX_BYTES) -> ProbeData:
    """Class prototypes are smooth random colour fields; a sample is its class prototype, randomly shifted and
    scaled, plus a weaker distractor prototype of another class and pixel noise. A small CNN learns it, it
    is the same on every machine for a seed, and it needs no download. Above 64x64 the smooth part is made
    at 64x64 and upsampled (the noise stays per pixel), which keeps ImageNet-sized sets quick to make."""
    c, h, w = (int(v) for v in shape)
    if classes < 2:
        raise DataError("the synthetic set needs at least 2 classes", expected="classes >= 2")
    notes = []
    capped = synthetic_size(shape, classes, size, max_bytes)
    if capped < size:
        notes.append(f"synthetic set capped at {capped:,} images ({max_bytes >> 20} MiB of uint8 pixels)")
        size = capped
    lh, lw = min(h, 64), min(w, 64)
    gen = torch.Generator().manual_seed(10_007 + seed)
    low = torch.randn(classes, c, 3, 3, generator=gen)
    mid = torch.randn(classes, c, 6, 6, generator=gen) * 0.6
    protos = (F.interpolate(low, size=(lh, lw), mode="bilinear", align_corners=False)
              + F.interpolate(mid, size=(lh, lw), mode="bilinear", align_corners=False))
    protos = (protos - protos.mean((1, 2, 3), keepdim=True)) / protos.std((1, 2, 3), keepdim=True)
    labels = torch.arange(size) % classes
    labels = labels[torch.randperm(size, generator=gen)]
    distract = (labels + torch.randint(1, classes, (size,), generator=gen)) % classes
    max_shift = max(1, lh // 8)
    shifts = torch.randint(-max_shift, max_shift + 1, (size, 2), generator=gen)
    contrast = torch.empty(size).uniform_(0.6, 1.4, generator=gen)
    weight = torch.empty(size).uniform_(0.0, 0.5, generator=gen)
    images = torch.empty(size, c, h, w, dtype=torch.uint8)
    rows, cols = torch.arange(lh), torch.arange(lw)
    chunk = 256
    for start in range(0, size, chunk):
        sl = slice(start, min(size, start + chunk))
        n = sl.stop - start
        x = contrast[sl].view(-1, 1, 1, 1) * protos[labels[sl]] + weight[sl].view(-1, 1, 1, 1) * protos[distract[sl]]
        # a circular shift per sample (torch.roll for a whole batch, by gathering shifted indices)
        ri = (rows.view(1, -1) - shifts[sl, :1]) % lh
        ci = (cols.view(1, -1) - shifts[sl, 1:]) % lw
        x = x.gather(2, ri.view(n, 1, lh, 1).expand(n, c, lh, lw)).gather(3, ci.view(n, 1, 1, lw).expand(n, c, lh, lw))
        if (lh, lw) != (h, w):
            x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        x += torch.randn(n, c, h, w, generator=gen)
        images[sl] = (x * 40.0 + 128.0).clamp_(0, 255).round_().to(torch.uint8)
    return ProbeData(images, labels, classes, "synthetic", f"seed {seed}, {size:,} images", notes)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays, lists, dicts and bytes only: a CIFAR batch never needs more, and a pickle that
    asks for anything else is refused instead of run."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
               ("numpy._core.multiarray", "scalar"), ("_codecs", "encode"), ("__builtin__", "bytes"),
               ("builtins", "bytes")}  # bytes(): an empty array's buffer

    def find_class(self, module: str, name: str) -> type:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _read_pickle(path: Path) -> object:
    try:
        with open(path, "rb") as handle:
            return _ArrayUnpickler(handle, encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise DataError(f"cannot read CIFAR batch {path}: {exc}") from None


def _key(d: dict, name: str) -> object:
    for k in (name.encode(), name):
        if k in d:
            return d[k]
    raise KeyError(name)


def cifar10(folder: str | Path) -> ProbeData:
    """CIFAR-10 'python version': data_batch_1..5 in `folder` (or in folder/cifar-10-batches-py); its
    `test_batch`, when present, becomes the test part (CIFAR-10's own 10,000 test images)."""
    root = Path(folder)
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    files = sorted(root.glob("data_batch_*"))
    if not root.is_dir() or not files:
        raise DataError(f"no CIFAR-10 batches in {folder}", expected="a folder holding data_batch_1 ... data_batch_5")
    train = _cifar_batches(files, root, str(folder))
    test_file = root / "test_batch"
    if test_file.is_file():
        test = _cifar_batches([test_file], root, str(test_file))
        return with_test(train, test, f"CIFAR-10's own test batch ({len(test):,} images)")
    return train


def _cifar_batches(files: list[Path], root: Path, folder: str) -> ProbeData:
    import numpy as np

    arrays, labels = [], []
    for path in files:
        d = _read_pickle(path)
        try:
            raw, labels_raw = _key(d, "data"), _key(d, "labels")  # type: ignore[arg-type]
            # checked before any conversion: a list of shared lists pickles small and expands without bound
            if not isinstance(raw, np.ndarray):
                raise DataError(f"{path}: pixel data is a {type(raw).__name__}", expected="a uint8 numpy array")
            if not isinstance(labels_raw, (list, np.ndarray)) or (
                    isinstance(labels_raw, list) and not all(type(v) is int for v in labels_raw)):
                raise DataError(f"{path}: labels are not a flat list of integers",
                                expected="integer class labels 0..classes-1")
            lab = np.asarray(labels_raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, DataError):
                raise
            raise DataError(f"{path} is not a CIFAR-10 batch", expected="a dict with 'data' (N x 3072 uint8) "
                            "and 'labels'") from None
        # no silent casts: float pixels (NaN among them) or float/negative/huge labels are refused
        if raw.dtype != np.uint8:
            raise DataError(f"{path}: pixel data of type {raw.dtype}", expected="uint8 pixel values (0..255)")
        if lab.size and (lab.dtype.kind not in "iu" or int(lab.min()) < 0 or int(lab.max()) > 1_000_000):
            raise DataError(f"{path}: labels of type {lab.dtype} or out of range",
                            expected="integer class labels 0..classes-1")
        data, lab = raw, lab.astype(np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or lab.shape != (data.shape[0],):
            raise DataError(f"{path}: unexpected array shapes", expected="data N x 3072 and N labels",
                            got=f"data {data.shape}, labels {lab.shape}")
        arrays.append(data.reshape(-1, 3, 32, 32))
        labels.append(lab)
    classes = 10
    meta = root / "batches.meta"
    if meta.is_file():
        try:
            names = _key(_read_pickle(meta), "label_names")  # type: ignore[arg-type]
        except (KeyError, TypeError, AttributeError):
            names = None
        if (not isinstance(names, list) or not 2 <= len(names) <= 100_000
                or not all(isinstance(n, (bytes, str)) for n in names)):
            raise DataError(f"{meta}: no list of class names", expected="a dict with 'label_names': [name, ...] "
                            "(2 or more)")
        classes = len(names)
    y = torch.from_numpy(np.concatenate(labels))
    if not len(y):
        raise DataError(f"no images in the CIFAR batches of {folder}", expected="data N x 3072 with N >= 1")
    if int(y.min()) < 0 or int(y.max()) >= classes:
        raise DataError(f"CIFAR labels in {folder} fall outside 0..{classes - 1}")
    return ProbeData(torch.from_numpy(np.concatenate(arrays)), y, classes, "cifar10", str(folder))


SPLIT_FOLDERS = (("train", "test"), ("train", "val"))


def image_folder(folder: str | Path, shape: tuple) -> ProbeData:
    """An ImageFolder tree (folder/<class>/<image>); images are resized (shorter side) and centre-cropped to
    the spec's input size and converted to its channels (1: greyscale, 3: RGB). A tree split already,
    folder/train/<class>/... beside folder/test/<class>/... (or val/), keeps its own split."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"no such folder {folder}", expected="folder:PATH with one subfolder per class")
    for train_name, test_name in SPLIT_FOLDERS:
        if (root / train_name).is_dir() and (root / test_name).is_dir():
            train = _image_tree(root / train_name, shape)
            test = _image_tree(root / test_name, shape)
            names = sorted(p.name for p in (root / train_name).iterdir() if p.is_dir() and not p.name.startswith("."))
            test_names = sorted(p.name for p in (root / test_name).iterdir()
                                if p.is_dir() and not p.name.startswith("."))
            if names != test_names:
                raise DataError(f"{root / test_name} and {root / train_name} have different class folders",
                                expected="the same class folder names in both")
            return with_test(train, test, f"the folder's own {test_name}/ part ({len(test):,} images)")
    return _image_tree(root, shape)


def _image_tree(root: Path, shape: tuple) -> ProbeData:
    folder = str(root)
    c, h, w = (int(v) for v in shape)
    if c not in (1, 3):
        raise DataError(f"image folders give 1 or 3 channels, the spec expects {c}", expected="input.channels 1 or 3")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(f"{folder} has {len(class_dirs)} class folder(s)",
                        expected="one subfolder per class, at least 2")
    listing = [(label, sorted(p for p in class_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
               for label, class_dir in enumerate(class_dirs)]
    count = sum(len(files) for _, files in listing)
    if count * c * h * w > FOLDER_MAX_BYTES:
        raise DataError(f"{folder} holds {count:,} images: at {c}x{h}x{w} they need "
                        f"{count * c * h * w / 2**30:.1f} GiB in memory", expected=f"at most "
                        f"{FOLDER_MAX_BYTES >> 30} GiB of pixels: fewer images or a smaller input size")
    images, labels = [], []
    for label, files in listing:
        for path in files:
            images.append(_read_image(path, c, h, w))
            labels.append(label)
    if not images:
        raise DataError(f"no images in {folder}", expected=f"files ending in {', '.join(IMAGE_SUFFIXES)}")
    return ProbeData(torch.stack(images), torch.tensor(labels), len(class_dirs), "folder", str(folder))


def _read_image(path: Path, c: int, h: int, w: int) -> torch.Tensor:
    """One image as uint8 (c, h, w): the centred crop of the target's aspect ratio, resized to h x w (what
    'resize the shorter side, then centre-crop' gives, without making the resized whole first: a 1 x 10^6
    strip stays small). Images above IMAGE_MAX_PIXELS are refused before they are decoded."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.width * im.height > IMAGE_MAX_PIXELS:
                raise DataError(f"image {path} has {im.width}x{im.height} pixels",
                                expected=f"at most {IMAGE_MAX_PIXELS:,} pixels per image")
            scale = max(h / im.height, w / im.width)
            crop_w, crop_h = min(im.width, w / scale), min(im.height, h / scale)
            left, top = (im.width - crop_w) / 2, (im.height - crop_h) / 2
            im = im.convert("L" if c == 1 else "RGB")
            if (im.height, im.width) != (h, w):
                im = im.resize((w, h), Image.BILINEAR, box=(left, top, left + crop_w, top + crop_h))
            return torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(h, w, c).permute(2, 0, 1)
    except DataError:
        raise
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError) as exc:
        raise DataError(f"cannot read image {path}: {exc}") from None


def digits() -> ProbeData:
    """scikit-learn's 8x8 handwritten digits (1,797 real images, 10 classes, grey levels 0..16; the UCI
    optical-recognition set, shipped inside scikit-learn: nothing is downloaded). Batches are resized to
    the spec's input and the grey channel copied to its channels (`ProbeData.fitted`)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the digits set needs scikit-learn, which is not installed",
                        expected="pip install scikit-learn, or --data synthetic") from None
    bunch = load_digits()
    x = torch.as_tensor(bunch.images, dtype=torch.float32)  # 0..16
    images = (x * (255.0 / 16.0)).round().clamp(0, 255).to(torch.uint8).unsqueeze(1)
    return ProbeData(images, torch.as_tensor(bunch.target, dtype=torch.int64), 10, "digits",
                     "scikit-learn load_digits (UCI optical digits, 8x8 grey)", fits_any_input=True)


def with_test(train: ProbeData, test: ProbeData, how: str) -> ProbeData:
    """`train` with `test` as its held-out part, normalised with the training part's statistics."""
    if test.classes != train.classes:
        raise DataError(f"the test part of {train.name} has {test.classes} classes, the training part "
                        f"{train.classes}", expected="the same classes in both")
    test.mean, test.std = train.mean, train.std
    train.test, train.split = test, how
    return train
