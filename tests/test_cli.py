"""The CLI as a user drives it: build, validate, list, schema, exit codes, --debug."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archc.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_build_writes_source_and_summary(tmp_path):
    out = tmp_path / "r18"
    result = run("build", "specs/resnet18.yaml", "-o", str(out), "--set", "classes=10", "--no-diagram", "--check")
    assert result.exit_code == 0, result.output
    assert "stage4" in result.output and "11,181,642" in result.output  # 11,689,512 - 513*990
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"] == 11_689_512 - 513 * 990
    assert summary["flops"] == 2 * summary["macs"]
    assert [s["name"] for s in summary["stages"]] == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert (out / "resnet18.py").read_text().startswith('"""ResNet-18')
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == [".archc-manifest.json"]  # no temp files


def test_build_by_bundled_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("build", "resnet18", "--no-diagram")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "build" / "resnet18" / "summary.json").exists()


def test_validate_many_and_report_each():
    result = run("validate", "specs/resnet18.yaml", "specs/resnet50.yaml")
    assert result.exit_code == 0
    assert result.output.count("ok  ") == 2


def test_validate_mixed_good_and_bad_exits_2():
    result = run("validate", "specs/resnet18.yaml", "tests/bad_specs/unknown_key.yaml")
    assert result.exit_code == 2
    assert "ok  specs/resnet18.yaml" in result.output
    assert "did you mean 'block'" in result.output


def test_validate_does_not_import_torch():
    code = ("import sys; from archc.cli import main\n"
            "try:\n    main(['validate', 'specs/resnet152.yaml'], prog_name='archc')\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nprint('no torch')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "no torch" in result.stdout


def test_list_shows_bundled_specs():
    result = run("list")
    assert result.exit_code == 0
    line = next(l for l in result.output.splitlines() if l.startswith("resnet50 "))
    assert "25.56M" in line
    names = [l.split()[0] for l in result.output.splitlines()]
    # numbers sort as numbers, ImageNet nets before the CIFAR folder
    assert names.index("resnet18") < names.index("resnet50") < names.index("resnet101") < names.index("cifar/plain20")
    assert names.index("cifar/resnet20") < names.index("cifar/resnet56") < names.index("cifar/resnet110")


def test_schema_is_json():
    result = run("schema")
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "archc spec"


def test_missing_spec_and_bad_option_exit_2():
    assert run("build", "no/such/spec.yaml").exit_code == 2
    assert run("build", "specs/resnet18.yaml", "--seed", "x").exit_code == 2


def test_debug_shows_traceback():
    result = subprocess.run([sys.executable, "-m", "archc", "--debug", "validate", "tests/bad_specs/empty.yaml"],
                            cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    plain = subprocess.run([sys.executable, "-m", "archc", "validate", "tests/bad_specs/empty.yaml"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr


def test_python_m_archc_help():
    result = subprocess.run([sys.executable, "-m", "archc", "--help"], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0
    for command in ("build", "validate", "list", "schema"):
        assert command in result.stdout


@pytest.mark.parametrize("args", [["build", "cifar/resnet20", "-o", "{f}/sub"],
                                  ["diagram", "cifar/resnet20", "-o", "{f}/x.svg"],
                                  ["analyze", "cifar/resnet20", "--no-fvcore", "--no-init", "-o", "{f}/r"],
                                  ["figures", "-o", "{f}/r"]], ids=["build", "diagram", "analyze", "figures"])
def test_an_output_path_under_a_file_is_refused_before_any_work(args, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = run(*[a.format(f=blocker) for a in args])
    assert result.exit_code == 2, result.output
    assert "afile is a file" in result.output and "wrote" not in result.output
    assert blocker.read_text() == "x"


def test_a_trailing_slash_makes_diagram_output_a_folder(tmp_path):
    result = run("diagram", "cifar/resnet20", "-f", "dot", "-o", f"{tmp_path / 'figs.v3'}/")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "figs.v3" / "resnet20.dot").is_file()
