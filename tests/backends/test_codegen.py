"""Generated source is standalone and builds the same module: same state_dict keys, same outputs."""
import subprocess
import sys
import textwrap

import pytest
import torch

import archc
from codegen_helpers import import_generated

MIXED = textwrap.dedent("""\
    name: mixed_net
    title: Every structure at once
    input: {channels: 3, size: 32}
    classes: 7
    init: {conv: kaiming_normal, zero_init_residual: true}
    stem:
      - conv: {out: 16, kernel: 3}
      - lrn: {size: 5}
    stages:
      - residual: {block: basic, width: 16, blocks: 2}
      - residual: {block: basic, width: 32, blocks: 1, stride: 2, shortcut: pad}
      - inception: {modules: {3a: [8, 8, 16, 4, 8, 8], 3b: [8, 8, 16, 4, 8, 8]}, five: 3}
      - residual: {block: bottleneck, width: 16, groups: 2, base_width: 64, stride: 2}
      - plain: {layers: [{conv: {out: 32, act: leaky_relu}}], blocks: 2}
    head:
      - gap: {}
      - dropout: {p: 0.2}
      - fc: {}
    aux_heads:
      - {attach: inception3a, loss_weight: 0.3, layers: [adaptive_avgpool: {size: 2}, fc: {}]}
      - {attach: stage2, name: early, loss_weight: 0.1, layers: [gap: {}, fc: {}]}
    """)


@pytest.mark.parametrize("spec_text", [MIXED, "name: tiny\ninput: {size: 16}\nstages:\n  - conv: {out: 4}\n"])
def test_generated_module_matches_in_memory(spec_text, tmp_path):
    ir = archc.lower(archc.loads(spec_text))
    source = archc.generate_source(ir)
    assert "import archc" not in source and "from archc" not in source
    module = import_generated(source, tmp_path, ir.name)
    generated = getattr(module, ir.class_name)()
    reference = archc.compile(ir, seed=3)
    assert list(generated.state_dict()) == list(reference.state_dict())
    generated.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, *ir.input_shape)
    generated.eval(), reference.eval()
    with torch.no_grad():
        assert torch.equal(generated(x), reference(x))
    if ir.aux_heads:
        generated.train(), reference.train()
        torch.manual_seed(0)
        out_g, aux_g = generated(x)
        torch.manual_seed(0)
        out_r, aux_r = reference(x)
        assert torch.equal(out_g, out_r)
        assert aux_g.keys() == aux_r.keys() == {"aux1", "early"}
        for key in aux_g:
            assert torch.equal(aux_g[key], aux_r[key])
        assert generated.aux_loss_weights == reference.aux_loss_weights == {"aux1": 0.3, "early": 0.1}


def test_generated_file_runs_as_a_script_with_only_torch(tmp_path):
    source = archc.generate_source("specs/resnet18.yaml")
    path = tmp_path / "resnet18.py"
    path.write_text(source)
    result = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "torch.Size([1, 1000])" in result.stdout


def test_generated_source_is_deterministic_and_commented():
    a = archc.generate_source("specs/resnet50.yaml")
    b = archc.generate_source("specs/resnet50.yaml")
    assert a == b
    assert "# bottleneck block, projection shortcut: 64x56x56 -> 256x56x56" in a
    assert "x = self.stage4(x)  # 2048x7x7" in a


def test_zero_init_residual_zeroes_last_bn():
    net = archc.compile(archc.loads(MIXED))
    block = net.stage1.block1
    assert torch.count_nonzero(block.conv2.bn.weight) == 0
    assert torch.all(block.conv1.bn.weight == 1)


def test_same_seed_same_weights_different_seed_different_weights():
    a = archc.compile("specs/resnet18.yaml", seed=1).state_dict()
    b = archc.compile("specs/resnet18.yaml", seed=1).state_dict()
    c = archc.compile("specs/resnet18.yaml", seed=2).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["stem.conv1.conv.weight"], c["stem.conv1.conv.weight"])


@pytest.mark.parametrize("name, cls", [("residual", "ResidualNet"), ("concat", "ConcatNet"),
                                       ("flatten_linear", "FlattenLinearNet"), ("network", "Network")])
def test_model_names_do_not_collide_with_the_helpers(name, cls, tmp_path):
    """`name: residual` once gave two `class Residual` in one file (the model's shadowed the helper)."""
    text = MIXED.replace("name: mixed_net", f"name: {name}")
    source = archc.generate_source(archc.loads(text))
    assert f"class {cls}(nn.Module):" in source and source.count("class Residual(") == 1
    module = import_generated(source, tmp_path, f"gen_{name}")
    net = getattr(module, cls)().eval()
    assert net(torch.randn(1, 3, 32, 32)).shape == (1, 7)


def test_overrides_are_named_in_the_generated_docstring(tmp_path):
    path = tmp_path / "mixed_net.yaml"
    path.write_text(MIXED)
    source = archc.generate_source(path, overrides=["classes=5"])
    assert "with --set classes=5" in source.split('"""')[1]
