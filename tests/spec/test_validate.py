"""archc.spec.validate: a validated Spec carries its document and the limits it was loaded under."""
from __future__ import annotations

import dataclasses

import pytest

import archc
from archc.spec.yamlload import DEFAULT_LIMITS


def test_a_loaded_spec_keeps_its_document_and_limits_and_lowering_uses_them():
    tight = dataclasses.replace(DEFAULT_LIMITS, max_total_params=1_000)
    spec = archc.load("specs/cifar/resnet20.yaml", limits=tight)
    assert spec.limits is tight and spec.document is not None and spec.document.data["name"] == "resnet20"
    with pytest.raises(archc.SpecError, match="at most 1,000"):
        archc.lower(spec)  # the limits travel with the spec: no second place to pass them
    loose = archc.loads("name: one\nstages: [conv: {out: 4}]\n")
    assert loose.limits is DEFAULT_LIMITS and loose.document.file == "<string>"
    assert archc.lower(loose).cost.params > 0
