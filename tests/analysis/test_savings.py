"""Bottleneck savings: hand formulas k*k*C_in*C_out*H*W, the classic inception example, block rewrites."""
import archc
from archc.analysis import bottleneck_savings, mac_formula

# one inception (3a) module on GoogLeNet's 28x28x192 map, as in the paper's Table 1
INCEPTION_3A = """
archc: 1
name: incep3a
input: {channels: 192, size: 28}
classes: 10
defaults: {norm: none, act: relu}
stages:
  - inception:
      modules:
        3a: [64, 96, 128, 16, 32, 32]
"""


def _module(text=INCEPTION_3A):
    return bottleneck_savings(archc.lower(archc.loads(text)))["inception"]


def test_classic_5x5_example_exact():
    """28x28x192 -> 5x5 conv, 32: 120,422,400 multiplies naive, 12,443,648 with a 16-channel 1x1 reduction."""
    branch = _module()["modules"][0]["branches"][2]
    assert branch["removed"] == "1x1 reduction"
    assert branch["naive"]["macs"] == 5 * 5 * 192 * 32 * 28 * 28 == 120_422_400
    assert branch["specified"]["macs"] == 1 * 1 * 192 * 16 * 28 * 28 + 5 * 5 * 16 * 32 * 28 * 28 == 12_443_648
    assert branch["naive"]["convs"][0]["formula"] == "5*5*192*32*28*28 = 120,422,400"
    assert [c["formula"] for c in branch["specified"]["convs"]] == ["1*1*192*16*28*28 = 2,408,448",
                                                                    "5*5*16*32*28*28 = 10,035,200"]


def test_whole_module_by_hand():
    m = _module()["modules"][0]
    hw = 28 * 28
    spec = (192 * 64 + 192 * 96 + 9 * 96 * 128 + 192 * 16 + 25 * 16 * 32 + 192 * 32) * hw
    naive = (192 * 64 + 9 * 192 * 128 + 25 * 192 * 32) * hw  # pool branch without projection: 0 MACs
    assert m["specified"]["macs"] == spec
    assert m["naive"]["macs"] == naive
    # params: weights + biases (no BN in this spec)
    spec_params = (192 * 64 + 64) + (192 * 96 + 96 + 9 * 96 * 128 + 128) + (192 * 16 + 16 + 25 * 16 * 32 + 32) + (
        192 * 32 + 32)
    naive_params = (192 * 64 + 64) + (9 * 192 * 128 + 128) + (25 * 192 * 32 + 32)
    assert (m["specified"]["params"], m["naive"]["params"]) == (spec_params, naive_params)
    assert m["output_channels"] == 64 + 128 + 32 + 32
    assert m["naive_output_channels"] == 64 + 128 + 32 + 192  # the pool branch passes all 192 channels
    assert m["branches"][3]["removed"] == "1x1 pool projection"
    assert m["branches"][0]["removed"] == "nothing"


def test_googlenet_sums_over_all_nine_modules():
    inc = bottleneck_savings(archc.lower("specs/googlenet.yaml"))["inception"]
    assert len(inc["modules"]) == 9
    assert inc["total"]["specified"]["macs"] == sum(m["specified"]["macs"] for m in inc["modules"])
    assert inc["total"]["naive"]["macs"] == sum(m["naive"]["macs"] for m in inc["modules"])
    first = inc["modules"][0]
    assert first["module"].endswith("inception3a")
    assert first["branches"][2]["naive"]["macs"] == 120_422_400
    assert first["branches"][2]["specified"]["macs"] == 12_443_648
    assert inc["total"]["macs_factor"] > 2


def test_torchvision_googlenet_3x3_branch_is_recognised_too():
    """torchvision's "5x5" branch is a 3x3 after a 1x1 reduction; BN params move with the conv."""
    inc = bottleneck_savings(archc.lower("specs/googlenet_tv.yaml"))["inception"]
    b = inc["modules"][0]["branches"][2]
    assert b["removed"] == "1x1 reduction"
    assert b["naive"]["macs"] == 3 * 3 * 192 * 32 * 28 * 28


def test_resnet50_bottleneck_vs_basic_by_hand():
    res = bottleneck_savings(archc.lower("specs/resnet50.yaml"))["residual"]
    stage1 = res["stages"][0]
    assert (stage1["from"], stage1["to"]) == ("bottleneck", "basic")
    block = stage1["blocks"][1]  # 256 -> 256 at 56x56
    hw = 56 * 56
    assert block["specified"]["macs"] == (256 * 64 + 9 * 64 * 64 + 64 * 256) * hw
    assert block["counterpart"]["macs"] == 2 * 9 * 256 * 256 * hw
    assert [c["formula"].split(" = ")[0] for c in block["counterpart"]["convs"]] == ["3*3*256*256*56*56"] * 2
    net = res["network"]
    assert net["specified"]["macs"] == archc.lower("specs/resnet50.yaml").cost.macs
    assert net["counterpart"]["macs"] == sum(s["counterpart"]["macs"] for s in res["stages"]) + (
        net["specified"]["macs"] - sum(s["specified"]["macs"] for s in res["stages"]))
    assert net["macs_factor"] > 10


def test_basic_blocks_get_a_bottleneck_counterpart():
    res = bottleneck_savings(archc.lower("specs/resnet34.yaml"))["residual"]
    block = res["stages"][0]["blocks"][1]  # 64 -> 64 at 56x56; bottleneck middle 16
    hw = 56 * 56
    assert block["specified"]["macs"] == 2 * 9 * 64 * 64 * hw
    assert block["counterpart"]["macs"] == (64 * 16 + 9 * 16 * 16 + 16 * 64) * hw
    # the original spec is untouched by the rewrite
    assert archc.lower("specs/resnet34.yaml").cost.macs == res["network"]["specified"]["macs"]


def test_no_blocks_no_inception_nothing_to_rewrite():
    out = bottleneck_savings(archc.lower("specs/vgg19.yaml"))
    assert out["inception"]["modules"] == []
    assert out["residual"]["stages"] == []


def test_a_counterpart_that_is_no_valid_net_is_reported_not_hidden():
    """ResNet-20 with group norm (8 groups): the bottleneck counterpart's 4-channel middle cannot take 8 groups;
    the report says so instead of 'nothing to rewrite'."""
    from archc.analysis import ReportOptions, analyze
    from archc.analysis.markdown import render_report

    model = archc.lower("specs/cifar/resnet20.yaml", overrides=["defaults.norm=groupnorm", "defaults.groupnorm={groups: 8}"])
    res = bottleneck_savings(model)["residual"]
    assert res["stages"] == [] and "groupnorm groups=8 does not divide the 4 channels" in res["note"]
    text = render_report(analyze(model, ReportOptions(fvcore=False, init=False)), [])
    assert "counterpart not computed: groupnorm groups=8" in text
    assert "nothing to rewrite" not in text


def test_mac_formula_on_an_op():
    model = archc.lower("specs/resnet18.yaml")
    stem = model.find("stem.conv1.conv")
    assert mac_formula(stem) == f"7*7*3*64*112*112 = {7 * 7 * 3 * 64 * 112 * 112:,}"
    assert mac_formula(model.find("head.fc1")) == f"512*1000 = {512 * 1000:,}"
    assert mac_formula(model.find("stem.conv1.bn")) is None
