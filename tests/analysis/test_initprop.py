"""Signal propagation at init against He et al. 2015's variance argument.

For a conv with n = k*k*C_in inputs after a ReLU, Var(y_l) = n Var(w) Var(y_{l-1}) / 2. With C_in = C_out:
  kaiming (fan_in or fan_out): Var(w) = 2/n      -> std ratio per layer 1
  xavier normal:               Var(w) = 2/(2n)   -> std ratio 1/sqrt(2)
  torch default (kaiming_uniform, a=sqrt(5)): Var(w) = 1/(3n) -> std ratio 1/sqrt(6)
"""
import math

import pytest

import archc
from archc.analysis import InitConfig, init_propagation
from archc.analysis.initprop import summary_rows

PLAIN = """
archc: 1
name: plainnet
input: {{channels: 3, size: 16}}
classes: 10
defaults: {{norm: {norm}, act: relu}}
stem:
  - conv: {{out: 96, kernel: 3, bias: false}}
stages:
  - plain: {{layers: [{{conv: {{out: 96, kernel: 3, bias: false}}}}], blocks: 10}}
"""  # no conv biases: torch's default init would give them variance 1/(3n) too


@pytest.fixture(scope="module")
def no_norm():
    return init_propagation(archc.lower(archc.loads(PLAIN.format(norm="none"))), InitConfig(batch=8))


SIZE = 16
# zero padding: a 3x3 window at the border sees fewer inputs; per axis the mean share of taps inside is
# ((H - 2) * 3 + 2 * 2) / (3 H), which scales the std of each layer's output by that factor
BORDER = ((SIZE - 2) * 3 + 2 * 2) / (3 * SIZE)


def _per_layer_ratio(stds: list[float]) -> float:
    """Geometric mean of std(l+1)/std(l) over the 96->96 convs (layer 0 sees 3 channels; the last is fc),
    corrected for the border."""
    convs = stds[1:-1]
    return (convs[-1] / convs[0]) ** (1 / (len(convs) - 1)) / BORDER


@pytest.mark.parametrize("scheme, expected", [("kaiming_fan_in", 1.0), ("kaiming_fan_out", 1.0),
                                              ("xavier", 1 / math.sqrt(2)), ("torch_default", 1 / math.sqrt(6))])
def test_activation_std_ratio_matches_theory(no_norm, scheme, expected):
    stds = no_norm["results"][scheme]["as specified"]["activation_std"]
    assert len(stds) == 12  # stem conv, 10 block convs, fc
    assert _per_layer_ratio(stds) == pytest.approx(expected, rel=0.1)


def test_gradients_vanish_under_default_init_but_not_under_kaiming(no_norm):
    """Backward, each layer scales the gradient's variance by k*k*C_out*Var(w)/2: the same factors as forward
    here (C_in = C_out). From the last conv back to the first (10 layers), relative to kaiming:
    xavier (1/2)^5, torch's default (1/6)^5; kaiming itself keeps the gradient's scale."""
    rows = {r["scheme"]: r for r in summary_rows(no_norm)}
    kaiming = rows["kaiming_fan_out"]["grad_ratio"]
    assert 0.5 < kaiming < 2
    assert rows["xavier"]["grad_ratio"] / kaiming == pytest.approx(2.0 ** -5, rel=0.1)
    assert rows["torch_default"]["grad_ratio"] / kaiming == pytest.approx(6.0 ** -5, rel=0.5)
    assert rows["torch_default"]["grad_ratio"] < 1e-3  # vanished
    assert no_norm["variants"] == ["as specified"]  # nothing to remove


def test_batch_norm_hides_the_init_and_removing_it_shows_it():
    """BN renormalises every layer (ratio 1 before the border loss); without it xavier decays again."""
    result = init_propagation(archc.lower(archc.loads(PLAIN.format(norm="batchnorm"))),
                              InitConfig(batch=8, schemes=("xavier",)))
    assert result["variants"] == ["as specified", "norm layers removed"]
    with_bn = result["results"]["xavier"]["as specified"]["activation_std"]
    without = result["results"]["xavier"]["norm layers removed"]["activation_std"]
    assert _per_layer_ratio(with_bn) * BORDER == pytest.approx(1.0, rel=0.1)
    assert _per_layer_ratio(without) == pytest.approx(1 / math.sqrt(2), rel=0.1)


def test_same_numbers_on_a_second_run():
    model = archc.lower(archc.loads(PLAIN.format(norm="batchnorm")))
    cfg = InitConfig(batch=4, schemes=("kaiming_fan_out",))
    assert init_propagation(model, cfg) == init_propagation(model, cfg)


def test_unknown_scheme_is_a_value_error():
    with pytest.raises(ValueError, match="unknown init scheme"):
        init_propagation(archc.lower(archc.loads(PLAIN.format(norm="none"))), InitConfig(schemes=("nope",)))


def test_nets_are_probed_at_their_own_size_unless_asked_smaller():
    model = archc.lower("specs/resnet18.yaml")
    small = init_propagation(model, InitConfig(schemes=("kaiming_fan_out",), size=64, without_norm=False))
    assert small["input"] == [3, 64, 64]
    assert len(small["layers"]) == 21  # 17 convs + 3 projections + fc
    assert InitConfig().size is None  # by default: 224x224, where the last stage's maps are 7x7, not 2x2


def _fresh_build_study(model, cfg):
    """The study as it was first written: a fresh module per scheme and variant (spec re-lowered with the
    scheme, compiled with the seed, norm layers replaced on a fresh copy, weight gradients computed too)."""
    import torch
    from torch import nn

    from archc.analysis.initprop import SCHEMES, _sig, _weighted_ops, batch_size, relower
    from archc.backends.torch_backend import to_torch

    results = {}
    with torch.random.fork_rng(devices=[]):
        for scheme in cfg.schemes:
            variant_model = relower(model, init=model.spec.init.model_copy(update=SCHEMES[scheme]))
            results[scheme] = {}
            for label, strip in (("as specified", False), ("norm layers removed", True)):
                net = to_torch(variant_model, seed=cfg.seed).double()  # the study runs in float64
                if strip:
                    for op in variant_model.body.ops():
                        if op.op.category == "norm":
                            parent, _, name = op.path.rpartition(".")
                            setattr(net.get_submodule(parent), name, nn.Identity())
                net.train()
                acts, grads = {}, {}
                for op in _weighted_ops(variant_model):
                    def hook(m, i, out, path=op.path):
                        acts[path] = float(out.detach().std())
                        out.register_hook(lambda g: grads.__setitem__(path, float(g.std())))
                    net.get_submodule(op.path).register_forward_hook(hook)
                gen = torch.Generator().manual_seed(cfg.seed)
                batch = batch_size(cfg, model.input_shape)
                x = torch.randn(batch, *model.input_shape, generator=gen).double()
                labels = torch.randint(0, model.classes, (batch,), generator=gen)
                torch.manual_seed(cfg.seed)
                loss = nn.functional.cross_entropy(net(x), labels)
                loss.backward()
                paths = [op.path for op in _weighted_ops(variant_model)]
                results[scheme][label] = {"activation_std": [_sig(acts[p]) for p in paths],
                                          "gradient_std": [_sig(grads[p]) for p in paths], "loss": _sig(loss.item())}
    return results


@pytest.mark.parametrize("spec", ["cifar/resnet20", "cifar/plain20"])
def test_one_shared_build_gives_the_numbers_of_a_fresh_build_per_scheme_and_variant(spec):
    """init_propagation builds the module once and re-initialises it per scheme, swaps norm layers out and
    back, and skips weight gradients: the numbers are exactly those of separate fresh builds."""
    model = archc.lower(f"specs/{spec}.yaml")
    cfg = InitConfig()
    assert init_propagation(model, cfg)["results"] == _fresh_build_study(model, cfg)
