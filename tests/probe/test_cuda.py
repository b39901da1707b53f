"""The probe's CUDA paths: CUDA graphs, torch.compile, bf16 + channels_last, the late NaN check and its replay,
out-of-memory. They need a GPU and run on the lent GPU machine (`bench/probe_gpu.sh check`); on a machine
without CUDA the module is skipped as a whole, and the CPU halves of the same behaviour are tested in
test_probe.py."""
from __future__ import annotations

import math

import pytest
import torch

from archc.errors import ArchcRuntimeError
from archc.probe import ProbeConfig, run_probe
from probe_helpers import TINY_NOBN, TINY_RES, model

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA paths: run on a GPU machine")

# fp32 without autocast, so that eager, graphed and compiled runs can be compared closely
FP32 = dict(device="cuda", data="synthetic", amp="none", channels_last=False, progress=False, path_gradients=False, synthetic_size=256)


def cuda(**kw) -> ProbeConfig:
    return ProbeConfig(**{**FP32, **kw})


def _max_rel(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(p - q) / abs(p) for x, y in zip(a, b) for p, q in zip(x, y))


@pytest.fixture(autouse=True)
def exact_matmuls():
    """TF32 would make every comparison below loose; the probe itself leaves the setting to the user."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def test_cuda_graphs_record_the_same_numbers_as_eager():
    eager = run_probe(model(TINY_RES), cuda(steps=8, batch=32, log_every=1))
    graphed = run_probe(model(TINY_RES), cuda(steps=8, batch=32, log_every=1, cuda_graphs=True))
    assert graphed.run["cuda_graphs"] is True and graphed.status == "completed"
    assert graphed.norm_steps == eager.norm_steps == list(range(1, 9))
    assert _max_rel(eager.norms[:1], graphed.norms[:1]) < 1e-4  # same weights, same batch
    assert _max_rel(eager.norms, graphed.norms) < 1e-3  # the optimizer steps inside the graph, too
    assert graphed.loss == pytest.approx(eager.loss, rel=1e-3)
    assert graphed.acc == pytest.approx(eager.acc, abs=1 / 32 + 1e-9)


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_probe_records_the_same_numbers_as_eager(mode):
    eager = run_probe(model(TINY_RES), cuda(steps=6, batch=32, log_every=1))
    compiled = run_probe(model(TINY_RES), cuda(steps=6, batch=32, log_every=1, compile=True, compile_mode=mode))
    assert compiled.run["compile"] == mode and compiled.status == "completed"
    assert _max_rel(eager.norms, compiled.norms) < 1e-3
    assert compiled.loss == pytest.approx(eager.loss, rel=1e-3)


def test_default_cuda_run_uses_bf16_and_channels_last_and_stays_close_to_fp32():
    reference = run_probe(model(TINY_RES), cuda(steps=1, batch=64))
    default = run_probe(model(TINY_RES), ProbeConfig(device="cuda", data="synthetic", steps=20, batch=64, log_every=5,
                                                     progress=False, path_gradients=False, synthetic_size=256))
    assert default.run["amp"] == "bf16" and default.run["channels_last"] is True
    assert default.run["check_every"] == 5  # one host copy per logged step
    assert default.status == "completed" and len(default.loss) == 20
    assert all(math.isfinite(v) for v in default.loss)
    assert _max_rel(reference.norms[:1], default.norms[:1]) < 0.05  # bf16 keeps about 3 significant digits
    assert torch.backends.cudnn.benchmark is False  # switched on for the run only


@pytest.mark.parametrize("graphs", [False, True])
def test_late_nan_check_replays_to_the_step_it_appeared(graphs):
    """On CUDA the check runs every --log-every steps; a divergence is traced back to its own step."""
    diverging = dict(batch=32, lr=50.0, momentum=0.9, steps=40)
    every_step = run_probe(model(TINY_NOBN), cuda(**diverging, log_every=1, check_every=1))
    assert every_step.status == "nonfinite", "lr 50 without batch norm should diverge"
    bad = every_step.nonfinite["step"]
    late = run_probe(model(TINY_NOBN), cuda(**diverging, log_every=7, cuda_graphs=graphs))
    assert late.run["check_every"] == 7
    assert late.status == "nonfinite" and late.nonfinite["step"] == bad
    assert len(late.loss) == bad - 1  # the measured steps before it are kept
    assert late.loss == pytest.approx(every_step.loss, rel=1e-2)


def test_out_of_memory_names_the_gpu_and_a_smaller_batch():
    device = torch.device("cuda", torch.cuda.current_device())  # torch 2.11 wants an index here
    total = torch.cuda.get_device_properties(device).total_memory
    torch.cuda.empty_cache()
    torch.cuda.set_per_process_memory_fraction(64 * 2**20 / total, device)  # a 64 MiB GPU
    try:
        with pytest.raises(ArchcRuntimeError, match=r"out of GPU memory .* at batch 2048") as info:
            run_probe(model(TINY_RES.replace("size: 8", "size: 64")), cuda(steps=2, batch=2048, synthetic_size=2048, test_fraction=0.0))
        assert "--batch 1024" in str(info.value.expected)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        torch.cuda.empty_cache()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="NCCL across processes needs 2 GPUs")
def test_two_nccl_processes_match_one_process():
    from archc.probe import spawn_local

    config = cuda(steps=4, batch=32, log_every=1)
    single = run_probe(model(TINY_RES), config)
    double = spawn_local(model(TINY_RES), config, nproc=2)
    assert double.run["world_size"] == 2
    assert _max_rel(single.norms[:1], double.norms[:1]) < 1e-3
