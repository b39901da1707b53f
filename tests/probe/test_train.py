"""The training probe on CPU: norms, loss, NaN/Inf, Ctrl-C, OOM, results (tiny nets, seconds)."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

import archc
from archc.errors import ArchcError, ArchcRuntimeError
from archc.probe import ProbeConfig, ProbeResult, run_probe
from archc.probe.data import ProbeData, synthetic
from archc.probe.collectives import env_info
from archc.probe.layers import group_norms, watched_layers
from archc.probe.hardware import resolve_setup
from archc.probe.train import Trainer
from probe_helpers import TINY_AUX, TINY_NOBN, TINY_PLAIN, TINY_PROJ, TINY_RES, model




def quick(**kw) -> ProbeConfig:
    base = dict(steps=4, batch=16, data="synthetic", synthetic_size=128, log_every=2, progress=False,
                path_gradients=False)
    base.update(kw)
    return ProbeConfig(**base)


def trainer(text: str, config: ProbeConfig, data: ProbeData | None = None) -> tuple[Trainer, ProbeResult]:
    ir = model(text)
    data = data or synthetic(ir.input_shape, ir.classes, config.synthetic_size, config.seed)
    tr = Trainer(ir, config, data, resolve_setup(config, env_info()))
    result = ProbeResult(name=ir.name, label=ir.name, config=config, layers=tr.layers)
    return tr, result


# ---------------------------------------------------------------- what is recorded


def test_norms_recorded_for_every_conv_and_fc_weight():
    result = run_probe(model(TINY_PROJ), quick(steps=5, log_every=2))
    net = archc.compile(model(TINY_PROJ))
    expected = {f"{name}.weight" for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert {layer.param for layer in result.layers} == expected
    assert result.norm_steps == [1, 2, 4, 5]
    assert all(len(row) == len(result.layers) for row in result.norms)
    assert all(v > 0 and math.isfinite(v) for row in result.norms for v in row)
    roles = {layer.path: layer.role for layer in result.layers}
    assert roles["stage2.block1.shortcut.conv"] == "shortcut"
    depths = [layer.depth for layer in result.layers if layer.role == "main"]
    assert depths == list(range(1, len(depths) + 1))
    assert [layer.stage for layer in result.layers][:2] == ["stem", "stage1"]
    assert result.layers[1].block == "stage1.block1"
    assert len(result.loss) == len(result.acc) == 5


def test_foreach_norms_equal_per_parameter_norms():
    tr, _ = trainer(TINY_RES, quick())
    x, y = tr.batch(1)
    lc, norms = tr.compute(x, y)
    per_param = torch.stack([torch.linalg.vector_norm(p.grad) for p in tr.tracked])
    torch.testing.assert_close(norms, per_param, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype, rel", [("float32", 1e-5), ("float64", 1e-12)])
def test_init_norms_match_a_hand_written_step(dtype, rel):
    """Step 1's recorded norms = the gradient of a plain PyTorch step on the same weights and batch."""
    config = quick(steps=1, dtype=dtype)
    ir = model(TINY_RES)
    data = synthetic(ir.input_shape, ir.classes, config.synthetic_size, config.seed)
    result = run_probe(ir, config, data=data)
    tr, _ = trainer(TINY_RES, config, data)
    x, y = tr.batch(1)
    assert x.dtype == getattr(torch, dtype)
    net = archc.compile(ir, seed=config.seed).to(x.dtype).train()
    loss = nn.functional.cross_entropy(net(x), y)
    loss.backward()
    params = dict(net.named_parameters())
    expected = [params[layer.param].grad.norm().item() for layer in result.layers]
    assert result.run["dtype"] == dtype
    assert result.init_norms == pytest.approx(expected, rel=rel)
    assert result.loss[0] == pytest.approx(loss.item(), rel=rel)
    assert result.ratio("init") == pytest.approx(expected[0] / expected[-1], rel=rel)


def test_loss_decreases_on_the_synthetic_set():
    result = run_probe(model(TINY_RES), quick(steps=60, batch=32, synthetic_size=512, log_every=20))
    first, last = sum(result.loss[:10]) / 10, sum(result.loss[-10:]) / 10
    assert result.status == "completed"
    assert last < 0.6 * first
    assert result.final_acc > 0.6  # 4 classes: chance is 25%


def test_grouped_norms_are_l2_over_members():
    result = run_probe(model(TINY_RES), quick(steps=1))
    by_stage = result.grouped("stage", "init")
    stage1 = [v for layer, v in zip(result.layers, result.init_norms) if layer.stage == "stage1"]
    assert list(by_stage) == ["stem", "stage1", "stage2", "head"]
    assert by_stage["stage1"] == pytest.approx(math.sqrt(sum(v * v for v in stage1)))
    blocks = group_norms(result.layers, result.init_norms, "block")
    assert "stage1.block2" in blocks and "head" in blocks
    with pytest.raises(ValueError, match="group by"):
        group_norms(result.layers, result.init_norms, "layer")


def test_aux_heads_are_trained_and_watched():
    ir = model(TINY_AUX)
    layers = watched_layers(ir)
    assert [layer.role for layer in layers if layer.stage == "aux1"] == ["aux"]
    config = quick(steps=1)
    tr, _ = trainer(TINY_AUX, config)
    x, y = tr.batch(1)
    lc, norms = tr.compute(x, y)
    logits, aux = tr.module(x)
    expected = (nn.functional.cross_entropy(logits, y) + 0.3 * nn.functional.cross_entropy(aux["aux1"], y)).item()
    assert lc[0].item() == pytest.approx(expected, rel=1e-5)
    assert norms[-1] > 0  # the aux fc weight gets a gradient


def test_bf16_autocast_runs_on_cpu():
    result = run_probe(model(TINY_RES), quick(steps=2, amp="bf16"))
    assert result.run["amp"] == "bf16" and result.status == "completed"
    assert all(math.isfinite(v) for v in result.loss)


def _max_rel(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(p - q) / abs(p) for x, y in zip(a, b) for p, q in zip(x, y))


def test_channels_last_records_the_same_numbers():
    """The memory format changes the kernels' summation order, not what is computed."""
    eager = run_probe(model(TINY_PROJ), quick(steps=3, log_every=1))
    nhwc = run_probe(model(TINY_PROJ), quick(steps=3, log_every=1, channels_last=True))
    assert nhwc.run["channels_last"] is True and eager.run["channels_last"] is False
    assert _max_rel(eager.norms, nhwc.norms) < 1e-4
    assert nhwc.loss == pytest.approx(eager.loss, rel=1e-5)


def test_torch_compile_records_the_same_numbers_as_eager():
    """--compile on CPU (inductor): the norms are read from the same parameters the compiled module trains."""
    eager = run_probe(model(TINY_RES), quick(steps=3, log_every=1))
    compiled = run_probe(model(TINY_RES), quick(steps=3, log_every=1, compile=True))
    assert compiled.run["compile"] == "default" and compiled.status == "completed"
    assert compiled.norm_steps == [1, 2, 3]
    assert _max_rel(eager.norms, compiled.norms) < 1e-4
    assert compiled.loss == pytest.approx(eager.loss, rel=1e-5)


# ---------------------------------------------------------------- NaN / Inf


def _poison(tr: Trainer, path: str, from_call: int) -> None:
    """Make `path`'s output infinite from its from_call-th forward call on (copies share the counter)."""
    calls = [0]

    def hook(module, inputs, out):
        calls[0] += 1
        return out * float("inf") if calls[0] >= from_call else out

    tr.raw.get_submodule(path).register_forward_hook(hook)


@pytest.mark.parametrize("check_every", [1, 2])
def test_nonfinite_stops_naming_step_and_first_layer(check_every):
    """check_every=1: caught before the optimizer step; 2: found one step late, replayed from the snapshot."""
    tr, result = trainer(TINY_RES, quick(steps=6, check_every=check_every))
    _poison(tr, "stage1.block2.conv1.conv", from_call=3)
    tr.run(result)
    info = result.nonfinite
    assert result.status == "nonfinite"
    assert info["step"] == 3 and info["where"] == "forward"
    assert info["layer"] == "stage1.block2.conv1.conv"
    assert "step 3" in info["message"] and "stage1.block2.conv1.conv" in info["message"]
    assert len(result.loss) == 2 and result.norm_steps == [1, 2]
    json.dumps(result.to_dict(), allow_nan=False)


@pytest.mark.parametrize("check_every", [1, 2])
def test_nonfinite_run_keeps_the_norms_of_its_last_good_step(check_every):
    """Step 3 was measured but is not a logged step: it becomes the run's "end" (not step 1 again)."""
    tr, result = trainer(TINY_RES, quick(steps=8, log_every=5, check_every=check_every))
    _poison(tr, "stage2.block1.conv1.conv", from_call=4)
    tr.run(result)
    assert result.status == "nonfinite" and result.nonfinite["step"] == 4
    assert result.norm_steps == [1, 3] and len(result.norms) == 2
    assert result.final_norms != result.init_norms


def test_nonfinite_input_batch_is_named():
    tr, result = trainer(TINY_RES, quick(steps=4))
    batch = tr.batch

    def bad_batch(step):
        x, y = batch(step)
        if step == 2:
            x = x.clone()
            x[0, 0, 0, 0] = float("nan")
        return x, y

    tr.batch = bad_batch
    tr.run(result)
    assert result.nonfinite["step"] == 2 and result.nonfinite["where"] == "input"


def test_divergence_without_bn_is_reported():
    result = run_probe(model(TINY_NOBN), quick(steps=30, lr=1e4, momentum=0.9, check_every=1))
    assert result.status == "nonfinite"
    info = result.nonfinite
    assert info["step"] == len(result.loss) + 1
    assert info["where"] in ("forward", "loss", "backward")
    paths = {name for name, _ in archc.compile(model(TINY_NOBN)).named_modules()} | {"loss (all layer outputs finite)"}
    assert info["layer"] in paths or info["layer"] in {layer.path for layer in result.layers}


# ---------------------------------------------------------------- Ctrl-C and out of memory


def test_ctrl_c_keeps_what_was_measured():
    tr, result = trainer(TINY_RES, quick(steps=20, log_every=10))
    calls = [0]

    def hook(module, inputs, out):
        calls[0] += 1
        if calls[0] == 6:
            raise KeyboardInterrupt
        return out

    tr.raw.get_submodule("head").register_forward_hook(hook)
    tr.run(result)
    assert result.status == "interrupted"
    assert len(result.loss) == 5 and result.norm_steps == [1, 5]
    assert result.to_dict()["status"] == "interrupted"


def test_out_of_memory_suggests_a_batch(monkeypatch):
    def oom(self, x, y):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(Trainer, "compute", oom)
    with pytest.raises(ArchcRuntimeError, match="--batch 8") as exc:
        run_probe(model(TINY_RES), quick())
    assert exc.value.exit_code == 1 and "out of host memory" in str(exc.value)


def test_out_of_memory_while_moving_model_or_data_is_the_same_clear_error(monkeypatch):
    def oom(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(Trainer, "__init__", oom)
    with pytest.raises(ArchcRuntimeError, match=r"out of host memory probing tinyres at batch 16 .*--batch 8"):
        run_probe(model(TINY_RES), quick())


def test_out_of_memory_in_the_path_gradients_keeps_the_training_results(monkeypatch):
    import archc.probe.paths

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(archc.probe.paths, "measure_path_gradients", oom)
    result = run_probe(model(TINY_RES), quick(steps=2, path_gradients=True))
    assert result.status == "completed" and len(result.loss) == 2
    assert result.path_gradients is None and "out of host memory" in result.path_note


def test_cuda_request_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ArchcError, match="CUDA is not available"):
        run_probe(model(TINY_RES), quick(device="cuda"))
    with pytest.raises(ArchcError, match="CUDA graphs need"):
        resolve_setup(ProbeConfig(cuda_graphs=True), env_info())


# ---------------------------------------------------------------- config and results


@pytest.mark.parametrize("kw, message", [
    ({"steps": 0}, "steps must be a positive integer"), ({"lr": -1.0}, "lr must be a finite number > 0"),
    ({"lr": float("inf")}, "lr must be a finite"), ({"weight_decay": float("nan")}, "weight_decay must be a finite"),
    ({"momentum": 1.0}, "momentum"), ({"device": "tpu"}, "device must be one of"),
    ({"amp": "fp16"}, "amp must be one of"), ({"compile": True, "cuda_graphs": True}, "not both"),
    ({"dtype": "float16"}, "dtype must be one of"), ({"dtype": "float64", "amp": "bf16"}, "choose one"),
])
def test_config_validation(kw, message):
    with pytest.raises(ValueError, match=message):
        ProbeConfig(**kw)


def test_data_notes_and_overrides_reach_the_report():
    ir = model(TINY_RES)
    capped = synthetic(ir.input_shape, ir.classes, 512, 0, max_bytes=64 * 3 * 8 * 8)
    assert len(capped) == 64 and capped.notes
    result = run_probe(ir, quick(steps=1), data=capped)
    assert "synthetic set capped at 64 images" in result.markdown_section()
    with pytest.raises(ValueError, match="'init' or 'end'"):
        result.ratio("middle")

def test_overrides_name_the_run(tmp_path):
    path = tmp_path / "tinyres.yaml"
    path.write_text(TINY_RES)
    named = run_probe(str(path), quick(steps=1), overrides=["classes=5"])
    assert named.label == "tinyres (classes=5)" and named.model["classes"] == 5
    with pytest.raises(ValueError, match="overrides need a spec path"):
        run_probe(archc.loads(TINY_RES), quick(steps=1), overrides=["classes=5"])


def test_result_round_trips_through_json():
    result = run_probe(model(TINY_RES), quick(steps=3, path_gradients=True, path_repeats=1, path_batches=1))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    again = ProbeResult.from_dict(data)
    assert again.to_dict() == result.to_dict()
    md = result.markdown_section()
    assert md.startswith("### tinyres") and "first/last layer gradient norm" in md and "Path gradients" in md


def test_plots_are_written_and_deterministic(tmp_path):
    result = run_probe(model(TINY_RES), quick(steps=3, path_gradients=True, path_repeats=1, path_batches=1))
    first = result.plots(tmp_path / "a")
    second = result.plots(tmp_path / "b", formats=("svg", "png"))
    assert sorted(p.name for p in first) == ["tinyres_gradnorm.svg", "tinyres_paths.svg", "tinyres_training.svg"]
    assert len(second) == 6
    for p in first:
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes()
    with pytest.raises(ValueError, match="plot format"):
        result.plots(tmp_path, formats=("jpg",))


def test_plain_net_has_no_path_gradients_and_says_why():
    result = run_probe(model(TINY_PLAIN), quick(steps=2, path_gradients=True))
    assert result.path_gradients is None and "no residual blocks" in result.path_note


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_zeroed_optimizer_state_steps_like_a_fresh_one(optimizer):
    """CUDA-graph capture warms up, then restores the weights and zeroes the optimizer state in place (the
    graph keeps its addresses); the next step must equal a first step from a fresh optimizer."""
    config = quick(optimizer=optimizer, lr=0.01)
    tr, _ = trainer(TINY_RES, config)
    x, y = tr.batch(1)
    initial = tr.snapshot()
    for _ in range(3):
        tr.compute(x, y)
        tr.opt.step()
    tr.restore(initial, fresh_optimizer=True)
    fresh, _ = trainer(TINY_RES, config)
    for t in (tr, fresh):
        for _ in range(2):
            t.compute(x, y)
            t.opt.step()
    for a, b in zip(tr.raw.state_dict().values(), fresh.raw.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)


def test_first_last_ratio_of_a_dead_net_is_undefined():
    from archc.probe.layers import first_last_ratio

    layers = watched_layers(model(TINY_RES))
    zeros = [0.0] * len(layers)
    assert math.isnan(first_last_ratio(layers, zeros))
    assert first_last_ratio(layers, [1.0] + [0.0] * (len(layers) - 1)) == float("inf")
    assert first_last_ratio(layers, [2.0] + [1.0] * (len(layers) - 1)) == 2.0
