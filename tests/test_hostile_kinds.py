"""Issue 10's kinds of hostile and unusual input, each beyond its one example (corpus: tests/bad_specs/)."""
import os
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import archc
from archc.cli import main
from archc.errors import ArchcError
from archc.spec.expr import ExprError, evaluate
from archc.spec.yamlload import FAST_LOADER, Yaml12Loader, scalar_value

ROOT = Path(__file__).resolve().parent.parent
TINY = "name: t\ninput: {size: 8}\nclasses: 3\nstages:\n  - conv: {out: 4}\n"


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def validate(*args: str) -> "CliRunner":
    return CliRunner().invoke(main, ["validate", *args])


def one_located_line(result, prefix: str = "archc: error: ") -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    first = result.output.splitlines()[0]
    assert first.startswith(prefix)
    return first


# ---------------------------------------------------------------- 1: non-finite numbers

@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.Inf", "+.INF", "1e400", "-1e999", "!!float nan"])
def test_non_finite_floats_refused_anywhere(tmp_path, value):
    for where in ("  - lrn: {alpha: %s}\n", "  - dropout: {p: %s}\n", "  - leaky_relu: {slope: %s}\n"):
        path = write(tmp_path, TINY + where % value)
        with pytest.raises(ArchcError, match="finite"):
            archc.load(path)
    with pytest.raises(ArchcError, match="finite"):
        archc.load(write(tmp_path, TINY + "defaults: {bn_eps: %s}\n" % value))
    with pytest.raises(ArchcError, match="finite"):
        archc.load(write(tmp_path, TINY + "vars: {a: %s}\n" % value))


@pytest.mark.parametrize("expr", ["${a*10}", "${a+a}", "${-a*a}", "${1e308*10}", "${a/1e-300}"])
def test_non_finite_through_vars_refused(tmp_path, expr):
    path = write(tmp_path, "vars: {a: 1e308}\n" + TINY + f"  - lrn: {{alpha: \"{expr}\"}}\n")
    with pytest.raises(ArchcError, match="finite|too large"):
        archc.load(path)


def test_non_finite_through_set_refused(tmp_path):
    path = write(tmp_path, TINY + "  - lrn: {alpha: 0.001}\n")
    result = validate(str(path), "--set", "stages[1].lrn.alpha=.nan")
    assert "finite" in one_located_line(result)


def test_python_api_refuses_nan_too():
    from pydantic import ValidationError

    from archc.spec.model import Spec

    with pytest.raises(ValidationError):
        Spec.model_validate({"name": "x", "stages": [{"lrn": {"alpha": float("nan")}}]})


def test_generated_source_runs_with_extreme_finite_floats(tmp_path):
    """Every finite float round-trips through repr: tiny, huge, negative zero."""
    import torch

    from codegen_helpers import import_generated

    path = write(tmp_path, TINY + "  - lrn: {alpha: 1.0e-300, beta: 1.7976931348623157e+308, k: -0.0}\n"
                                  "  - dropout: {p: 5e-324}\ndefaults: {bn_eps: 1e-12}\n")
    module = import_generated(archc.generate_source(archc.load(path)), tmp_path, "gen_floats")
    net = module.T().eval()
    (lrn,) = [m for m in net.modules() if isinstance(m, torch.nn.LocalResponseNorm)]
    assert (lrn.alpha, lrn.beta, str(lrn.k)) == (1.0e-300, 1.7976931348623157e308, "-0.0")
    assert [m.eps for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)] == [1e-12]
    assert net(torch.zeros(1, 3, 8, 8)).shape == (1, 3)


# ---------------------------------------------------------------- 2: one name rule for every name

NAME_PLACES = {
    "model": "name: {n}\ninput: {{size: 8}}\nclasses: 3\nstages:\n  - conv: {{out: 4}}\n",
    "stage": "name: t\ninput: {{size: 8}}\nclasses: 3\nstages:\n  - plain: {{name: {n}, block: basic, width: 4}}\n",
    "layer": "name: t\ninput: {{size: 8}}\nclasses: 3\nstages:\n  - conv: {{out: 4, name: {n}}}\n",
    "body layer": "name: t\ninput: {{size: 8}}\nclasses: 3\nstages:\n"
                  "  - residual: {{layers: [{{conv: {{out: 3, name: {n}}}}}]}}\n",
    "stem layer": "name: t\ninput: {{size: 8}}\nclasses: 3\nstem: [{{conv: {{out: 4, name: {n}}}}}]\n"
                  "stages:\n  - conv: {{out: 4}}\n",
    "aux head": "name: t\ninput: {{size: 8}}\nclasses: 3\nstages:\n  - conv: {{out: 4}}\n"
                "aux_heads: [{{name: {n}, attach: conv1, layers: [gap, fc]}}]\n",
    "module key": "name: t\ninput: {{size: 8}}\nclasses: 3\nstages:\n"
                  "  - inception: {{prefix: '', modules: {{{n}: [1, 1, 1, 1, 1, 1]}}}}\n",
}
BAD_NAMES = ["class", "def", "None", "forward", "append", "named_buffers", "training", "to", "shortcut", "act",
             "'\ufb01'", "'caf\u00e9'", "_x", "'1x'", "'a b'", "'a.b'", "'x\u0000'"]


@pytest.mark.parametrize("place", sorted(NAME_PLACES))
@pytest.mark.parametrize("bad", BAD_NAMES)
def test_every_name_place_refuses_bad_names_at_validation(tmp_path, place, bad):
    text = NAME_PLACES[place].format(n=bad)
    if place == "model" and bad in ("forward", "append", "named_buffers", "training", "to", "shortcut", "act"):
        text = NAME_PLACES[place].format(n=bad)  # model names follow the same rule
    result = validate(str(write(tmp_path, text)))
    line = one_located_line(result)
    assert f"{tmp_path / 'spec.yaml'}:" in line and ":0:" not in line.split(": ")[1]


@pytest.mark.parametrize("name", ["none", "'true'", "'false'"])
def test_model_name_whose_class_is_a_keyword_refused(tmp_path, name):
    line = one_located_line(validate(str(write(tmp_path, NAME_PLACES["model"].format(n=name)))))
    assert ":1:7: name:" in line and "keyword" in line


def test_unusual_legal_names_give_the_same_state_dict_in_generated_source(tmp_path):
    """Names that pass the rule work in archc.compile and in the generated file alike."""
    from codegen_helpers import import_generated

    text = ("name: match\ninput: {size: 8}\nclasses: 3\nstages:\n"
            "  - inception: {prefix: x_, modules: {case: [1, 1, 1, 1, 1, 1], '3a': [1, 1, 1, 1, 1, 1]}}\n"
            "  - residual: {name: Type, layers: [{conv: {out: 4, name: self}}, {conv: {out: 4, name: layers}}]}\n"
            "aux_heads: [{name: x, attach: x_case, layers: [gap, fc]}]\n")
    spec = archc.load(write(tmp_path, text))
    net = archc.compile(spec)
    module = import_generated(archc.generate_source(spec), tmp_path, "gen_names")
    generated = module.Match()
    assert list(generated.state_dict()) == list(net.state_dict())


# ---------------------------------------------------------------- 6: every intermediate shape bounded

@pytest.mark.parametrize("stage,words", [
    ("  - conv: {out: 4, padding: 40000}", "65,536 px a side"),
    ("  - conv: {out: 4, padding: [0, 70000]}", "65,536 px a side"),
    ("  - maxpool: {kernel: 3, padding: 1}\n  - conv: {out: 1000000, padding: 300}", "activations of one image"),
    ("  - conv: {out: 64, padding: 5000}", "activations of one image"),
    ("  - conv: {out: 1, padding: 20000}\n  - conv: {out: 1, padding: 20000}", "65,536 px a side|activations"),
    ("  - plain: {layers: [{conv: {out: 4, padding: 100}}], blocks: 300}", "activations|65,536"),
])
def test_feature_maps_and_activations_bounded_before_any_tensor(tmp_path, stage, words):
    path = write(tmp_path, f"name: t\ninput: {{size: 32}}\nclasses: 3\nstages:\n{stage}\n")
    started = time.perf_counter()
    result = validate(str(path))
    assert time.perf_counter() - started < 20
    import re

    assert re.search(words, one_located_line(result))


def test_activation_limit_is_configurable(tmp_path):
    path = write(tmp_path, TINY)
    with pytest.raises(ArchcError, match="activations"):
        archc.lower(archc.load(path, limits=archc.Limits(max_activation_bytes=1000)))


def test_huge_classes_located_at_classes(tmp_path):
    path = write(tmp_path, "name: t\ninput: {size: 8}\nclasses: 999999999\nstages:\n  - conv: {out: 4}\n")
    line = one_located_line(validate(str(path)))
    assert ":3:10: classes:" in line


# ---------------------------------------------------------------- 7: --set values under the spec limits

def test_set_alias_bomb_refused_quickly(tmp_path):
    path = write(tmp_path, TINY)
    bomb = "[" + ", ".join(f"&a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" if i else "&a0 [x,x,x,x,x,x,x,x,x]"
                           for i in range(12)) + "]"
    assert len(bomb) < 1000
    started = time.perf_counter()
    line = one_located_line(validate(str(path), "--set", f"title={bomb}"))
    assert time.perf_counter() - started < 10
    assert "--set title=" in line and "alias" in line


def test_set_recursive_alias_refused(tmp_path):
    path = write(tmp_path, TINY)
    for value in ("&a [*a]", "&a {x: *a}", "&a [1, [2, *a]]"):
        line = one_located_line(validate(str(path), "--set", f"title={value}"))
        assert "--set title=" in line


def test_set_reads_yaml12_numbers(tmp_path):
    path = write(tmp_path, TINY)
    assert archc.load(path, overrides=["defaults.bn_eps=1e-3"]).defaults.bn_eps == 0.001
    line = one_located_line(validate(str(path), "--set", "classes=010"))
    assert "ambiguous number" in line


# ---------------------------------------------------------------- 8: special files, what extends may reach

@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_refused_unread(device):
    line = one_located_line(validate(device))
    assert "not a regular file" in line


def test_fifo_refused_without_waiting(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)
    started = time.perf_counter()
    line = one_located_line(validate(str(fifo)))
    assert time.perf_counter() - started < 10 and "FIFO" in line


def test_socket_refused(tmp_path):
    path = tmp_path / "s.yaml"
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(path))
    except OSError:
        pytest.skip("no unix sockets here")
    try:
        assert "not a regular file" in one_located_line(validate(str(path)))
    finally:
        sock.close()


def test_extends_of_a_fifo_refused(tmp_path):
    os.mkfifo(tmp_path / "base.yaml")
    line = one_located_line(validate(str(write(tmp_path, "extends: base.yaml\n" + TINY))))
    assert ":1:10: extends:" in line


@pytest.mark.parametrize("ref,words", [
    ("/etc/hostname.yaml", "relative"),
    ("~/base.yaml", "relative"),
    ("../outside.yaml", "leaves the allowed folders"),
    ("sub/../../outside.yaml", "leaves the allowed folders"),
    ("base.txt", ".yaml"),
    ("link.yaml", "leaves the allowed folders"),
])
def test_extends_reach_is_confined(tmp_path, ref, words):
    write(tmp_path, TINY, "outside.yaml")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    path = write(tmp_path, f"extends: {ref}\n" + TINY, "proj/spec.yaml")
    line = one_located_line(validate(str(path)))
    assert ":1:10: extends:" in line and words in line


def test_extends_may_reach_subfolders_and_bundled_specs(tmp_path):
    write(tmp_path, TINY, "proj/bases/base.yaml")
    archc.load(write(tmp_path, "extends: bases/base.yaml\nclasses: 5\n", "proj/spec.yaml"))
    rel = os.path.relpath(ROOT / "specs" / "resnet18.yaml", tmp_path / "proj")
    spec = archc.load(write(tmp_path, f"extends: {rel}\nname: mine\nclasses: 7\n", "proj/r.yaml"))
    assert (spec.name, spec.classes) == ("mine", 7)


def test_nested_extends_confined_to_the_top_specs_folder(tmp_path):
    """A base in a subfolder may go up again, but not above the top-level spec's folder."""
    write(tmp_path, TINY, "proj/common.yaml")
    write(tmp_path, "extends: ../common.yaml\n", "proj/bases/base.yaml")
    archc.load(write(tmp_path, "extends: bases/base.yaml\n", "proj/spec.yaml"))
    write(tmp_path, "extends: ../../outside.yaml\n", "proj/bases/bad.yaml")
    write(tmp_path, TINY, "outside.yaml")
    with pytest.raises(ArchcError, match="leaves the allowed folders"):
        archc.load(write(tmp_path, "extends: bases/bad.yaml\n", "proj/spec2.yaml"))


# ---------------------------------------------------------------- 9: linear extends merge and codegen

def test_extends_merge_of_two_large_files_is_fast(tmp_path):
    def big(n: int, seed: int) -> str:
        layers = "".join(f"  l{i}: {{a: {i}, b: {seed}, c: [1, 2, 3], d: {{e: {i}}}}}\n" for i in range(n))
        return f"x:\n{layers}"

    base = big(1800, 1)
    assert len(base) > 80_000
    write(tmp_path, base + TINY, "base.yaml")
    path = write(tmp_path, "extends: base.yaml\n" + big(1800, 2), "child.yaml")
    started = time.perf_counter()
    with pytest.raises(ArchcError, match="unknown key 'x'"):  # merged fully, then refused at validation
        archc.load(path)
    assert time.perf_counter() - started < 15  # 73 s when the merge scanned every table per key


def test_codegen_does_not_search_the_tree_per_node(tmp_path, monkeypatch):
    from archc.ir.graph import Model

    stages = "".join("  - conv: {out: 2, kernel: 1}\n" for _ in range(3000))
    ir = archc.lower(archc.load(write(tmp_path, f"name: t\ninput: {{size: 2, channels: 2}}\nclasses: 2\n"
                                                f"stages:\n{stages}")))
    monkeypatch.setattr(Model, "find", lambda self, path: pytest.fail("Model.find in codegen"))
    started = time.perf_counter()
    source = archc.generate_source(ir)
    assert source.count("nn.Conv2d(") == 3000 and time.perf_counter() - started < 20


# ---------------------------------------------------------------- 10: expressions, names, loops

@pytest.mark.parametrize("expr", ["(-1)**0.5 // 1", "1e15 ** 64", "(-8) ** (1/3)", "round(2, -10**15)",
                                  "round(1.5, 10**15)", "round(1, 0.5)", "int(1e15) * 1e15", "1e15 % 0.0",
                                  "10**15 // 1e-300", "floor(1e15 * 10)", "min(1e15 ** 3, 1)", "(-2) ** 0.5 * 0",
                                  "1e308 * 1e308 - 1e308 * 1e308", "max(-1e15 ** 64)", "ceil(-1) ** -1.5",
                                  "(" * 150 + "1" + ")" * 150])
def test_expression_arithmetic_errors_are_expr_errors(expr):
    with pytest.raises(ExprError):
        evaluate(expr, {})


def test_symlink_loop_as_spec_and_in_extends(tmp_path):
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    line = one_located_line(validate(str(tmp_path / "a.yaml")))
    assert "a.yaml" in line
    line = one_located_line(validate(str(write(tmp_path, "extends: a.yaml\n" + TINY, "c.yaml"))))
    assert ":1:10: extends:" in line and "loop" in line


@pytest.mark.parametrize("arg", ["*", "**", "*/*", "res*", "resnet[0-9]*", "?", "cifar/*", "../specs/resnet50",
                                 "cifar/../resnet50"])
def test_spec_names_are_literal(tmp_path, arg, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = one_located_line(validate(arg))
    assert "no such spec file" in line


# ---------------------------------------------------------------- 14: YAML 1.2 numbers everywhere

@pytest.mark.parametrize("loader", [Yaml12Loader, FAST_LOADER])
@pytest.mark.parametrize("text,value", [
    ("1e-3", 0.001), ("1E3", 1000.0), ("-1.5e+2", -150.0), (".5", 0.5), ("5.", 5.0), ("0x1f", 31), ("0o17", 15),
    ("+7", 7), ("0", 0), ("-0", 0), ("1:30", "1:30"), ("1_000", "1_000"), ("2001-12-14", "2001-12-14"),
    ("yes", "yes"), ("No", "No"), ("on", "on"), ("off", "off"), ("y", "y"), ("true", True), ("False", False),
    ("~", None), ("null", None), ("'010'", "010"), ("0b101", "0b101"), ("= ", "="),
])
def test_yaml12_scalars(loader, text, value):
    node = loader(f"[{text}]").get_single_node().value[0]
    got = scalar_value(node, loader(""))
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("loader", [Yaml12Loader, FAST_LOADER])
@pytest.mark.parametrize("text", ["010", "-010", "+007", "00"])
def test_leading_zero_ints_refused(loader, text):
    node = loader(f"[{text}]").get_single_node().value[0]
    with pytest.raises(ValueError, match="ambiguous"):
        scalar_value(node, loader(""))


def test_bn_eps_in_scientific_notation_loads(tmp_path):
    spec = archc.load(write(tmp_path, TINY + "defaults: {bn_eps: 1e-3, bn_momentum: 1E-1}\n"))
    assert (spec.defaults.bn_eps, spec.defaults.bn_momentum) == (0.001, 0.1)


# ---------------------------------------------------------------- 17: error reporting

def test_first_problem_in_file_order_and_where_the_others_are(tmp_path):
    text = ("name: t\ninput: {size: 8}\nclasses: 3\nstages:\n"
            "  - conv: {out: x}\n"
            "  - residual: {block: basic, width: 4, layers: [{conv: {out: 3, kernal: 3}}]}\n"
            "head: [gap, {fc: {out: 0}}]\n")
    line = one_located_line(validate(str(write(tmp_path, text))))
    assert ":5:17: stages[0].conv.out:" in line
    assert "[and 2 more problems: 6:" in line and "7:" in line and "head[1].fc.out" in line


def test_set_note_only_on_related_errors(tmp_path):
    text = "name: t\nvars: {n: 1, m: \"${n + 1}\"}\ninput: {size: 8}\nclasses: 3\nstages:\n" \
           "  - conv: {out: \"${m}\"}\n  - conv: {out: x}\n"
    path = str(write(tmp_path, text))
    line = one_located_line(validate(path, "--set", "classes=4"))
    assert "after --set" not in line
    line = one_located_line(validate(path, "--set", "vars.n=-3", "--set", "classes=4"))
    assert ":6:" in line and "(after --set vars.n=-3)" in line  # m depends on n
    text2 = text.replace("conv: {out: x}", "conv: {out: 5}")
    line = one_located_line(validate(str(write(tmp_path, text2, "s2.yaml")), "--set", "stages[1].conv.groups=3"))
    assert line.startswith("archc: error: --set stages[1].conv.groups=3") and "after --set" not in line


def test_small_nets_print_macs_with_a_visible_unit(tmp_path):
    result = validate(str(write(tmp_path, TINY)))
    assert result.exit_code == 0 and "0.000" not in result.output
    assert "KMACs" in result.output or " MACs" in result.output


def test_format_macs():
    from archc.formats import format_macs

    assert [format_macs(n) for n in (0, 999, 1_500, 2_050_000, 4_089_184_256)] == \
        ["0 MACs", "999 MACs", "1.50 KMACs", "2.05 MMACs", "4.089 GMACs"]


# ---------------------------------------------------------------- validate refuses what build would fail on

def test_cli_build_never_fails_where_validate_passed(tmp_path):
    """Corpus-wide: every bad spec fails validate; here the issue's build-only failures fail validate too."""
    for text in (TINY.replace("name: t", "name: none"), TINY + "  - conv: {out: 4, name: named_buffers}\n",
                 TINY + "  - lrn: {alpha: .nan}\n"):
        path = write(tmp_path, text)
        one_located_line(validate(str(path)))
