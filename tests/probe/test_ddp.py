"""Data-parallel probe: 2 CPU processes (gloo) record the same norms and losses as one process."""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

import archc
from archc.probe import ProbeConfig, run_probe, spawn_local
from archc.probe.collectives import GlooSyncBatchNorm, convert_sync_bn, plain_bn_copy
from probe_helpers import TINY_NOBN, TINY_RES, model


def _one_and_two_processes(ir, config: ProbeConfig) -> tuple:
    """The same probe in this process (one thread, as each of the two workers) and in 2 gloo processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = run_probe(ir, config)
    finally:
        torch.set_num_threads(before)
    return single, spawn_local(ir, config, nproc=2)


@pytest.mark.skipif(not dist.is_available(), reason="torch built without torch.distributed")
def test_two_gloo_processes_match_one_process():
    config = ProbeConfig(steps=4, batch=16, data="synthetic", synthetic_size=128, log_every=2, progress=False, path_gradients=False)
    ir = model(TINY_RES)  # with batch norm: GlooSyncBatchNorm makes the statistics global
    single, double = _one_and_two_processes(ir, config)
    assert double.run["world_size"] == 2 and single.run["world_size"] == 1
    assert double.norm_steps == single.norm_steps == [1, 2, 4]
    for a, b in zip(double.norms, single.norms):
        assert a == pytest.approx(b, rel=2e-4)
    assert double.loss == pytest.approx(single.loss, rel=2e-5)
    assert double.acc == pytest.approx(single.acc)


@pytest.mark.skipif(not dist.is_available(), reason="torch built without torch.distributed")
def test_two_processes_equal_one_to_float64_rounding():
    """In float64 the data-parallel run is the single-process run up to rounding (1e-10, not 2e-4): the float32
    gap of the test above is rounding, not a difference in what is computed."""
    config = ProbeConfig(steps=6, batch=16, data="synthetic", synthetic_size=128, log_every=1, progress=False, path_gradients=False,
                         dtype="float64")
    single, double = _one_and_two_processes(model(TINY_RES), config)
    assert double.run["dtype"] == single.run["dtype"] == "float64"
    assert double.norm_steps == single.norm_steps == [1, 2, 3, 4, 5, 6]
    for a, b in zip(double.norms, single.norms):
        assert a == pytest.approx(b, rel=1e-10)
    assert double.loss == pytest.approx(single.loss, rel=1e-12)


def test_an_error_inside_the_workers_reaches_the_caller_as_itself():
    """Data handed in by the caller is checked in the workers: their DataError comes back, not a traceback."""
    from archc.probe import DataError
    from archc.probe.data import synthetic

    wrong = synthetic((3, 16, 16), 4, 64, 0)  # the spec takes 8x8 images
    config = ProbeConfig(steps=1, batch=8, data="synthetic", progress=False, path_gradients=False)
    with pytest.raises(DataError, match="16x16"):
        spawn_local(model(TINY_RES), config, nproc=2, data=wrong)


@pytest.mark.parametrize("whole_group", [False, True], ids=["kill-launcher", "ctrl-c-at-terminal"])
def test_ctrl_c_stops_both_workers_at_one_step_and_keeps_the_measurements(tmp_path, whole_group):
    """SIGINT to `archc probe --nproc 2` alone, or to its whole process group as a terminal's Ctrl-C does: the
    workers stop together at a check (they never get the signal), rank 0's measurements are written, exit 130."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    spec = tmp_path / "tinyres.yaml"
    spec.write_text(TINY_RES)
    err = tmp_path / "stderr.txt"
    cmd = [sys.executable, "-m", "archc", "probe", str(spec), "--nproc", "2", "--steps", "100000", "--batch", "8",
           "--data", "synthetic", "--synthetic-size", "64", "--no-paths", "-o", str(tmp_path / "out")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(err, "w") as handle:
        # a shell's background job ignores SIGINT and its children inherit that: start with the default
        proc = subprocess.Popen(cmd, stderr=handle, stdout=subprocess.PIPE, text=True, env=env,
                                start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        try:
            deadline = time.monotonic() + 120
            while "/100000" not in err.read_text() and time.monotonic() < deadline:  # step 1 is measured
                time.sleep(0.2)
            time.sleep(1.0)
            if whole_group:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.send_signal(signal.SIGINT)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err.read_text()[-2000:]
    result = json.loads((tmp_path / "out" / "probe.json").read_text())["results"][0]
    assert result["status"] == "interrupted" and len(result["loss"]) >= 1
    assert result["norm_steps"][-1] == len(result["loss"])  # the last measured step's norms are kept
    assert "interrupted" in out


def test_sync_bn_conversion_round_trip():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4, momentum=0.2))
    net[1].running_mean.fill_(0.5)
    converted = convert_sync_bn(net, "cpu")
    assert isinstance(converted[1], GlooSyncBatchNorm) and converted[1].momentum == 0.2
    assert converted[1].running_mean.tolist() == [0.5] * 4
    back = plain_bn_copy(converted)
    assert type(back[1]) is torch.nn.BatchNorm2d and back[1].running_mean.tolist() == [0.5] * 4
    x = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(back.train()(x), converted.train()(x))  # one process: plain batch norm


def test_spawn_local_checks_its_arguments():
    config = ProbeConfig(steps=1, batch=15, data="synthetic", progress=False)
    with pytest.raises(archc.ArchcError, match="not divisible by 2"):
        spawn_local(model(TINY_NOBN), config, nproc=2)
    with pytest.raises(ValueError, match="at least 2"):
        spawn_local(model(TINY_NOBN), config, nproc=1)


def test_spawn_local_reports_data_errors_before_starting(tmp_path):
    from archc.probe import DataError

    config = ProbeConfig(steps=1, batch=8, data=f"cifar10:{tmp_path}", progress=False)
    with pytest.raises(DataError, match="no CIFAR-10 batches"):
        spawn_local(model(TINY_NOBN), config, nproc=2)
