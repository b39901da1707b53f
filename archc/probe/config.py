"""Settings of one training probe, validated up front (ValueError names the bad field)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

DEVICES = ("auto", "cpu", "cuda")
AMP_MODES = ("auto", "bf16", "none")
OPTIMIZERS = ("sgd", "adam")
DTYPES = ("float32", "float64")
MAX_LR = 1e6  # beyond any useful learning rate or weight decay, and far inside float32's range (3.4e38)
MAX_SEED = 2**32 - 1  # seeds are combined with offsets and epochs into torch's 64-bit generator seeds
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
LR_SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class ProbeConfig:
    """A short, seeded training run that records per-layer gradient norms.

    The gradient of step s is computed on batch s with the weights after s-1 updates, so step 1
    is "at initialisation". Norms are kept for step 1, every `log_every` steps and the last step;
    loss and accuracy for every step. Test loss and error on the held-out part of the data (a
    `test_fraction` of each class, or the set's own test split) before training, every `log_every` steps
    and at the end, in eval mode.
    """

    steps: int = 100
    batch: int = 128
    lr: float = 0.1
    lr_schedule: str = "constant"  # step: /10 at 50% and 75% of the steps (He et al.'s 32k/48k of 64k); cosine
    momentum: float = 0.9
    weight_decay: float = 1e-4
    optimizer: str = "sgd"
    seed: int = 0
    log_every: int = 10
    data: str = "digits"  # digits | synthetic | cifar10:PATH | folder:PATH
    synthetic_size: int = 8192
    test_fraction: float = 0.2  # of each class held out for testing, where the data has no test split
    evaluate: bool = True  # test loss and error every log_every steps
    threads: Optional[int] = None  # torch threads; None: leave the process's setting (the CLI chooses one)
    device: str = "auto"
    amp: str = "auto"  # auto: bf16 on CUDA, none on CPU (and none with float64)
    dtype: str = "float32"  # weights and activations; float64 tells rounding from logic in numerical checks
    channels_last: Optional[bool] = None  # None: on CUDA only
    compile: bool = False  # torch.compile the model
    compile_mode: str = "default"  # torch.compile mode; reduce-overhead adds CUDA graphs
    cuda_graphs: bool = False  # capture the whole step in one CUDA graph
    check_every: Optional[int] = None  # host sync for NaN/Inf checks; None: 1 on CPU, log_every on CUDA
    sync_bn: bool = True  # under DDP, batch statistics over all processes (matches one process)
    path_gradients: bool = True  # Veit et al. path-length gradients for residual nets
    path_batch: int = 64
    path_repeats: int = 16  # backward passes with fresh random paths (per batch)
    path_batches: int = 2
    progress: bool = True
    label: Optional[str] = None  # display name in reports; default: the model name

    def __post_init__(self) -> None:
        positive = {"steps": self.steps, "batch": self.batch, "log_every": self.log_every,
                    "synthetic_size": self.synthetic_size, "path_batch": self.path_batch,
                    "path_repeats": self.path_repeats, "path_batches": self.path_batches}
        for name, value in positive.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"ProbeConfig.{name} must be a positive integer, got {value!r}")
        if self.check_every is not None and (not isinstance(self.check_every, int) or self.check_every < 1):
            raise ValueError(f"ProbeConfig.check_every must be a positive integer or None, got {self.check_every!r}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise ValueError(f"ProbeConfig.lr must be a finite number > 0 and <= {MAX_LR:g}, got {self.lr!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"ProbeConfig.seed must be an integer in 0..{MAX_SEED}, got {self.seed!r}")
        if not (isinstance(self.test_fraction, (int, float)) and 0 <= self.test_fraction < 1):
            raise ValueError(f"ProbeConfig.test_fraction must be in [0, 1), got {self.test_fraction!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or isinstance(self.threads, bool)
                                         or self.threads < 1):
            raise ValueError(f"ProbeConfig.threads must be a positive integer or None, got {self.threads!r}")
        if not (0 <= self.momentum < 1):
            raise ValueError(f"ProbeConfig.momentum must be in [0, 1), got {self.momentum!r}")
        if not (math.isfinite(self.weight_decay) and 0 <= self.weight_decay <= MAX_LR):
            raise ValueError(f"ProbeConfig.weight_decay must be a finite number >= 0 and <= {MAX_LR:g}, "
                             f"got {self.weight_decay!r}")
        for name, value, allowed in (("device", self.device, DEVICES), ("amp", self.amp, AMP_MODES),
                                     ("dtype", self.dtype, DTYPES),
                                     ("optimizer", self.optimizer, OPTIMIZERS),
                                     ("lr_schedule", self.lr_schedule, LR_SCHEDULES),
                                     ("compile_mode", self.compile_mode, COMPILE_MODES)):
            if value not in allowed:
                raise ValueError(f"ProbeConfig.{name} must be one of {', '.join(allowed)}, got {value!r}")
        if not isinstance(self.data, str) or not self.data:
            raise ValueError("ProbeConfig.data must be digits, synthetic, cifar10:PATH or folder:PATH")
        if self.dtype == "float64" and self.amp == "bf16":
            raise ValueError("ProbeConfig.amp 'bf16' (bfloat16 autocast) and ProbeConfig.dtype 'float64' exclude "
                             "each other: choose one")
        if self.compile and self.cuda_graphs:
            raise ValueError("ProbeConfig: choose compile or cuda_graphs, not both "
                             "(torch.compile mode='reduce-overhead' already uses CUDA graphs)")

        if self.cuda_graphs and self.lr_schedule != "constant":
            raise ValueError("ProbeConfig.lr_schedule must be 'constant' with cuda_graphs (the learning rate is "
                             "captured in the graph)")

    def lr_at(self, step: int) -> float:
        """The learning rate of the update after step `step` (1-based): constant; step (lr until half the
        steps, lr/10 until three quarters, lr/100 after: He et al.'s 32k/48k of 64k iterations); cosine
        (from lr to 0 over the run)."""
        if self.lr_schedule == "step":
            return self.lr * (1.0 if step <= self.steps // 2 else 0.1 if step <= (3 * self.steps) // 4 else 0.01)
        if self.lr_schedule == "cosine":
            return 0.5 * self.lr * (1.0 + math.cos(math.pi * (step - 1) / max(1, self.steps)))
        return self.lr

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProbeConfig":
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown ProbeConfig field(s): {', '.join(unknown)}")
        return cls(**data)
