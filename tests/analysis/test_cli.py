"""`archc analyze` and `archc compare` through click's CliRunner: outputs, JSON, probe hook, exit codes."""
import json
import sys
import types

import pytest
from click.testing import CliRunner

from archc.cli import main

FAST = ["--no-init", "--no-fvcore"]


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_analyze_one_spec_writes_report_files(tmp_path):
    result = run("analyze", "cifar/resnet20", "-o", str(tmp_path), "--fvcore")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "cifar" / "resnet20"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [".archc-manifest.json", "cost_per_stage.svg", "paths.svg", "report.json", "report.md",
                     "savings_blocks.svg"]
    report = json.loads((folder / "report.json").read_text())
    assert report["complexity"]["total"]["params"] == 269_722  # He et al. Table 6: 0.27M
    assert report["paths"]["outputs"]["output"]["paths"] == 2 ** 9
    assert report["fvcore"]["all_equal"] is True
    md = (folder / "report.md").read_text()
    assert "| output | 512 |" in md and "![path lengths](paths.svg)" in md
    assert "resnet20" in result.output and "fvcore conv+fc: equal" in result.output


def test_analyze_json_on_stdout_at_another_input_size(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("analyze", "resnet18", "--json", "--input-size", "112", *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["input"] == [3, 112, 112]
    assert report["complexity"]["ops"][0]["path"] == "stem.conv1.conv"
    assert report["complexity"]["ops"][0]["macs"] == 7 * 7 * 3 * 64 * 56 * 56
    assert not list(tmp_path.iterdir())  # --json writes nothing


def test_set_and_input_size_go_to_build_reports_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("analyze", "cifar/plain20", "--set", "vars.n=1", *FAST)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "build" / "reports" / "plain8" / "report.json").read_text())  # 6n+2, n=1
    assert report["paths"]["outputs"]["output"]["layers"]["max"] == 6 + 2
    assert report["overrides"] == ["vars.n=1"] and report["title"] == "Plain-8 (CIFAR-10, n = 1)"


@pytest.mark.parametrize("args, needle", [
    (["analyze", "no_such_spec"], "no such spec"),
    (["analyze", "resnet18", "--input-size", "0"], "bad --input-size"),
    (["analyze", "resnet18", "--input-size", "big"], "bad --input-size"),
    (["analyze", "resnet18", "--window", "9:3"], "bad --window"),
    (["analyze", "resnet18", "--set", "stages.0.residual.width=-4"], "width"),
    (["analyze", "googlenet", "--input-size", "32"], "googlenet"),  # the 7x7 head pool no longer fits
    (["compare", "resnet18", "no_such_spec"], "no such spec"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle):
    result = run(*args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("archc: error:")
    assert needle in lines[0]


def test_probe_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "archc.probe", None)  # as if the probe package were absent
    result = run("analyze", "cifar/resnet20", "--probe", *FAST)
    assert result.exit_code == 2
    assert "--probe needs the training probe" in result.output


def test_probe_result_goes_into_the_report(tmp_path, monkeypatch):
    calls = []

    class Result:
        def markdown_section(self, settings=False):
            return "## Training probe\n\nfake probe section" + ("\n\nfake settings" if settings else "")

        def to_dict(self):
            return {"steps": 3}

        def plots(self, out_dir, formats):
            path = out_dir / "probe_grad_norms.svg"
            path.write_text("<svg/>")
            return [path]

    fake = types.ModuleType("archc.probe")
    fake.ProbeConfig = lambda **settings: ("config", settings)
    fake.run_probe = lambda model, config: calls.append((model.name, config)) or Result()
    monkeypatch.setitem(sys.modules, "archc.probe", fake)
    result = run("analyze", "cifar/resnet20", "--probe", "--probe-steps", "7", "-o", str(tmp_path), *FAST)
    assert result.exit_code == 0, result.output
    assert calls == [("resnet20", ("config", {"steps": 7, "batch": 128, "data": "digits"}))]
    folder = tmp_path / "cifar" / "resnet20"
    assert json.loads((folder / "report.json").read_text())["probe"] == {"steps": 3}
    md = (folder / "report.md").read_text()
    assert "## Training probe (archc.probe)" in md and "fake probe section" in md and "fake settings" in md
    assert "![probe_grad_norms](probe_grad_norms.svg)" in md
    assert (folder / "probe_grad_norms.svg").is_file()  # the probe's plots are not swept away as stale


def test_compare_side_by_side():
    result = run("compare", "plain34", "resnet34")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "| stage1: plain basic x3 |" in out and "| stage1: residual basic x3 |" in out
    assert "| paths | 1 | 65,536 |" in out  # 16 residual blocks: 2^16
    assert "| params | 21,623,848 | 21,797,672 |" in out  # the projections add 173,824 parameters
    data = json.loads(run("compare", "plain34", "resnet34", "--json").output)
    assert data["raw"]["b"]["paths"] == 2 ** 16


def test_analyze_several_specs_in_worker_processes(tmp_path):
    result = run("analyze", "cifar/resnet20", "cifar/plain20", "-o", str(tmp_path), "-j", "2", *FAST)
    assert result.exit_code == 0, result.output
    for name in ("resnet20", "plain20"):
        assert (tmp_path / "cifar" / name / "report.md").is_file()
    assert not (tmp_path / "index.md").exists()  # the index is for the full bundled set


def test_compare_says_which_spec_an_override_failed_on():
    result = run("compare", "resnet18", "cifar/resnet20", "--set", "vars.n=5")
    assert result.exit_code == 2
    assert "unknown variable 'n' (in resnet18; --set applies to both specs)" in result.output


def test_slow_analyses_are_opt_in_and_the_report_says_what_was_skipped(tmp_path):
    result = run("analyze", "cifar/resnet20", "-o", str(tmp_path))
    assert result.exit_code == 0, result.output
    folder = tmp_path / "cifar" / "resnet20"
    report = json.loads((folder / "report.json").read_text())
    assert "fvcore" not in report and "init" not in report
    assert [s["option"] for s in report["skipped"]] == ["--fvcore", "--init"]
    md = (folder / "report.md").read_text()
    assert ("Not run (opt-in, slower: they build the torch module): fvcore cross-check (`--fvcore`); signal "
            "propagation at initialisation (`--init`). `--full` runs every analysis.") in md
    assert "init_propagation.svg" not in {p.name for p in folder.iterdir()}
    full = run("analyze", "cifar/resnet20", "-o", str(tmp_path / "full"), "--full", "--no-init")
    assert full.exit_code == 0, full.output
    report = json.loads((tmp_path / "full" / "cifar" / "resnet20" / "report.json").read_text())
    assert report["fvcore"]["all_equal"] is True and "init" not in report
    assert report["skipped"] == [{"analysis": "signal propagation at initialisation", "option": "--init"}]


def test_the_committed_reports_get_every_analysis_by_default(monkeypatch):
    from archc.analysis import cli as analysis_cli

    seen = {}

    def fake_run_jobs(jobs, options, root, workers, echo):
        seen["options"] = options
        return []

    monkeypatch.setattr("archc.analysis.batch.run_jobs", fake_run_jobs)
    assert run("analyze", "cifar/resnet20").exit_code == 0
    assert seen["options"].fvcore and seen["options"].init  # into the repository's reports/
    assert run("analyze", "cifar/resnet20", "--no-init").exit_code == 0
    assert seen["options"].fvcore and not seen["options"].init
    assert analysis_cli._choose(None, False, False) is False
