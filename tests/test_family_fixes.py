"""Defects a new user found in the families after ResNet, each pinned: the init study of pre-activation nets
(in-place ReLUs after removed norms), an empty inception branch drawn at stage level, the naive width of a
branch that ends in a nested concat, pre-activation blocks without batch norm."""
from __future__ import annotations

import archc
from archc.analysis.initprop import InitConfig, init_propagation
from archc.analysis.savings import inception_savings
from archc.render import dot_source

PREACT = """archc: 1
name: pre_net
input: {{channels: 3, size: 16}}
classes: 10
stages:
  - residual: {{block: preact_basic, width: 16, blocks: 2{norm}}}
head: [{head}gap, fc]
"""


def _study(text: str) -> dict:
    return init_propagation(archc.lower(archc.loads(text)), InitConfig(schemes=("kaiming_fan_in",), batch=2))


def test_removing_the_norms_of_a_preact_net_equals_the_same_net_built_without_them():
    """Same weights (BN init draws no random numbers): the study with its norm layers swapped out must give
    the numbers of the spec written with `norm: none`, which the in-place ReLUs used to break."""
    with_bn = _study(PREACT.format(norm="", head="batchnorm, relu, "))["results"]["kaiming_fan_in"]
    without = _study(PREACT.format(norm=", norm: none", head="relu, "))["results"]["kaiming_fan_in"]
    assert with_bn["norm layers removed"] == without["as specified"]


def test_an_empty_branch_is_drawn_as_identity_at_stage_level():
    spec = archc.loads("""archc: 1
name: e
input: {channels: 8, size: 8}
stages:
  - inception: {modules: {a: {branches: [[], [conv: {out: 4, kernel: 1}]]}}}
head: []
""")
    source = dot_source(archc.lower(spec), "stage")
    assert '<FONT POINT-SIZE="8">identity</FONT>' in source and '<FONT POINT-SIZE="8"></FONT>' not in source


def test_a_branch_ending_in_a_nested_concat_keeps_its_width_without_reductions():
    modules = {m["module"].rsplit(".", 1)[-1]: m for m in inception_savings(archc.lower("specs/inception_v3.yaml"))[
        "modules"]}
    assert modules["Mixed_7b"]["naive_output_channels"] == 320 + 768 + 768 + 1280  # the pool projection removed
    assert modules["Mixed_7c"]["naive_output_channels"] == 320 + 768 + 768 + 2048
