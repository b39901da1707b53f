"""The spec language: vars, extends merge rules, --set overrides, names, defaults, JSON Schema."""
import json
import textwrap

import pytest

import archc
from codegen_helpers import import_generated
from archc.spec.expr import ExprError, evaluate, substitute
from archc.spec.validate import json_schema

BASE = """\
archc: 1
name: base
vars: {n: 2, w: 16}
input: {channels: 3, size: 32}
classes: 10
stem:
  - conv: {out: "${w}", kernel: 3}
stages:
  - residual: {block: basic, width: "${w}", blocks: "${n}"}
  - residual: {block: basic, width: "${2*w}", blocks: "${n}", stride: 2}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def blocks(model, stage):
    return len(model.find(stage).items)


def test_vars_arithmetic_reaches_every_field(tmp_path):
    model = archc.lower(write(tmp_path, "base.yaml", BASE))
    assert blocks(model, "stage1") == 2 and blocks(model, "stage2") == 2
    assert model.find("stage2").out_shape == (32, 16, 16)


def test_extends_merges_mappings_and_replaces_lists(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", """\
        extends: base.yaml
        name: child
        vars: {n: 5}
        input: {size: 64}
    """)
    model = archc.lower(child)
    assert model.name == "child"
    assert blocks(model, "stage1") == 5  # the parent's ${n} sees the child's n
    assert model.input_shape == (3, 64, 64)  # input merged key by key: channels kept
    assert model.classes == 10


def test_extends_list_replaced_whole_and_null_deletes(tmp_path):
    write(tmp_path, "base.yaml", BASE)
    child = write(tmp_path, "child.yaml", """\
        extends: base.yaml
        name: child
        stem: null
        stages:
          - plain: {block: basic, width: 8, blocks: 1}
    """)
    model = archc.lower(child)
    assert [n.name for n in model.stages] == ["stage1", "head"]
    assert model.find("stage1").meta["kind"] == "plain"


def test_extends_relative_to_the_spec_folder(tmp_path, monkeypatch):
    sub = tmp_path / "family"
    sub.mkdir()
    write(sub, "base.yaml", BASE)
    child = write(sub, "child.yaml", "extends: base.yaml\nname: child\n")
    monkeypatch.chdir(tmp_path.parent)
    assert archc.lower(child).name == "child"


def test_error_in_inherited_part_points_into_the_parent_file(tmp_path):
    write(tmp_path, "base.yaml", BASE.replace('blocks: "${n}", stride: 2', 'blocks: "${n}", stride: 2, groups: 3'))
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\n")
    with pytest.raises(archc.SpecError) as info:
        archc.lower(child)
    assert "base.yaml:10:" in str(info.value)
    assert "stages[1].residual.groups" in str(info.value)


def test_set_overrides_by_path_and_index(tmp_path):
    path = write(tmp_path, "base.yaml", BASE)
    model = archc.lower(archc.load(path, ["classes=7", "vars.n=3", "stages[1].residual.stride=1"]))
    assert model.classes == 7
    assert blocks(model, "stage2") == 3
    assert model.find("stage2").out_shape == (32, 32, 32)
    assert archc.lower(archc.load(path, ["stages.0.residual.blocks=4"])).find("stage1").items.__len__() == 4


def test_set_errors_are_located_at_the_override(tmp_path):
    path = write(tmp_path, "base.yaml", BASE)
    with pytest.raises(archc.SpecError, match=r"--set classes=ten: classes: expected an integer"):
        archc.lower(archc.load(path, ["classes=ten"]))
    with pytest.raises(archc.SpecError, match="index 5 out of range"):
        archc.load(path, ["stages[5].residual.width=3"])
    with pytest.raises(archc.SpecError, match="key.path=value"):
        archc.load(path, ["classes"])
    child = write(tmp_path, "child.yaml", "extends: base.yaml\nname: child\n")
    with pytest.raises(archc.SpecError, match=r"^--set foo.bar=1: foo: unknown key 'foo'"):  # not base.yaml:1:1
        archc.load(child, ["foo.bar=1"])
    with pytest.raises(archc.SpecError, match=r"base.yaml:\d+:\d+: .*blocks.* \(after --set vars.n=0\)"):
        archc.load(child, ["vars.n=0"])  # the failing line is the spec's; the value came from the override


def test_default_names_and_explicit_names():
    model = archc.lower(archc.loads(textwrap.dedent("""\
        name: named
        input: {size: 32}
        stem:
          - conv: {out: 8}
          - conv: {out: 8, name: second}
          - conv: {out: 8}
        stages:
          - residual: {block: basic, width: 8, name: body}
          - maxpool: {kernel: 2}
          - plain: {block: basic, width: 8}
        """)))
    assert [n.name for n in model.find("stem").items] == ["conv1", "second", "conv2"]
    assert [n.name for n in model.stages] == ["stem", "body", "maxpool1", "stage2", "head"]
    assert model.find("body.block1.conv2.bn").kind == "batchnorm"


def test_defaults_norm_none_gives_bias_and_no_bn():
    model = archc.lower(archc.loads("name: nobn\ninput: {size: 16}\ndefaults: {norm: none}\n"
                                    "stages:\n  - conv: {out: 4}\n"))
    unit = model.find("conv1")
    assert [c.kind for c in unit.items] == ["conv", "relu"]
    assert unit.items[0].params.bias is True


def test_inception_shorthand_and_general_branches():
    six = archc.lower(archc.loads(textwrap.dedent("""\
        name: inc
        input: {channels: 192, size: 28}
        stages:
          - inception: {modules: {3a: [64, 96, 128, 16, 32, 32]}}
        """)))
    module = six.find("stage1.inception3a")
    assert module.out_shape == (256, 28, 28)
    assert [len(b.items) for b in module.branches] == [1, 2, 2, 2]
    general = archc.lower(archc.loads(textwrap.dedent("""\
        name: inc2
        input: {channels: 192, size: 28}
        stages:
          - inception:
              modules:
                x: {branches: [[conv: {out: 8, kernel: 1}], [maxpool: {kernel: 3, stride: 1, padding: 1}]]}
        """)))
    assert general.find("stage1.inceptionx").out_shape == (200, 28, 28)


def test_bottleneck_options_resnext_and_stride_on():
    model = archc.lower(archc.loads(textwrap.dedent("""\
        name: rx
        input: {channels: 64, size: 56}
        stages:
          - residual: {block: bottleneck, width: 64, groups: 32, base_width: 4, stride: 2, stride_on: 1x1}
        """)))
    block = model.find("stage1.block1")
    assert block.body[0].items[0].params.stride == 2  # stride on the 1x1
    assert block.body[1].items[0].params.groups == 32
    assert block.body[1].out_shape == (128, 28, 28)  # 64 * 4/64 * 32 = 128 mid channels
    assert block.out_shape == (256, 28, 28)


def test_pad_shortcut_has_no_parameters():
    model = archc.lower(archc.loads(textwrap.dedent("""\
        name: opta
        input: {channels: 16, size: 32}
        stages:
          - residual: {block: basic, width: 32, stride: 2, shortcut: pad}
        """)))
    block = model.find("stage1.block1")
    assert block.shortcut_kind == "pad" and block.shortcut.cost.params == 0
    assert block.shortcut.out_shape == (32, 16, 16)


def test_expr_language_is_arithmetic_only():
    assert evaluate("2*n + 1", {"n": 9}) == 19
    assert evaluate("max(n, 4) // 3", {"n": 9}) == 3
    assert substitute("resnet${6*n+2}", {"n": 9}) == "resnet56"
    assert substitute("${n/2}", {"n": 8}) == 4
    for bad in ["__import__('os')", "n.real", "[1][0]", "lambda: 1", "open('x')", "n if n else 1", "'a'*3"]:
        with pytest.raises(ExprError):
            evaluate(bad, {"n": 1})


def test_json_schema_describes_the_spec():
    schema = json_schema()
    json.dumps(schema)
    assert schema["additionalProperties"] is False
    assert {"name", "stages", "vars", "aux_heads", "init", "defaults"} <= set(schema["properties"])
    assert "residual" in schema["$defs"]["StageItem"]["properties"]


def test_docs_spec_reference_is_up_to_date():
    from pathlib import Path

    from archc.spec.reference import reference

    committed = (Path(__file__).resolve().parents[2] / "docs" / "spec.md").read_text()
    assert committed == reference(), "regenerate: python -m archc.spec.reference > docs/spec.md"


def test_plain_layers_repeat_is_a_synonym_of_blocks():
    text = "name: v\ninput: {size: 32}\nstages:\n  - plain: {layers: [conv: {out: 8}, conv: {out: 8}], %s: 3}\n"
    for key in ("repeat", "blocks"):
        stage = archc.lower(archc.loads(text % key)).find("stage1")
        assert [b.name for b in stage.items] == ["block1", "block2", "block3"]
        assert [u.name for u in stage.items[2].items] == ["conv1", "conv2"]


PAIRS = """\
name: pairs
input: {channels: 3, size: 16}
classes: 10
stem:
  - conv: {out: 8, kernel: [3, 5], padding: [1, 2]}
  - conv:
      out: 8
      kernel:
        - 5
        - 3
      dilation: [1, 2]
      stride:
        - 1
        - 2
  - maxpool: {kernel: [2, 1], stride: [2, 1]}
stages:
  - residual: {layers: [conv: {out: 8, kernel: [1, 3]}, conv: {out: 8, kernel: [3, 1], act: none}]}
  - inception:
      modules: {3a: [4, 4, 4, 4, 4, 4]}
      pool: {kernel: [3, 3], stride: 1, padding: [1, 1]}
  - adaptive_avgpool: {size: [2, 1]}
"""


def test_pair_values_flow_and_block_style(tmp_path):
    import torch

    ir = archc.lower(archc.loads(PAIRS))
    conv = ir.find("stem.conv1.conv")
    assert conv.params.kernel == (3, 5) and conv.params.padding == (1, 2)
    assert conv.out_shape == (8, 16, 16)
    assert conv.cost.params == 8 * 3 * 3 * 5  # bias off: BN follows
    assert ir.find("stem.conv1").cost.params == 8 * 3 * 3 * 5 + 2 * 8
    second = ir.find("stem.conv2.conv")
    assert second.params.kernel == (5, 3) and second.params.stride == (1, 2) and second.params.dilation == (1, 2)
    assert second.out_shape == (8, 16, 8)  # 'same' padding (2, 2): H kept, W halved
    assert ir.find("stem.maxpool1").out_shape == (8, 8, 8)
    assert ir.find("stage2").out_shape == (16, 8, 8)
    assert ir.find("adaptive_avgpool1").out_shape == (16, 2, 1)
    assert ir.body.out_shape == (10,)

    net = archc.compile(ir, seed=0).eval()
    assert tuple(net.stem.conv1.conv.weight.shape) == (8, 3, 3, 5)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        y = net(x)
    assert y.shape == (2, 10)
    module = import_generated(archc.generate_source(ir), tmp_path, ir.name)
    generated = getattr(module, ir.class_name)().eval()
    generated.load_state_dict(net.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(generated(x), y)


@pytest.mark.parametrize("value", ['"3"', "true", "[3, \"5\"]", "[3, true]", "[3, 5, 7]", "[0, 3]"])
def test_pair_values_stay_strict(value):
    with pytest.raises(archc.SpecError) as info:
        archc.loads(f"name: s\nstem: [conv: {{out: 8, kernel: {value}}}]\nstages: [relu: {{}}]\n")
    assert "stem[0].conv.kernel" in info.value.format()


@pytest.mark.parametrize("key, value", [("stride", 2), ("groups", 2), ("expansion", 2), ("base_width", 32),
                                        ("stride_on", "1x1"), ("width", 8)])
@pytest.mark.parametrize("kind", ["residual", "plain"])
def test_block_only_keys_refused_with_custom_layers(kind, key, value):
    text = f"name: c\ninput: {{size: 16}}\nstages:\n  - {kind}: {{layers: [conv: {{out: 8}}], {key}: {value}}}\n"
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(text))
    message = info.value.format()
    assert message.startswith("<string>:4:") and f"stages[0].{kind}.{key}:" in message
    assert "no effect with custom `layers`" in message


def test_stride_on_a_custom_layer_applies():
    text = ("name: c\ninput: {size: 16}\nstages:\n"
            "  - residual: {layers: [conv: {out: 8, stride: 2}, conv: {out: 8, act: none}], blocks: 2}\n")
    stage = archc.lower(archc.loads(text)).find("stage1")
    assert [b.out_shape for b in stage.items] == [(8, 8, 8), (8, 4, 4)]  # the layers are every block's body


@pytest.mark.parametrize("stage", [
    "residual: {layers: [relu: {inplace: true}, conv: {out: 3}], shortcut: identity}",
    "residual: {layers: [dropout: {p: 0.1}, relu6: {inplace: true}, conv: {out: 8}]}",
    "inception: {modules: {a: {branches: [[conv: {out: 4}], [relu: {inplace: true}, conv: {out: 4}]]}}}",
])
def test_inplace_on_a_shared_input_is_refused(stage):
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(f"name: i\ninput: {{size: 8}}\nstages:\n  - {stage}\n"))
    assert ".inplace: an in-place" in info.value.format()


def test_inplace_at_the_start_of_an_aux_head_is_refused():
    text = ("name: i\ninput: {size: 8}\nclasses: 4\nstages:\n  - conv: {out: 4}\n"
            "aux_heads: [{attach: conv1, layers: [relu: {inplace: true}, gap: {}, fc: {}]}]\n")
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(text))
    assert info.value.format().startswith("<string>:6:") and "aux_heads[0].layers[0].relu.inplace" in info.value.format()


def test_inplace_after_a_new_tensor_is_legal_and_exact():
    import torch

    text = """\
name: ok
input: {channels: 4, size: 8}
classes: 3
defaults: {norm: none}
stages:
  - residual:
      shortcut: identity
      layers: [conv: {out: 4, act: none}, relu: {inplace: %s}, conv: {out: 4, act: none}]
  - inception: {modules: {a: {branches: [[conv: {out: 2, act: none}, relu: {inplace: %s}], [conv: {out: 2}]]}}}
"""
    nets = [archc.compile(archc.loads(text % (flag, flag)), seed=1).eval() for flag in ("true", "false")]
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        x_before = x.clone()
        y_inplace, y_plain = nets[0](x), nets[1](x)
        assert torch.equal(x, x_before)  # the caller's tensor is untouched
        block = nets[0].stage1.block1
        manual = torch.relu(block.conv2.conv(torch.relu(block.conv1.conv(x))) + x)
        assert torch.allclose(nets[0].stage1(x), manual)
    assert torch.equal(y_inplace, y_plain)


@pytest.mark.parametrize("head, where", [
    ("[gap: {}, fc: {}, fc: {out: 5}]", "head[2].fc.out"),
    ("[gap: {}, fc: {out: 5}, relu: {}]", "head[1].fc.out"),
    ("[gap: {}, flatten: {}]", "head["),
])
def test_head_must_give_classes_scores(head, where):
    text = f"name: h\ninput: {{size: 16}}\nclasses: 10\nstages:\n  - conv: {{out: 4}}\nhead: {head}\n"
    with pytest.raises(archc.SpecError) as info:
        archc.lower(archc.loads(text))
    message = info.value.format()
    assert message.startswith("<string>:6:") and where in message and "expected (10,)" in message


def test_head_with_classes_scores_and_aux_heads_are_fine():
    text = ("name: h\ninput: {size: 16}\nclasses: 10\nstages:\n  - conv: {out: 4}\n"
            "head: [gap: {}, fc: {out: 32}, relu: {}, fc: {out: 10}]\n"
            "aux_heads: [{attach: conv1, layers: [gap: {}, fc: {}]}]\n")
    ir = archc.lower(archc.loads(text))
    assert ir.body.out_shape == (10,) and ir.aux_heads[0].head.out_shape == (10,)


def test_a_keyword_name_says_so():
    with pytest.raises(archc.SpecError, match="'class' is a Python keyword"):
        archc.loads("name: class\ninput: {size: 16}\nstages:\n  - plain: {layers: [conv: {out: 4}]}\n")
