"""Probe depths (longest weighted path) and what the probe figures say: integer ticks, short-run training
curves, neutral titles. Figures are built from hand-made results (no training), so these run in seconds."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

import archc
from archc.analysis.paths import path_counts
from archc.probe.figure_set import comparison_plots
from archc.probe import ProbeConfig, ProbeResult, plots
from archc.probe.layers import watched_layers
from probe_helpers import TINY_AUX, TINY_PLAIN, TINY_PROJ, TINY_RES, model


def bundled(name: str):
    return archc.lower(archc.load(f"specs/{name}.yaml"))


def fake_result(ir, steps: int = 3, label: str = "", kind: str = "residual") -> ProbeResult:
    """A result with made-up but deterministic numbers: norms fall with depth, loss and error fall with step."""
    layers = watched_layers(ir)
    norm_steps = sorted({1, steps})
    norms = [[(1.0 + 0.1 * i) / (layer.depth + 0.5 * j) for j, layer in enumerate(layers)]
             for i in range(len(norm_steps))]
    loss = [2.0 / (1 + 0.1 * s) + 0.05 * (s % 3) for s in range(steps)]
    acc = [min(1.0, 0.25 + 0.01 * s) for s in range(steps)]
    result = ProbeResult(name=ir.name, label=label or ir.name, config=ProbeConfig(steps=steps, progress=False),
                         layers=layers, norm_steps=norm_steps, norms=norms, loss=loss, acc=acc)
    if kind == "residual":
        result.path_gradients = {"k": [0, 1], "mean": [1.0, 0.5], "weighted": [0.5, 0.5],
                                 "path_fraction": [0.5, 0.5], "blocks": 1}
    elif kind == "plain":
        result.path_note = "not measured, the net has no residual blocks (paths need shortcut connections)"
    return result


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions would save: {file base name: matplotlib Figure}."""
    caught = {}

    def capture(fig, base, formats):
        caught[base.name] = fig
        return []

    monkeypatch.setattr(plots, "save", capture)
    return caught


# ---------------------------------------------------------------- depth = longest weighted path


@pytest.mark.parametrize("name, deepest", [("googlenet", 22), ("resnet18", 18), ("resnet50", 50),
                                           ("vgg19", 19)])
def test_depth_of_published_nets(name, deepest):
    """GoogLeNet is 22 layers deep (Szegedy et al. 2015), ResNet-18/50 18/50, VGG-19 19 -- counted on the
    longest path, not by enumerating the conv/fc layers (GoogLeNet has 58 on its main body)."""
    ir = bundled(name)
    layers = watched_layers(ir)
    main = [layer for layer in layers if layer.role == "main"]
    assert max(layer.depth for layer in main) == deepest
    assert main[-1].kind == "fc" and main[-1].depth == deepest
    # the same figure as the analysis report's depth
    assert max(path_counts(ir).layers["output"].as_dict()) == deepest


def test_googlenet_branches_share_depths():
    layers = {layer.path: layer for layer in watched_layers(bundled("googlenet"))}
    main = [layer for layer in layers.values() if layer.role == "main"]
    assert len(main) == 58 and sorted({layer.depth for layer in main}) == list(range(1, 23))
    m = "inception3.inception3a"
    assert [layers[f"stem.conv{i}.conv"].depth for i in (1, 2, 3)] == [1, 2, 3]
    assert layers[f"{m}.branch1.conv1.conv"].depth == 4  # 1x1
    assert layers[f"{m}.branch2.conv1.conv"].depth == 4  # 3x3 reduce
    assert layers[f"{m}.branch2.conv2.conv"].depth == 5  # 3x3
    assert layers[f"{m}.branch3.conv2.conv"].depth == 5  # 5x5
    assert layers[f"{m}.branch4.conv1.conv"].depth == 4  # pool projection
    assert layers["inception3.inception3b.branch1.conv1.conv"].depth == 6
    assert {layer.role for layer in layers.values()} == {"main", "aux"}
    # aux heads count their own longest path: attached after inception4a (its 3x3/5x5 convs: depth 9)
    assert max(layers[f"inception4.inception4a.branch{b}.conv2.conv"].depth for b in (2, 3)) == 9
    assert [layers[f"aux1.{p}"].depth for p in ("conv.conv", "fc1", "fc2")] == [10, 11, 12]


@pytest.mark.parametrize("text", [TINY_PLAIN, TINY_RES, TINY_PROJ])
def test_chain_and_residual_main_path_is_one_to_n(text):
    main = [layer.depth for layer in watched_layers(model(text)) if layer.role == "main"]
    assert main == list(range(1, len(main) + 1))


def test_projection_shortcut_conv_has_its_own_longest_path():
    layers = {layer.path: layer for layer in watched_layers(model(TINY_PROJ))}
    shortcut = layers["stage2.block1.shortcut.conv"]
    assert shortcut.role == "shortcut" and shortcut.stage == "stage2" and shortcut.block == "stage2.block1"
    # input -> stem conv (1) -> stage1: 2 blocks x 2 convs (5) -> shortcut conv: 6, beside the body's first conv
    assert layers["stage1.block2.conv2.conv"].depth == 5
    assert shortcut.depth == layers["stage2.block1.conv1.conv"].depth == 6
    assert layers["stage2.block1.conv2.conv"].depth == 7 and layers["head.fc1"].depth == 8


def test_aux_head_depth_follows_its_attach_point():
    layers = {layer.path: layer for layer in watched_layers(model(TINY_AUX))}
    assert layers["aux1.fc1"].role == "aux" and layers["aux1.fc1"].depth == layers["stage1.block2.conv2.conv"].depth + 1


# ---------------------------------------------------------------- the figures


def integer_ticks(ax) -> bool:
    return all(float(t).is_integer() for t in ax.get_xticks())


def test_depth_and_step_axes_have_integer_ticks(figures):
    """A 3-step run over an 8-layer net: matplotlib's default locator would put ticks at 1.25, 2.5, ..."""
    result = fake_result(model(TINY_RES), steps=3)
    plots.result_plots(result, Path("unused"))
    comparison_plots([result], Path("unused"))
    assert set(figures) == {"tinyres_gradnorm", "tinyres_training", "tinyres_paths", "gradnorm_depth",
                            "training_curves", "path_gradients"}
    for name, fig in figures.items():
        for ax in fig.axes:
            assert integer_ticks(ax), (name, ax.get_title(), list(ax.get_xticks()))
    for name in ("tinyres_gradnorm", "gradnorm_depth"):
        for ax in figures[name].axes:
            assert "longest path from the input" in ax.get_xlabel()


def test_short_run_training_curves_have_no_running_mean(figures):
    result = fake_result(model(TINY_RES), steps=3)
    plots.training_comparison([result], Path("training"), ("svg",))
    loss_ax, err_ax = figures["training"].axes
    assert "running mean" not in loss_ax.get_ylabel() + err_ax.get_ylabel()
    assert "per batch" in loss_ax.get_ylabel() and "per batch" in err_ax.get_ylabel()
    assert len(loss_ax.get_lines()) == len(err_ax.get_lines()) == 1  # no faint copy under a "bold" one
    line = loss_ax.get_lines()[0]
    assert list(line.get_ydata()) == result.loss and line.get_marker() == "o"  # 3 points: visible markers


@pytest.mark.parametrize("steps, window", [(1, 1), (5, 1), (6, 2), (10, 3), (15, 5), (39, 5), (100, 5),
                                           (200, 10), (1000, 50)])
def test_smoothing_window(steps, window):
    assert plots.smoothing_window(steps) == window


def test_longer_run_says_its_running_mean_window(figures):
    result = fake_result(model(TINY_RES), steps=30)
    plots.training_comparison([result], Path("training"), ("svg",))
    loss_ax, err_ax = figures["training"].axes
    assert "running mean of 5 steps" in loss_ax.get_ylabel() and "running mean of 5 steps" in err_ax.get_ylabel()
    faint, bold = loss_ax.get_lines()
    assert list(faint.get_ydata()) == result.loss
    assert list(bold.get_ydata()) == pytest.approx(plots.smooth(result.loss, 5))
    assert bold.get_ydata()[-1] != result.loss[-1]


def test_mixed_windows_are_named_in_the_legend(figures):
    runs = [fake_result(model(TINY_RES), steps=3, label="short"), fake_result(model(TINY_RES), steps=40, label="long")]
    plots.training_comparison(runs, Path("training"), ("svg",))
    loss_ax, _ = figures["training"].axes
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert labels == ["short (per batch)", "long (mean of 5)"]


def test_single_run_title_is_neutral(figures):
    result = fake_result(model(TINY_RES), steps=3, kind="residual")
    plots.result_plots(result, Path("unused"))
    comparison_plots([result], Path("unused"))
    for name in ("tinyres_training", "training_curves"):
        title = figures[name]._suptitle.get_text()
        assert title == "Training curves: loss and error per step"
        assert "worse" not in title and "degradation" not in title


def test_plain_against_residual_names_the_experiment(figures):
    runs = [fake_result(model(TINY_PLAIN), steps=3, kind="plain"), fake_result(model(TINY_RES), steps=3)]
    comparison_plots(runs, Path("unused"))
    title = figures["training_curves"]._suptitle.get_text()
    assert "plain and residual" in title and "He et al. 2016" in title
    # two plain runs, or runs whose kind is unknown (paths not measured): neutral
    comparison_plots([runs[0], runs[0]], Path("unused"))
    assert "He et al." not in figures["training_curves"]._suptitle.get_text()
    comparison_plots([fake_result(model(TINY_PLAIN), kind=""), runs[1]], Path("unused"))
    assert "He et al." not in figures["training_curves"]._suptitle.get_text()


def test_shared_depths_are_drawn_as_dots_and_a_per_depth_mean(figures):
    result = fake_result(bundled("googlenet"), steps=3)
    plots.result_plots(result, Path("unused"))
    (ax,) = figures["googlenet_gradnorm"].axes
    assert "mean over the layers of a depth" in ax.get_ylabel()
    dots, mean = ax.get_lines()[:2]  # step 1: the 58 main layers, then the mean line through 22 depths
    assert len(dots.get_xdata()) == 58 and dots.get_linestyle() == "None"
    assert list(mean.get_xdata()) == list(range(1, 23))
    main = [(layer.depth, v) for layer, v in zip(result.layers, result.init_norms) if layer.role == "main"]
    at4 = [v for d, v in main if d == 4]
    assert len(at4) == 4 and mean.get_ydata()[3] == pytest.approx(sum(at4) / 4)
    assert integer_ticks(ax)


def test_per_depth_mean():
    assert plots.per_depth_mean([1, 2, 2, 3], [1.0, 2.0, 4.0, 8.0]) == ([1, 2, 3], [1.0, 3.0, 8.0])
    assert plots.per_depth_mean([], []) == ([], [])


def test_chain_keeps_one_line_through_the_layers(figures):
    result = fake_result(model(TINY_PROJ), steps=3)
    comparison_plots([result], Path("unused"))
    a0, _ = figures["gradnorm_depth"].axes
    assert "mean" not in a0.get_ylabel()
    line, shortcut = a0.get_lines()
    assert line.get_marker() == "o" and list(line.get_xdata()) == list(range(1, 9))
    assert list(shortcut.get_xdata()) == [6] and shortcut.get_marker() == "x"
    assert "x: shortcut projections" in figures["gradnorm_depth"]._suptitle.get_text()


def test_branched_net_plots_are_deterministic(tmp_path):
    runs = [fake_result(bundled("googlenet"), steps=12, kind=""), fake_result(model(TINY_RES), steps=3)]
    first = comparison_plots(runs, tmp_path / "a", ("svg",))
    second = comparison_plots(runs, tmp_path / "b", ("svg", "png"))
    assert [p.name for p in first] == ["gradnorm_depth.svg", "training_curves.svg", "path_gradients.svg"]
    assert len(second) == 6
    for p in first:
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()
    assert all(math.isfinite(v) for row in runs[0].norms for v in row)
