"""The probe's lecture experiments: one name runs the nets and settings of a lecture figure.

`archc probe --experiment degradation` is He et al. 2016's Fig. 1 / Fig. 6 (plain-20/56 against
ResNet-20/56, training and test error); `degradation-nobn` the same nets without batch norm (vanishing
gradients in the plain nets, exploding ones in the deep residual net). The settings were found by experiment
on a 2-core CPU so that each finishes within 10 minutes there (5.5 and 3.7 minutes measured); options given
on the command line win over the preset's (e.g. `--steps 64000 --batch 128 --set input.size=32` for the paper's size
on a GPU)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

NETS = ("cifar/plain20", "cifar/plain56", "cifar/resnet20", "cifar/resnet56")

# CPU settings, calibrated in reports/probe/README.md: digits (1,797 real 8x8 images) brought to 16x16,
# SGD with momentum, a cosine learning-rate schedule; 1,000 steps of 32 are 22 epochs of the 1,438 training
# images. Without batch norm lr 0.1 makes even ResNet-20 diverge, so that twin uses 0.02 (at 0.02 ResNet-20
# learns and the plain nets stay at chance, the lesson; ResNet-56 explodes at step 2 at either rate).
CPU_SETTINGS: dict[str, Any] = {"data": "digits", "steps": 1000, "batch": 32, "lr": 0.1, "lr_schedule": "cosine",
                                "log_every": 50, "weight_decay": 1e-4, "momentum": 0.9, "seed": 0,
                                "path_repeats": 16}


@dataclass(frozen=True)
class Experiment:
    """A named probe run: its specs, the spec overrides they share, probe option values (by option name, as
    `archc probe` takes them), the report's title and what the report says it is."""

    name: str
    title: str
    specs: tuple[str, ...]
    overrides: tuple[str, ...]
    settings: dict[str, Any] = field(default_factory=dict)
    about: str = ""

    def with_overrides(self, given: tuple[str, ...]) -> tuple[str, ...]:
        """The preset's `--set` overrides, less those whose key the user sets again, then the user's."""
        keys = {_key(o) for o in given}
        return tuple(o for o in self.overrides if _key(o) not in keys) + given

    def describe(self, overrides: tuple[str, ...]) -> str:
        """What the report says the run is, with the input size actually used (`--set input.size=32`)."""
        sizes = [o.split("=", 1)[1].strip() for o in overrides if _key(o) == "input.size"]
        size = sizes[-1] if sizes else "the spec's"
        return self.about.replace("{size}", f"{size}x{size} pixels" if sizes else "the spec's input size")


def _key(override: str) -> str:
    return override.split("=", 1)[0].strip()


EXPERIMENTS = {e.name: e for e in (
    Experiment(
        "degradation", "The degradation experiment: plain and residual nets, 20 and 56 layers", NETS,
        ("input.size=16",), CPU_SETTINGS,
        "He et al. 2016, Fig. 1 and Fig. 6: a deeper plain net has higher training *and* test error than a "
        "shallower one (degradation, not overfitting); with identity shortcuts the deeper net is not worse. "
        "The CIFAR-10 nets of the paper (Sec. 4.2) with batch norm, trained here on scikit-learn's "
        "handwritten digits brought to {size}."),
    Experiment(
        "degradation-nobn", "The same nets without batch norm: vanishing and exploding gradients", NETS,
        ("input.size=16", "defaults.norm=none"), {**CPU_SETTINGS, "lr": 0.02},
        "The nets of the degradation experiment with every batch-norm layer removed (`--set "
        "defaults.norm=none`), the same data and settings: without normalisation a plain net's gradients "
        "vanish toward the input, and the identity shortcuts of a deep residual net add up the branches' "
        "variance until its signals explode (He init, no zero-init of the last layer of each branch). "
        "Learning rate 0.02 (at 0.1 even ResNet-20 diverges without batch norm)."),
)}
