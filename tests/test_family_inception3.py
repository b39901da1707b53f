"""Inception-v3 (Szegedy et al. 2016): nested branches in the spec language, the bundled `inception_v3` equal to
torchvision's, and what its 1x1 reductions and factorised convolutions save."""
from pathlib import Path

import pytest
import torch

import archc
from model_helpers import generated_and_compiled
from archc.analysis.factorisation import factorisation_savings
from archc.analysis.paths import path_counts
from archc.analysis.savings import bottleneck_savings, inception_savings
from archc.ir.graph import ConcatNode, SeqNode
from archc.render import dot_source
from archc.weights import load_torchvision_weights
from codegen_helpers import import_generated
from render_helpers import nodes
from model_helpers import TOLERANCE, max_diff, torchvision_model, train_outputs

SPEC = Path(__file__).resolve().parent.parent / "specs" / "inception_v3.yaml"

# torchvision's Inception_V3_Weights.IMAGENET1K_V1 metadata: num_params (aux_logits=True), _ops (GFLOPS = GMACs)
TV_PARAMS_WITH_AUX = 27_161_264
TV_GMACS = 5.713
# torchvision's InceptionAux, counted by hand: conv0 1x1 768->128 + BN, conv1 5x5 128->768 + BN, fc 768->1000
AUX_PARAMS = (768 * 128 + 2 * 128) + (5 * 5 * 128 * 768 + 2 * 768) + (768 * 1000 + 1000)

NESTED = """
name: nested
input: {channels: 8, size: 9}
classes: 5
stages:
  - inception:
      modules:
        1a:
          branches:
            - [conv: {out: 4, kernel: 1}]
            - - conv: {out: 6, kernel: 1}
              - branches:
                  - [conv: {out: 3, kernel: [1, 3]}]
                  - - conv: {out: 2, kernel: [3, 1]}
                    - branches:
                        - [conv: {out: 1, kernel: 1}]
                        - [maxpool: {kernel: 3, stride: 1, padding: 1}]
            - [avgpool: {kernel: 3, stride: 1, padding: 1}, conv: {out: 2, kernel: 1}]
"""


# ---------------------------------------------------------------- nested branches in the language


def test_nested_branches_lower_to_a_concat_inside_the_branch():
    model = archc.lower(archc.loads(NESTED))
    module = model.find("stage1.inception1a")
    assert isinstance(module, ConcatNode) and module.role == "module"
    branch2 = module.branches[1]
    assert isinstance(branch2, SeqNode) and [c.name for c in branch2.items] == ["conv1", "concat1"]
    inner = branch2.items[1]
    assert isinstance(inner, ConcatNode) and inner.role == "concat" and inner.path == "stage1.inception1a.branch2.concat1"
    assert [b.path for b in inner.branches] == ["stage1.inception1a.branch2.concat1.branch1",
                                                "stage1.inception1a.branch2.concat1.branch2"]
    # channels by hand: deepest 1 + 2 (the max pool keeps the 3x1 conv's 2) = 3; inner 3 + 3 = 6; module 4 + 6 + 2
    deepest = model.find("stage1.inception1a.branch2.concat1.branch2.concat1")
    assert deepest.in_shape == (2, 9, 9) and deepest.out_shape == (3, 9, 9)
    assert inner.out_shape == (6, 9, 9) and module.out_shape == (12, 9, 9)


def test_nested_branches_build_and_codegen_give_identical_outputs(tmp_path):
    ir = archc.lower(archc.loads(NESTED))
    net = archc.compile(ir, seed=0).eval()
    inner = net.get_submodule("stage1.inception1a.branch2.concat1")
    assert list(inner.branch_names) == ["branch1", "branch2"]
    x = torch.randn(2, 8, 9, 9, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = net(x)
        # an independent forward of the module: its branches written out by hand with the built layers
        m = net.get_submodule("stage1.inception1a")
        b2 = m.branch2.conv1(x)
        deep = m.branch2.concat1.branch2.conv1(b2)
        deep = torch.cat([m.branch2.concat1.branch2.concat1.branch1(deep),
                          torch.nn.functional.max_pool2d(deep, 3, 1, 1)], 1)
        by_hand = torch.cat([m.branch1(x), torch.cat([m.branch2.concat1.branch1(b2), deep], 1), m.branch3(x)], 1)
        assert torch.equal(m(x), by_hand)
    module = import_generated(archc.generate_source(ir), tmp_path, "gen_nested")
    generated = getattr(module, ir.class_name)()
    generated.load_state_dict(net.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(generated.eval()(x), y)


def test_nested_branches_need_two_sub_branches_and_equal_sizes():
    one = NESTED.replace("                        - [maxpool: {kernel: 3, stride: 1, padding: 1}]\n", "")
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(one))
    assert "branches" in info.value.format() and "at least 2" in info.value.format()
    strided = NESTED.replace("[conv: {out: 3, kernel: [1, 3]}]", "[conv: {out: 3, kernel: [1, 3], stride: 2}]")
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(strided))
    message = info.value.format()
    assert "same spatial size" in message and "3 x 5 x 5" in message and "branch2.concat1" not in message
    assert ".branches[1][1].branches" in message  # located at the nested item


def test_inplace_first_op_of_a_nested_sub_branch_is_refused():
    text = NESTED.replace("- [conv: {out: 1, kernel: 1}]", "- [relu: {inplace: true}, conv: {out: 1, kernel: 1}]")
    with pytest.raises(archc.SpecError, match="in-place relu here would overwrite the input it shares"):
        archc.lower(archc.loads(text))


# ---------------------------------------------------------------- the bundled spec equals torchvision's


def test_params_and_macs_equal_torchvisions_metadata():
    model = archc.lower(SPEC)
    assert model.cost_with_aux().params == TV_PARAMS_WITH_AUX
    assert model.cost.params == TV_PARAMS_WITH_AUX - AUX_PARAMS == 23_834_568
    assert round(model.cost.macs / 1e9, 3) == TV_GMACS
    assert model.spec.defaults.bn_eps == 0.001
    assert [(a.attach, a.loss_weight) for a in model.aux_heads] == [("mixed6.Mixed_6e", 0.4)]
    # grid sizes of the paper's Table 1 (torchvision's comments): 35, 17, 8
    assert [s.out_shape for s in model.stages[1:4]] == [(288, 35, 35), (768, 17, 17), (2048, 8, 8)]


@pytest.fixture(scope="module")
def pair_of_nets():
    tv = torchvision_model("inception_v3", aux_logits=True, transform_input=False, init_weights=False)
    net = archc.compile(SPEC)
    pairs = load_torchvision_weights(net, tv)
    return net, tv, pairs


def test_every_torchvision_layer_has_its_place(pair_of_nets):
    net, tv, pairs = pair_of_nets
    stateful = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.Linear)
    assert len(pairs) == sum(1 for m in tv.modules() if isinstance(m, stateful)) == 194
    assert ("mixed7.Mixed_7b.branch2.concat1.branch2.conv1.conv", "Mixed_7b.branch3x3_2b.conv") in pairs
    assert ("mixed6.Mixed_6a.branch2.conv3.bn", "Mixed_6a.branch3x3dbl_3.bn") in pairs
    assert ("AuxLogits.conv1.conv", "AuxLogits.conv1.conv") in pairs and ("head.fc", "fc") in pairs


def test_eval_outputs_equal_at_the_smallest_input(pair_of_nets):
    net, tv, _ = pair_of_nets
    x = torch.randn(2, 3, 75, 75, generator=torch.Generator().manual_seed(0))  # torchvision's min_size
    with torch.no_grad():
        diff = max_diff(net.eval()(x), tv.eval()(x))
    print(f"inception_v3 eval 75x75: max abs difference {diff:.3g}")
    assert diff < TOLERANCE


def test_train_outputs_and_aux_logits_equal_at_299(pair_of_nets):
    """The aux head's 5x5 conv needs Mixed_6e at 17x17: the full 299 input. Batch statistics, one dropout
    layer: the same seed gives the same mask only if both nets run the same random layers in the same order."""
    net, tv, _ = pair_of_nets
    x = torch.randn(2, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    (logits, aux), out = train_outputs(net, tv, x)
    main, side = max_diff(logits, out.logits), max_diff(aux["AuxLogits"], out.aux_logits)
    print(f"inception_v3 train 299x299: max abs difference logits {main:.3g}, aux logits {side:.3g}")
    assert main < TOLERANCE and side < TOLERANCE
    assert out.aux_logits.abs().max() > 0.1  # not trivially zero


def test_generated_source_gives_identical_outputs(tmp_path):
    ir = archc.lower(archc.load(SPEC, ["aux_heads=[]", "input.size=75"]))
    x = torch.randn(1, 3, 75, 75, generator=torch.Generator().manual_seed(0))
    generated, compiled = generated_and_compiled(ir, archc.generate_source(ir), tmp_path, "gen_inception_v3", x)
    assert torch.equal(generated, compiled)


# ---------------------------------------------------------------- analyses


def test_path_counts_multiply_the_branches_of_each_module():
    """Paths through a module = its branches, a nested concat adding one per sub-branch: A 4, B 3, C 4, D 3,
    E 1 + 2 + 2 + 1 = 6. Main path: A^3 B C^4 D E^2; the aux head on Mixed_6e: A^3 B C^4."""
    r = path_counts(archc.lower(SPEC))
    assert r.layers["output"].total == 4**3 * 3 * 4**4 * 3 * 6**2 == 5_308_416
    assert r.layers["AuxLogits.output"].total == 4**3 * 3 * 4**4
    assert r.blocks["output"].as_dict() == {11: 5_308_416}  # 11 modules on every path; a nested concat is no block
    # longest path in weighted layers, by hand: stem 5, A 3 x3, B 3, C 5 x4, D 4, E 3 x2, fc 1 = 48
    assert max(r.layers["output"].as_dict()) == 48


def test_one_by_one_reduction_savings_by_hand_for_mixed_7b():
    """Mixed_7b (input 1280 x 8 x 8), branch2: 1x1 to 384, then a 1x3 and a 3x1 conv both read it. Without the
    1x1 both read the 1280-channel input."""
    model = archc.lower(SPEC)
    module = next(m for m in inception_savings(model)["modules"] if m["module"] == "mixed7.Mixed_7b")
    b2 = next(b for b in module["branches"] if b["branch"].endswith("branch2"))
    hw = 8 * 8
    assert b2["removed"] == "1x1 reduction"
    assert b2["specified"]["macs"] == 1280 * 384 * hw + 2 * 3 * 384 * 384 * hw == 88_080_384
    assert b2["naive"]["macs"] == 2 * 3 * 1280 * 384 * hw == 188_743_680
    # nested concats are part of their module, not modules of their own
    assert len(inception_savings(model)["modules"]) == 11


def test_factorisation_savings_by_hand():
    rows = factorisation_savings(archc.lower(SPEC))["factorisations"]
    by = {(r["branch"], r["factorised"]): r for r in rows}
    # Mixed_6b branch2 (17 x 17): 1x7 128->128, 7x1 128->192 for one 7x7 128->192 (the paper's Fig. 6)
    r = by[("mixed6.Mixed_6b.branch2", "1x7 + 7x1")]
    hw = 17 * 17
    assert r["kind"] == "asymmetric" and r["replaces"] == "7x7"
    assert r["specified"]["macs"] == (7 * 128 * 128 + 7 * 128 * 192) * hw == 82_862_080
    assert r["dense"]["macs"] == 49 * 128 * 192 * hw and r["dense"]["params"] == 49 * 128 * 192
    # Mixed_5b branch3 (35 x 35): 3x3 64->96, 3x3 96->96 for one 5x5 64->96 (Fig. 5)
    r = by[("mixed5.Mixed_5b.branch3", "3x3 + 3x3")]
    assert r["replaces"] == "5x5" and r["specified"]["params"] == 9 * 64 * 96 + 9 * 96 * 96
    assert r["dense"]["macs"] == 25 * 64 * 96 * 35 * 35
    # Mixed_6a (grid reduction): 3x3, 3x3/2 for a 5x5/2 on the 17 x 17 output: here the pair costs more
    r = by[("mixed6.Mixed_6a.branch2", "3x3 + 3x3")]
    assert r["replaces"] == "5x5/2" and r["dense"]["macs"] == 25 * 64 * 96 * 17 * 17 < r["specified"]["macs"]
    # Mixed_7b's expanded filter bank (8 x 8): 1x3 | 3x1, 384 -> 384 each, for one 3x3 384 -> 768 (Fig. 7)
    r = by[("mixed7.Mixed_7b.branch2.concat1", "1x3 | 3x1")]
    assert r["kind"] == "parallel" and r["macs_factor"] == 3.0
    assert r["dense"]["macs"] == 9 * 384 * 768 * 64
    # the 7x1,1x7,7x1,1x7 chains pair up twice per C module (6b-6e), once in 6b-6e's branch2 and in 7a
    kinds = [r["kind"] for r in rows]
    assert kinds.count("asymmetric") == 4 * 3 + 1 and kinds.count("parallel") == 4 and kinds.count("stacked") == 4


def test_no_factorisation_section_where_nothing_is_factorised():
    assert "factorisation" not in bottleneck_savings(archc.lower("specs/googlenet_tv.yaml"))
    assert "factorisation" not in bottleneck_savings(archc.lower("specs/resnet18.yaml"))  # 3x3, 3x3 is no 5x5 here
    assert "factorisation" in bottleneck_savings(archc.lower(SPEC))


def test_stage_diagram_draws_the_nested_pair_side_by_side():
    model = archc.lower(SPEC)
    cell = nodes(dot_source(model, "stage"))["mixed7.Mixed_7b"]
    assert "1x3 conv, 384" in cell and "3x1 conv, 384" in cell
    assert cell.count("<TD BORDER") == 4 + 2 * 2  # four branches, two of them split in two
    block = dot_source(model, "block")
    assert "mixed7.Mixed_7b.branch2.concat1.concat" in block and "concat1 · 2 branches" in block


def test_an_error_inside_a_branch_names_no_union_member_tag():
    """A module is six numbers or {branches: ...}: an error in a branch must not also report the other form."""
    text = NESTED.replace("- [conv: {out: 4, kernel: 1}]", "- [conv: {outt: 4, kernel: 1}]")
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(text))
    message = info.value.format()
    assert "unknown key 'outt'" in message and "list[" not in message and "constrained" not in message
