"""What one probe measured: per-step loss/accuracy, per-layer gradient norms at logged steps, how the run
ended, and (for residual nets) path-length gradients. JSON-able, with a Markdown section and plots."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from archc.probe.config import ProbeConfig
from archc.probe.layers import LayerInfo, first_last_ratio, group_norms

STATUSES = ("completed", "interrupted", "nonfinite")


def _num(value: float) -> Optional[float]:
    """JSON has no NaN/Inf: store them as null (the status and `nonfinite` say why)."""
    value = float(value)
    return value if math.isfinite(value) else None


def _unnum(value: Optional[float]) -> float:
    return float("nan") if value is None else float(value)


@dataclass
class ProbeResult:
    name: str  # the model's name
    label: str  # display name (e.g. "plain56 (norm=none)")
    config: ProbeConfig
    layers: list[LayerInfo]
    norm_steps: list[int] = field(default_factory=list)  # steps whose gradient norms were kept
    norms: list[list[float]] = field(default_factory=list)  # [len(norm_steps)][len(layers)]
    loss: list[float] = field(default_factory=list)  # per step 1..steps_done
    acc: list[float] = field(default_factory=list)  # batch accuracy per step
    test_steps: list[int] = field(default_factory=list)  # updates done when tested (0: at initialisation)
    test_loss: list[float] = field(default_factory=list)  # mean cross-entropy on the held-out part
    test_error: list[float] = field(default_factory=list)  # error rate on the held-out part, 0..1
    status: str = "completed"
    nonfinite: Optional[dict] = None  # {step, what, layer, where, message}
    path_gradients: Optional[dict] = None
    path_note: str = ""  # why there are no path gradients
    model: dict = field(default_factory=dict)  # title, params, macs, input, classes, source
    data: dict = field(default_factory=dict)
    run: dict = field(default_factory=dict)  # device, amp, channels_last, compile, world size, hardware
    timing: dict = field(default_factory=dict)  # seconds, steps/s (machine-dependent, not deterministic)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if len(self.acc) != len(self.loss):
            raise ValueError(f"{len(self.loss)} losses but {len(self.acc)} accuracies")
        if not len(self.test_steps) == len(self.test_loss) == len(self.test_error):
            raise ValueError("test_steps, test_loss and test_error differ in length")
        if len(self.norm_steps) != len(self.norms) or any(len(row) != len(self.layers) for row in self.norms):
            raise ValueError("norms do not match norm_steps and layers")
        pg = self.path_gradients
        if pg is not None:
            if not isinstance(pg, dict) or not {"k", "mean", "weighted", "path_fraction", "blocks", "summary"} <= set(pg):
                raise ValueError("path_gradients lacks k, mean, weighted, path_fraction, blocks or summary")
            if not len(pg["k"]) == len(pg["mean"]) == len(pg["weighted"]) == len(pg["path_fraction"]):
                raise ValueError("path_gradients' lists differ in length")

    # ------------------------------------------------------------ derived figures

    @property
    def steps_done(self) -> int:
        return len(self.loss)

    @property
    def init_norms(self) -> list[float]:
        """Per-layer gradient norms at initialisation (step 1), or [] when no step finished."""
        return list(self.norms[0]) if self.norms and self.norm_steps[0] == 1 else []

    @property
    def final_norms(self) -> list[float]:
        return list(self.norms[-1]) if self.norms else []

    def _norms_at(self, which: str) -> list[float]:
        if which not in ("init", "end"):
            raise ValueError(f"which must be 'init' or 'end', got {which!r}")
        return self.init_norms if which == "init" else self.final_norms

    def ratio(self, which: str = "init") -> float:
        """First-layer over last-layer gradient norm at 'init' or at the 'end'."""
        norms = self._norms_at(which)
        return first_last_ratio(self.layers, norms) if norms else float("nan")

    def grouped(self, by: str, which: str = "init") -> dict[str, float]:
        norms = self._norms_at(which)
        return group_norms(self.layers, norms, by) if norms else {}

    def tail_mean(self, values: Sequence[float], fraction: float = 0.1) -> float:
        if not values:
            return float("nan")
        n = max(1, int(round(len(values) * fraction)))
        return sum(values[-n:]) / n

    @property
    def final_loss(self) -> float:
        return self.tail_mean(self.loss)

    @property
    def final_acc(self) -> float:
        return self.tail_mean(self.acc)

    @property
    def final_train_error(self) -> float:
        """1 - batch accuracy, mean of the last 10% of steps."""
        return 1.0 - self.final_acc

    @property
    def final_test_error(self) -> float:
        """Test error of the last weights tested (nan without a test part)."""
        return self.test_error[-1] if self.test_error else float("nan")

    @property
    def final_test_loss(self) -> float:
        return self.test_loss[-1] if self.test_loss else float("nan")

    @property
    def best_test_error(self) -> float:
        finite = [v for v in self.test_error if math.isfinite(v)]
        return min(finite) if finite else float("nan")

    @property
    def kind(self) -> str:
        """'residual', 'plain' or '' (not recorded): whether the net has residual blocks."""
        blocks = self.model.get("residual_blocks")
        if blocks is not None:
            return "residual" if blocks else "plain"
        if self.path_gradients:  # runs recorded before residual_blocks was
            return "residual"
        return "plain" if "no residual blocks" in (self.path_note or "") else ""

    # ------------------------------------------------------------ serialisation

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "status": self.status,
            "steps_done": self.steps_done,
            "config": self.config.to_dict(),
            "model": self.model,
            "data": self.data,
            "run": self.run,
            "timing": self.timing,
            "layers": [layer.to_dict() for layer in self.layers],
            "norm_steps": list(self.norm_steps),
            "norms": [[_num(v) for v in row] for row in self.norms],
            "loss": [_num(v) for v in self.loss],
            "acc": [_num(v) for v in self.acc],
            "test_steps": list(self.test_steps),
            "test_loss": [_num(v) for v in self.test_loss],
            "test_error": [_num(v) for v in self.test_error],
            "nonfinite": self.nonfinite,
            "path_gradients": self.path_gradients,
            "path_note": self.path_note,
            "summary": {
                "final_loss": _num(self.final_loss),
                "final_acc": _num(self.final_acc),
                "final_test_loss": _num(self.final_test_loss),
                "final_test_error": _num(self.final_test_error),
                "best_test_error": _num(self.best_test_error),
                "first_last_ratio_init": _num(self.ratio("init")),
                "first_last_ratio_end": _num(self.ratio("end")),
                "stage_norms_init": {k: _num(v) for k, v in self.grouped("stage", "init").items()},
                "stage_norms_end": {k: _num(v) for k, v in self.grouped("stage", "end").items()},
                "block_norms_init": {k: _num(v) for k, v in self.grouped("block", "init").items()},
                "block_norms_end": {k: _num(v) for k, v in self.grouped("block", "end").items()},
            },
        }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ProbeResult":
        return cls(
            name=data["name"], label=data["label"], config=ProbeConfig.from_dict(data["config"]),
            layers=[LayerInfo(**layer) for layer in data["layers"]], norm_steps=list(data["norm_steps"]),
            norms=[[_unnum(v) for v in row] for row in data["norms"]],
            loss=[_unnum(v) for v in data["loss"]], acc=[_unnum(v) for v in data["acc"]],
            test_steps=[int(v) for v in data.get("test_steps", [])],
            test_loss=[_unnum(v) for v in data.get("test_loss", [])],
            test_error=[_unnum(v) for v in data.get("test_error", [])],
            status=data["status"], nonfinite=data.get("nonfinite"), path_gradients=data.get("path_gradients"),
            path_note=data.get("path_note", ""), model=data.get("model", {}), data=data.get("data", {}),
            run=data.get("run", {}), timing=data.get("timing", {}))

    # ------------------------------------------------------------ presentation

    def markdown_section(self, level: int = 3, settings: bool = False) -> str:
        """This run's Markdown section; with `settings`, also the hardware and training settings (for a report
        that does not already state them, as `archc analyze --probe`)."""
        from archc.probe.report import result_section, settings_text

        text = result_section(self, level)
        return text + "\n" + settings_text([self]) + "\n" if settings else text

    def plots(self, out_dir: Union[str, Path], formats: Sequence[str] = ("svg",), stem: str = "") -> list[Path]:
        """This run's figures (gradient norm vs depth, loss curve, path gradients) -> the files written, named
        `<stem>_gradnorm.svg` ... (stem: from the label by default)."""
        from archc.probe.plots import result_plots

        return result_plots(self, Path(out_dir), formats, stem)
