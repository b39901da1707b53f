"""A module alone (`head: []`): one block or one layer can be lowered, built, drawn and analysed; the probe,
which trains a classifier, refuses it with one located line."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import archc
from archc.cli import main

BLOCK = """archc: 1
name: bottleneck_block
input: {channels: 256, size: 56}
stages:
  - residual: {block: bottleneck, width: 64}
head: []
"""


def bottleneck_block_params() -> int:
    """He et al. 2016 Table 1, conv2_x: 1x1 64, 3x3 64, 1x1 256, each without bias and followed by BN."""
    convs = 256 * 64 + 9 * 64 * 64 + 64 * 256
    return convs + 2 * (64 + 64 + 256)


@pytest.fixture()
def block_spec(tmp_path: Path) -> Path:
    path = tmp_path / "block.yaml"
    path.write_text(BLOCK)
    return path


def test_a_block_alone_lowers_to_feature_maps_with_the_hand_counted_cost(block_spec):
    ir = archc.lower(block_spec)
    assert tuple(ir.body.out_shape) == (256, 56, 56)
    assert [node.role for node in ir.stages] == ["stage"]  # no head node
    assert ir.cost.params == bottleneck_block_params() == 70_400
    assert ir.cost.macs == (256 * 64 + 9 * 64 * 64 + 64 * 256) * 56 * 56  # convs only: BN/ReLU/add are not MACs


def test_the_built_module_returns_the_feature_maps_and_its_source_imports(block_spec, tmp_path):
    net = archc.compile(block_spec, seed=0).eval()
    x = torch.randn(1, 256, 56, 56)
    assert net(x).shape == (1, 256, 56, 56)
    assert sum(p.numel() for p in net.parameters()) == 70_400
    out = tmp_path / "built"
    result = CliRunner().invoke(main, ["build", str(block_spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    spec = importlib.util.spec_from_file_location("bottleneck_block", out / "bottleneck_block.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = next(v for k, v in vars(module).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)
                     and v.__module__ == module.__name__ and k.lower().startswith("bottleneck"))()
    generated.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), net(x))


def test_analyze_and_diagram_take_a_module_alone(block_spec, tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["analyze", str(block_spec), "-o", str(tmp_path / "an")])
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "an").rglob("report.json")).read_text())
    assert report["complexity"]["total"]["params"] == bottleneck_block_params()
    assert report["paths"]["outputs"]["output"]["paths"] == 2  # one residual block: 2^1 paths
    result = runner.invoke(main, ["diagram", str(block_spec), "--level", "layer", "-f", "dot",
                                  "-o", str(tmp_path / "d.dot")])
    assert result.exit_code == 0, result.output
    dot = (tmp_path / "d.dot").read_text()
    assert "output" in dot and "fc" not in dot.lower().split("label")[0]


def test_the_probe_refuses_a_module_alone_in_one_line(block_spec, tmp_path):
    result = CliRunner().invoke(main, ["probe", str(block_spec), "--steps", "1", "--batch", "2", "--device", "cpu",
                                       "-o", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "ends in feature maps (256 x 56 x 56), not class scores" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "p").exists()


def test_no_layers_at_all_is_a_located_error(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("archc: 1\nname: nothing\nstages: []\nhead: []\n")
    with pytest.raises(archc.SpecError, match=r"empty.yaml:3:9: stages: list should have at least 1 item"):
        archc.lower(path)


def test_the_init_study_runs_on_a_module_alone(block_spec):
    from archc.analysis.initprop import InitConfig, init_propagation

    study = init_propagation(archc.lower(block_spec), InitConfig(schemes=("kaiming_fan_in",), batch=2))
    curves = study["results"]["kaiming_fan_in"]["norm layers removed"]
    assert len(curves["activation_std"]) == 3 and all(v > 0 for v in curves["gradient_std"])


def test_a_module_alone_is_not_described_as_a_classifier(block_spec, tmp_path):
    ir = archc.lower(block_spec)
    assert not ir.is_classifier and ir.output_text == "output 256x56x56 (no classifier)"
    out = tmp_path / "b"
    assert CliRunner().invoke(main, ["build", str(block_spec), "-o", str(out)]).exit_code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["classes"] is None and summary["output"] == [256, 56, 56]
    assert "1000 classes" not in (out / "bottleneck_block.py").read_text()
