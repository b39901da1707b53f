"""Published parameter counts and GMACs of torchvision's ResNets (DESIGN.md), from the analytic IR."""
import pytest

import archc

TORCHVISION = {  # params, GMACs @224 (torchvision weights metadata)
    "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664),
    "resnet50": (25_557_032, 4.089),
    "resnet101": (44_549_160, 7.801),
    "resnet152": (60_192_808, 11.514),
}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_resnet_params_and_macs_match_torchvision(name):
    model = archc.lower(f"specs/{name}.yaml")
    params, gmacs = TORCHVISION[name]
    assert model.cost.params == params
    assert round(model.cost.macs / 1e9, 3) == gmacs


def test_the_api_takes_bundled_names_like_the_cli():
    assert archc.lower("resnet18").cost.params == 11_689_512  # torchvision's resnet18
    assert archc.lower("cifar/resnet56").name == "resnet56"
    with pytest.raises(archc.SpecError, match="no such spec file or bundled spec"):
        archc.load("no_such_net")
