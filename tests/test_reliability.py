"""Hostile input: fuzzed specs, resource bombs, code injection, atomic and concurrent outputs."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archc
from archc.errors import ArchcError
from archc.io import atomic_write
from archc.ir.dag import to_dag

from fuzzing import mutated_spec, valid_spec

ROOT = Path(__file__).resolve().parent.parent


def exercise(text: str) -> None:
    """Everything static that archc does with a spec; only ArchcError may escape."""
    try:
        ir = archc.lower(archc.loads(text, "fuzz.yaml"))
    except ArchcError as exc:
        assert exc.loc is not None and exc.format().startswith("fuzz.yaml") or exc.format().startswith("--set")
        return
    to_dag(ir)
    from archc.render import dot_source

    for level in ("stage", "block", "layer"):
        dot_source(ir, level=level)
    from archc.analysis import ReportOptions, analyze
    from archc.analysis.markdown import render_report

    render_report(analyze(ir, ReportOptions(fvcore=False, init=False)), [])
    source = archc.generate_source(ir)
    compile(source, "generated.py", "exec")
    if ir.cost_with_aux().params < 200_000:
        net = archc.compile(ir)
        namespace: dict = {"__name__": "generated_fuzz"}
        exec(compile(source, "generated.py", "exec"), namespace)  # noqa: S102 - archc's own output, checked above
        from archc.backends.codegen import _model_class

        cls = namespace[_model_class(ir)]
        assert list(cls().state_dict()) == list(net.state_dict())  # names mean the same in both


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_spec())
def test_fuzz_valid_specs(spec):
    exercise(yaml.safe_dump(spec, sort_keys=False))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_fuzz_mutated_specs(spec):
    exercise(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_arbitrary_text(text):
    exercise(text)


def write(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_alias_bomb_refused(tmp_path):
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    with pytest.raises(ArchcError, match="alias"):
        archc.load(write(tmp_path, "\n".join(lines) + "\nname: x\nstages: *a11\n"))


def test_huge_file_refused_before_reading(tmp_path):
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(100 * 1024 * 1024)  # sparse 100 MB
    with pytest.raises(ArchcError, match="too large"):
        archc.load(path)


@pytest.mark.parametrize("opener,closer", [("[", "]"), ("{a: ", "}")])
def test_ten_thousand_deep_nesting_refused(tmp_path, opener, closer):
    text = "name: x\nstages: " + opener * 10_000 + "1" + closer * 10_000 + "\n"
    with pytest.raises(ArchcError, match="nested deeper than 64"):
        archc.load(write(tmp_path, text))


def test_limits_are_configurable(tmp_path):
    path = write(tmp_path, "name: x\ninput: {size: 16}\nstages:\n  - residual: {block: basic, width: 4, blocks: 20}\n")
    archc.lower(archc.load(path))
    with pytest.raises(ArchcError, match="too many"):
        archc.lower(archc.load(path, limits=archc.Limits(max_blocks_per_stage=10)))


@pytest.mark.parametrize("text,words", [
    ("name: x\nstages:\n  - residual: {block: basic, width: 16, blocks: 1000000000}\n", "too many"),
    ("name: x\ninput: {size: 1}\nstages:\n  - conv: {out: 900000}\n  - conv: {out: 900000}\n", "parameters"),
    ("name: x\nstages:\n  - conv: {out: 900000}\n", "activations of one image"),
    ("name: x\nstages:\n  - conv: {out: 4, padding: 50000}\n", "65,536 px a side"),
    ("name: x\ninput: {size: 1000000}\nstages:\n  - conv: {out: 3}\n", "input size too large"),
])
def test_resource_bombs_refused_before_any_tensor(tmp_path, text, words):
    with pytest.raises(ArchcError, match=words):
        archc.lower(archc.load(write(tmp_path, text)))


# control characters (\x00) are refused at validation now (test_hostile_text.py); tab, newline and U+2028 pass
PAYLOAD = '""" + __import__("pathlib").Path(r"{marker}").write_text("pwned") + """\\\n\t\u2028'


def test_code_injection_through_every_string_field_stays_inert(tmp_path):
    marker = tmp_path / "pwned"
    payload = PAYLOAD.format(marker=marker)
    spec = {"name": "inert", "title": payload, "description": payload, "references": [payload, payload],
            "input": {"size": 16}, "classes": 3,
            "stages": [{"residual": {"block": "basic", "width": 4}},
                       {"inception": {"modules": {"x": [2, 2, 2, 2, 2, 2]}}}],
            "aux_heads": [{"attach": "stage1", "layers": [{"gap": {}}, {"fc": {}}]}]}
    source = archc.generate_source(archc.loads(yaml.safe_dump(spec)))
    tree = ast.parse(source)
    allowed = (ast.Expr, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef, ast.If)
    assert all(isinstance(node, allowed) for node in tree.body)
    assert isinstance(tree.body[0], ast.Expr) and "write_text" in tree.body[0].value.value  # only inside the docstring
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert "write_text" not in calls
    path = tmp_path / "inert.py"
    path.write_text(source)
    subprocess.run([sys.executable, str(path)], check=True, capture_output=True, timeout=120)
    assert not marker.exists()


@pytest.mark.parametrize("field,value", [
    ("name", "x; import os"), ("name", "class"), ("name", "__init__"), ("name", "ümlaut"),
])
def test_names_reaching_source_must_be_identifiers(field, value):
    with pytest.raises(ArchcError, match="identifier"):
        archc.loads(yaml.safe_dump({field: value, "stages": [{"conv": {"out": 3}}]}))
    with pytest.raises(ArchcError, match="identifier"):
        archc.loads(yaml.safe_dump({"name": "ok", "stages": [{"conv": {"out": 3, "name": value}}]}))


def test_inception_prefix_must_make_identifiers():
    with pytest.raises(ArchcError, match="identifier"):
        archc.lower(archc.loads("name: x\nstages:\n  - inception: {prefix: 'a b', modules: {x: [1,1,1,1,1,1]}}\n"))


def test_interrupted_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    atomic_write(target, "old\n")

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("archc.io.os.replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new\n" * 1000)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_concurrent_builds_to_one_folder_do_not_corrupt(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "archc", "build", "specs/cifar/resnet20.yaml", "-o", str(out), "--no-diagram"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(3)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    json.loads((out / "summary.json").read_text())
    compile((out / "resnet20.py").read_text(), "resnet20.py", "exec")
    assert sorted(p.name for p in out.iterdir()) == [".archc-manifest.json", "resnet20.py", "summary.json"]


def test_build_is_byte_identical_across_runs(tmp_path):
    outs = []
    for run in range(2):
        out = tmp_path / f"run{run}"
        subprocess.run([sys.executable, "-m", "archc", "build", "specs/googlenet.yaml", "-o", str(out)], cwd=ROOT,
                       check=True, capture_output=True, timeout=300)
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
    assert len(outs[0]) >= 2


def test_hostile_text_in_diagrams_stays_text(tmp_path):
    import shutil

    from archc.render import dot_source

    hostile = '"]; injected [label="x"]; <b>&amp;</b> } digraph { \\" \n'
    spec = {"name": "inert", "title": hostile, "input": {"size": 16}, "classes": 3,
            "stages": [{"residual": {"block": "basic", "width": 4}}],
            "aux_heads": [{"attach": "stage1", "layers": [{"gap": {}}, {"fc": {}}]}]}
    ir = archc.lower(archc.loads(yaml.safe_dump(spec)))
    benign = archc.lower(archc.loads(yaml.safe_dump({**spec, "title": "plain title"})))
    for level in ("stage", "block", "layer"):
        hostile_dot, benign_dot = dot_source(ir, level=level), dot_source(benign, level=level)
        if shutil.which("dot"):
            svgs = [subprocess.run(["dot", "-Tsvg"], input=src, capture_output=True, text=True, timeout=60)
                    for src in (hostile_dot, benign_dot)]
            assert all(r.returncode == 0 for r in svgs), svgs[0].stderr
            assert svgs[0].stdout.count('class="node"') == svgs[1].stdout.count('class="node"')
            assert "<title>injected</title>" not in svgs[0].stdout


def test_failed_build_leaves_previous_outputs_intact(tmp_path, monkeypatch):
    from archc.build import build_outputs

    out = tmp_path / "out"
    ir = archc.lower("specs/cifar/resnet20.yaml")
    build_outputs(ir, out, diagram=False, echo=lambda s: None)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fail(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C after the source was written, before the summary

    monkeypatch.setattr("archc.build.atomic_write_json", fail)
    with pytest.raises(KeyboardInterrupt):
        build_outputs(archc.lower(archc.load("specs/cifar/resnet20.yaml", ["classes=3"])), out, diagram=False,
                      echo=lambda s: None)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left behind
