"""The lecture figures that are not Graphviz drawings of whole specs, and the figures' index numbers:
the 1x1-convolution tensor view, one auxiliary classifier alone, the generic residual block, He
initialisation in one panel (from a committed `archc analyze` report) and the probe's error curves
(from the committed probe run, redrawn, never retrained)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import graphviz

import archc
from archc.render.diagram import to_dot
from archc.render.figures import lower_text

REPO = Path(archc.__file__).resolve().parent.parent
PROBE_RUN = REPO / "reports" / "probe" / "degradation" / "probe.json"
INIT_REPORT = REPO / "reports" / "plain34" / "report.json"
CONV1X1_SPEC = """
name: conv1x1
title: "How a 1×1 convolution works"
input: {channels: 192, size: 28}
defaults: {norm: none, act: relu}
stages: [conv: {out: 64, kernel: 1}]
"""
GENERIC_BLOCK_SPEC = """
name: generic_block
input: {channels: 64, size: 56}
defaults: {norm: none}
stages: [residual: {block: basic, width: 64, blocks: 1}]
"""
SCHEME_NAMES = {"kaiming_fan_in": "He (Kaiming) fan-in", "kaiming_fan_out": "He (Kaiming) fan-out",
                "xavier": "Xavier (Glorot)", "torch_default": "PyTorch default"}
SCHEME_COLOURS = {"kaiming_fan_in": "#2c5f8a", "kaiming_fan_out": "#6aa0cc", "xavier": "#a63a2c",
                  "torch_default": "#3c7a29"}


def save_figure(fig: Any, base: Path, formats: Sequence[str]) -> list[Path]:
    """A matplotlib figure as base.<fmt> (svg, pdf, png; dot is skipped); equal figures give equal bytes."""
    from archc.plotting import save_figure as save

    return save(fig, base, [fmt for fmt in formats if fmt != "dot"], "archc-figures", 150)


def fig_conv1x1() -> Any:
    from archc.render.tensors import tensor_view

    return tensor_view(lower_text(CONV1X1_SPEC), font_scale=1.2)


def fig_aux1() -> graphviz.Digraph:
    from archc.bundled import resolve_spec_arg

    return to_dot(archc.lower(resolve_spec_arg("googlenet")), "layer", focus="aux1")


def fig_generic_block() -> graphviz.Digraph:
    model = lower_text(GENERIC_BLOCK_SPEC)
    return to_dot(model, "layer", focus=model.stages[0].items[0].path, generic_labels=True, shapes=False,
                  title="Residual learning: a building block (He et al. 2016, Fig. 2)", input_label="x",
                  output_label="relu(F(x) + x)", caption="F(x): weight layer → relu → weight layer; "
                                                         "the identity shortcut adds x unchanged", font_scale=1.3)


def fig_he_init(report: Path = INIT_REPORT) -> Any:
    """Std of the activations across depth, norm layers removed, one line per init scheme: one panel."""
    from matplotlib.figure import Figure

    doc = json.loads(report.read_text(encoding="utf-8"))
    init = doc["init"]
    variant = "norm layers removed" if "norm layers removed" in init["variants"] else init["variants"][0]
    fig = Figure(figsize=(10, 5.6), layout="constrained")
    ax = fig.subplots()
    for scheme in ("kaiming_fan_in", "kaiming_fan_out", "xavier", "torch_default"):
        if scheme not in init["results"]:
            continue
        ys = [v if v and v > 0 else float("nan") for v in init["results"][scheme][variant]["activation_std"]]
        ax.plot(range(1, len(ys) + 1), ys, color=SCHEME_COLOURS[scheme], lw=2.4, marker="o", ms=3.5,
                label=SCHEME_NAMES[scheme])
        if scheme == "torch_default" and len(ys) > 1 and ys[-1] > 100 * ys[-2]:  # nan compares False
            ax.annotate("the last layer's output is\nits bias (default init:\nuniform), not the signal",
                        xy=(len(ys), ys[-1]), xytext=(len(ys) - 12, ys[-1] * 0.015), fontsize=11, va="bottom",
                        color=SCHEME_COLOURS[scheme], arrowprops={"arrowstyle": "->", "color": SCHEME_COLOURS[scheme]})
    ax.set_yscale("log")
    ax.axhline(1.0, color="#999999", lw=0.8, ls=":")
    ax.set_xlabel("weighted layer (conv / fc), input → output", fontsize=14)
    ax.set_ylabel("std of the layer's output", fontsize=14)
    ax.tick_params(labelsize=12)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=13, frameon=False, title="initialisation",
              title_fontsize=13)  # outside the axes: never over a curve
    ax.set_title(f"{doc['name']}, {variant}: std of the activations at initialisation", fontsize=14)
    fig.suptitle("He initialisation keeps the signal's scale through a deep ReLU net", fontsize=17, weight="bold")
    return fig


def _probe_results(names: Sequence[str], run: Path = PROBE_RUN) -> list:
    from archc.probe.result import ProbeResult

    doc = json.loads(run.read_text(encoding="utf-8"))
    results = {r.label: r for r in (ProbeResult.from_dict(d) for d in doc["results"])}
    return [results[n] for n in names]


def probe_writer(names: Sequence[str], title: str):
    """A writer of the probe's error curves for the named runs (from the committed probe.json)."""
    def write(base: Path, formats: Sequence[str]) -> list[Path]:
        from archc.probe.lecture_plots import error_curves

        wanted = [f for f in formats if f in ("svg", "png", "pdf")]  # vector PDF, as the other charts
        return error_curves(_probe_results(names), base, wanted, title=title) if wanted else []

    return write


fig_probe_plain = probe_writer(("Plain-20", "Plain-56"),
                               "Deeper plain nets do worse: plain-20 vs plain-56")
fig_probe_both = probe_writer(("Plain-20", "Plain-56", "ResNet-20", "ResNet-56"),
                              "Plain vs residual nets: training and test error")
