"""Data-parallel probe: 2 CPU processes (gloo) record the same norms and losses as one process."""
from __future__ import annotations

import pytest
import torch
import torch.distributed as dist

import archc
from archc.probe import ProbeConfig, run_probe, spawn_local
from archc.probe.dist import GlooSyncBatchNorm, convert_sync_bn, plain_bn_copy
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
    config = ProbeConfig(steps=4, batch=16, synthetic_size=128, log_every=2, progress=False, path_gradients=False)
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
    config = ProbeConfig(steps=6, batch=16, synthetic_size=128, log_every=1, progress=False, path_gradients=False,
                         dtype="float64")
    single, double = _one_and_two_processes(model(TINY_RES), config)
    assert double.run["dtype"] == single.run["dtype"] == "float64"
    assert double.norm_steps == single.norm_steps == [1, 2, 3, 4, 5, 6]
    for a, b in zip(double.norms, single.norms):
        assert a == pytest.approx(b, rel=1e-10)
    assert double.loss == pytest.approx(single.loss, rel=1e-12)


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
    config = ProbeConfig(steps=1, batch=15, progress=False)
    with pytest.raises(archc.ArchcError, match="not divisible by 2"):
        spawn_local(model(TINY_NOBN), config, nproc=2)
    with pytest.raises(ValueError, match="at least 2"):
        spawn_local(model(TINY_NOBN), config, nproc=1)


def test_spawn_local_reports_data_errors_before_starting(tmp_path):
    from archc.probe import DataError

    config = ProbeConfig(steps=1, batch=8, data=f"cifar10:{tmp_path}", progress=False)
    with pytest.raises(DataError, match="no CIFAR-10 batches"):
        spawn_local(model(TINY_NOBN), config, nproc=2)
