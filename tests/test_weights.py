"""torchvision's weights load into archc-compiled modules and give the same outputs (archc.weights)."""
from pathlib import Path

import pytest
import torch

import archc
from model_helpers import TOLERANCE, max_diff, torchvision_model, train_outputs
from archc.weights import from_torchvision, load_torchvision_weights

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def googlenet_tv(aux: bool, dropout: float = 0.2, dropout_aux: float = 0.7) -> torch.nn.Module:
    return torchvision_model("googlenet", aux_logits=aux, init_weights=True, transform_input=False,
                             dropout=dropout, dropout_aux=dropout_aux)


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"])
def test_resnet_outputs_equal_after_loading(name):
    tv = torchvision_model(name).eval()
    net = archc.compile(SPECS / f"{name}.yaml").eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = net(x)
        pairs = load_torchvision_weights(net, tv)
        ours, theirs = net(x), tv(x)
    assert max_diff(before, theirs) > 1e-2  # the two nets really started different
    assert max_diff(ours, theirs) < TOLERANCE
    assert len(pairs) == sum(1 for m in tv.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d,
                                                                        torch.nn.Linear)))
    # every tensor of torchvision's state_dict found its place: the state_dicts hold the same values
    assert sorted(t.numel() for t in net.state_dict().values()) == sorted(t.numel() for t in tv.state_dict().values())
    ours_sum = sum(t.double().sum().item() for t in net.state_dict().values())
    theirs_sum = sum(t.double().sum().item() for t in tv.state_dict().values())
    assert ours_sum == pytest.approx(theirs_sum, rel=1e-9)


def test_googlenet_tv_without_aux_heads_eval_outputs_equal():
    tv = googlenet_tv(aux=False).eval()
    net = archc.compile(archc.load(SPECS / "googlenet_tv.yaml", ["aux_heads=[]"])).eval()
    load_torchvision_weights(net, tv)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert max_diff(net(x), tv(x)) < TOLERANCE
    assert not net.aux_loss_weights


def test_googlenet_tv_with_aux_heads_eval_and_train_outputs_equal():
    tv = googlenet_tv(aux=True)
    net = archc.compile(SPECS / "googlenet_tv.yaml")
    pairs = load_torchvision_weights(net, tv)
    assert ("aux1.fc2", "aux1.fc2") in pairs and ("head.fc", "fc") in pairs
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert max_diff(net.eval()(x), tv.eval()(x)) < TOLERANCE
    (logits, aux), out = train_outputs(net, tv, x)  # train mode: batch statistics, three dropout layers
    assert set(aux) == {"aux1", "aux2"}
    assert max_diff(logits, out.logits) < TOLERANCE
    assert max_diff(aux["aux1"], out.aux_logits1) < TOLERANCE
    assert max_diff(aux["aux2"], out.aux_logits2) < TOLERANCE
    assert net.aux_loss_weights == {"aux1": 0.3, "aux2": 0.3}


def test_googlenet_tv_train_outputs_equal_without_dropout():
    """With dropout off, train-mode outputs agree whatever the random streams."""
    tv = googlenet_tv(aux=True, dropout=0.0, dropout_aux=0.0).train()
    overrides = ["head.2.dropout.p=0", "aux_heads.0.layers.5.dropout.p=0", "aux_heads.1.layers.5.dropout.p=0"]
    net = archc.compile(archc.load(SPECS / "googlenet_tv.yaml", overrides)).train()
    load_torchvision_weights(net, tv)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.manual_seed(1)
        logits, aux = net(x)
        torch.manual_seed(2)
        out = tv(x)
    assert max_diff(logits, out.logits) < TOLERANCE
    assert max_diff(aux["aux1"], out.aux_logits1) < TOLERANCE
    assert max_diff(aux["aux2"], out.aux_logits2) < TOLERANCE


def test_from_torchvision_builds_both_and_loads():
    net, tv = from_torchvision("resnet18", seed=3)
    assert not net.training and not tv.training
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert max_diff(net(x), tv(x)) < TOLERANCE
    net, tv = from_torchvision("googlenet_tv", overrides=["classes=10"])
    assert tv.fc.out_features == 10 and tv.aux1 is not None
    with torch.no_grad():
        assert max_diff(net(x), tv(x)) < TOLERANCE


def test_resnet18_weights_into_resnet34_is_rejected_and_nothing_copied():
    net = archc.compile(SPECS / "resnet34.yaml")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(ValueError, match=r"do not match.*stage1\.block3\.conv1\.conv.*layer2\.0\.conv1.*shapes differ"):
        load_torchvision_weights(net, torchvision_model("resnet18"))
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_layer_count_mismatch_is_rejected():
    tv = torchvision_model("resnet18")
    tv.extra = torch.nn.Linear(1000, 10)  # one more weighted layer after everything archc has
    # resnet18: stem conv + BN, 8 blocks of 2 x (conv + BN), 3 projections (conv + BN), fc = 41
    with pytest.raises(ValueError, match=r"archc has 41 layers with weights, torchvision 42; "
                                         r"torchvision goes on with extra \(Linear 1000->10\)"):
        load_torchvision_weights(archc.compile(SPECS / "resnet18.yaml"), tv)


def test_aux_head_count_mismatch_is_rejected():
    net = archc.compile(SPECS / "googlenet_tv.yaml")
    with pytest.raises(ValueError, match="2 aux heads.*torchvision 0"):
        load_torchvision_weights(net, googlenet_tv(aux=False))


def test_settings_mismatch_is_rejected_unless_allowed():
    """torchvision's v1.5 ResNet-50 has the paper v1's shapes but strides on the 3x3."""
    net = archc.compile(SPECS / "resnet50_v1.yaml")
    tv = torchvision_model("resnet50")
    with pytest.raises(ValueError, match="different settings"):
        load_torchvision_weights(net, tv)
    load_torchvision_weights(net, tv, check_config=False)
    assert torch.equal(net.stage2.block1.conv1.conv.weight, tv.layer2[0].conv1.weight)


def test_paper_googlenet_does_not_take_torchvision_weights():
    net = archc.compile(SPECS / "googlenet.yaml")
    with pytest.raises(ValueError, match="stem.conv1.conv"):
        load_torchvision_weights(net, googlenet_tv(aux=True))
