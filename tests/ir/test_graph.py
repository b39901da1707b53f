"""archc.ir.graph: node roles are typed, and still read as plain text in every output."""
from __future__ import annotations

import json

import pytest

import archc
from archc.ir.graph import Role, SeqNode
from archc.summary import summary_rows


def test_a_node_with_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="'stages' is not a valid Role"):
        SeqNode(name="s", path="s", in_shape=(3, 8, 8), out_shape=(3, 8, 8), spec_path=(), role="stages")


def test_roles_compare_hash_and_print_as_their_text() -> None:
    assert Role.BLOCK == "block" and {"block": 1}[Role.BLOCK] == 1
    assert f"{Role.STAGE}" == str(Role.STAGE) == "stage" and f"{Role.HEAD:>6}" == "  head"
    assert json.dumps({"role": Role.AUX}) == '{"role": "aux"}'


@pytest.mark.parametrize("spec, expected", [
    ("resnet50", {"model", "stem", "stage", "block", "unit", "layer", "shortcut", "head"}),
    ("inception_v3", {"model", "stem", "stage", "module", "branch", "concat", "unit", "layer", "head", "aux"}),
    ("se_resnet50", {"model", "stem", "stage", "block", "unit", "layer", "shortcut", "gate", "head"}),
])
def test_lowering_gives_every_node_a_role(spec: str, expected: set[str]) -> None:
    model = archc.lower(archc.load(f"specs/{spec}.yaml"))
    roles = {model.body.role} | {node.role for node in model.walk()}
    assert all(isinstance(role, Role) for role in roles)
    assert roles == expected
    assert [row["kind"] for row in summary_rows(model)][0] == "stem"
