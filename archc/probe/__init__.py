"""The training probe: a short seeded training run that records the gradient norm of every conv/fc weight
(grouped by block and stage), loss and accuracy, and, for residual nets, path-length gradients.

    from archc.probe import ProbeConfig, run_probe
    result = run_probe("specs/cifar/plain56.yaml", ProbeConfig(steps=200, batch=128))
    result.to_dict(); result.markdown_section(); result.plots("reports/probe")
"""
from archc.probe.config import ProbeConfig
from archc.probe.data import DataError, ProbeData
from archc.probe.sources import load_data
from archc.probe.launch import spawn_local
from archc.probe.result import ProbeResult
from archc.probe.train import run_probe

__all__ = ["ProbeConfig", "ProbeResult", "ProbeData", "DataError", "load_data", "run_probe", "spawn_local"]
