"""Command-line arguments of the hostile kinds a second attack found: bytes that are not UTF-8, newlines that
would forge a second message line, key paths deeper than any spec, worker and thread counts without bound."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from archc.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("args", [["validate", "specs/resnet18.yaml", "--set", "title=A\udcffB"],
                                  ["build", "t\udcff.yaml"], ["analyze", "specs/resnet18.yaml", "--set",
                                                               "name=x\udcff"]])
def test_arguments_that_are_not_utf8_are_refused_in_one_line(args):
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "not valid UTF-8" in r.output


def test_a_real_non_utf8_argument_from_the_shell():
    done = subprocess.run([sys.executable, "-m", "archc", "validate", "specs/resnet18.yaml", "--set",
                           b"title=A\xffB"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "not valid UTF-8" in done.stderr and "Traceback" not in done.stderr


def test_a_newline_in_a_name_cannot_forge_a_second_message_line():
    r = CliRunner().invoke(main, ["validate", "resnet18\nfake: 1:1: injected"])
    assert r.exit_code == 2
    errors = [line for line in r.output.splitlines() if line.startswith("archc: error")]
    assert len(errors) == 1 and "resnet18\\nfake" in errors[0]
    assert not any(line.startswith("fake:") for line in r.output.splitlines())


def test_a_set_key_path_deeper_than_any_spec_is_refused_quickly():
    r = CliRunner().invoke(main, ["validate", "specs/resnet18.yaml", "--set", "a." * 1000 + "b=1"])
    assert r.exit_code == 2 and "1001 components" in r.output and "internal error" not in r.output


@pytest.mark.parametrize("args", [["analyze", "specs/resnet18.yaml", "-j", "99999999999"],
                                  ["probe", "cifar/resnet20", "--threads", "99999999999"],
                                  ["probe", "cifar/resnet20", "--threads", "5000"]])
def test_worker_and_thread_counts_are_bounded(args, tmp_path):
    r = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "o")])
    assert r.exit_code == 2 and "internal error" not in r.output and not (tmp_path / "o").exists()


def test_a_long_chain_of_vars_costs_linear_memory():
    """v1: ${v0}, v2: ${v1}, ... 11,000 deep: the dependency record once grew with the square of the chain
    (2.9 GB); the transitive closure is now taken only when an error message needs it."""
    import tracemalloc

    import archc

    lines = ["archc: 1", "name: t", "input: {channels: 3, size: 8}", "classes: 2", "vars:", "  v0: 1"]
    lines += [f"  v{i}: '${{v{i - 1}}}'" for i in range(1, 11_000)]
    lines += ["stages:", "  - conv: {out: '${v10999}', kernel: 3}", "head:", "  - gap: {}", "  - fc: {}"]
    tracemalloc.start()
    try:
        spec = archc.loads("\n".join(lines) + "\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert spec.stages[0].conv.out == 1 and peak < 300 * 2**20


def test_a_net_too_large_to_build_is_refused_by_validate():
    """Two 1x1 convs of 200,000 channels: 40 G parameters (160 GB of float32) passed `validate` under the old
    50 G limit and could only fail in `build`."""
    spec = ("archc: 1\nname: wide\ninput: {channels: 3, size: 8}\nclasses: 2\nstages:\n"
            "  - conv: {out: 200000, kernel: 1}\n  - conv: {out: 200000, kernel: 1}\n"
            "head:\n  - gap: {}\n  - fc: {}\n")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.yaml"
        path.write_text(spec)
        r = CliRunner().invoke(main, ["validate", str(path)])
    assert r.exit_code == 2 and "at most 2,000,000,000" in r.output
