"""`archc probe` through click's CliRunner: outputs, determinism, errors, Ctrl-C, NaN."""
from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from archc.cli import main
from archc.probe.train import Trainer
from probe_helpers import TINY_NOBN, TINY_PLAIN, TINY_RES, write_cifar

FAST = ["--steps", "4", "--batch", "16", "--data", "synthetic", "--synthetic-size", "64", "--log-every", "2", "--no-progress",
        "--threads", "1"]




@pytest.fixture
def specs(tmp_path):
    paths = {}
    for name, text in (("tinyres", TINY_RES), ("tinyplain", TINY_PLAIN), ("tinynobn", TINY_NOBN)):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


def run(args):
    return CliRunner().invoke(main, ["probe", *args])


def test_probe_writes_report_json_and_figures(specs, tmp_path):
    out = tmp_path / "out"
    r = run([str(specs["tinyplain"]), str(specs["tinyres"]), *FAST, "--path-repeats", "1", "-o", str(out)])
    assert r.exit_code == 0, r.output
    names = {p.name for p in out.iterdir()}
    assert {"probe.json", "probe.md", "gradnorm_depth.svg", "training_curves.svg", "path_gradients.svg",
            "tinyres_gradnorm.svg", "tinyplain_training.svg"} <= names
    doc = json.loads((out / "probe.json").read_text())
    assert [res["label"] for res in doc["results"]] == ["tinyplain", "tinyres"]
    assert doc["results"][1]["path_gradients"]["blocks"] == 3 and doc["results"][0]["path_gradients"] is None
    md = (out / "probe.md").read_text()
    assert "# Training probe" in md and "## tinyres" in md and "![gradnorm_depth](gradnorm_depth.svg)" in md
    assert "tinyplain: completed, 4/4 steps" in r.output


def test_same_settings_give_the_same_bytes(specs, tmp_path):
    for name in ("a", "b"):
        r = run([str(specs["tinyres"]), *FAST, "--no-paths", "-o", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    for fig in ("gradnorm_depth.svg", "training_curves.svg", "tinyres_gradnorm.svg"):
        assert (tmp_path / "a" / fig).read_bytes() == (tmp_path / "b" / fig).read_bytes()
    a, b = (json.loads((tmp_path / n / "probe.json").read_text()) for n in ("a", "b"))
    for doc in (a, b):
        for res in doc["results"]:
            res.pop("timing")
            res["run"].pop("machine")
    assert a == b


def test_overrides_run_the_net_without_batch_norm(specs, tmp_path):
    r = run([str(specs["tinyres"]), *FAST, "--no-paths", "--set", "defaults.norm=none", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "probe.json").read_text())
    res = doc["results"][0]
    assert res["label"] == "tinyres without BN" and res["model"]["overrides"] == ["defaults.norm=none"]
    assert res["model"]["params"] == 6116  # conv biases instead of BN weights (as tinynobn)
    assert (tmp_path / "tinyres_without_BN_gradnorm.svg").exists()


def test_data_spec_mismatch_is_exit_2(specs, tmp_path):
    r = run([str(specs["tinyres"]), *FAST, "--data", f"folder:{tmp_path / 'missing'}", "-o", str(tmp_path / "o")])
    assert r.exit_code == 2
    assert r.output.strip().startswith("archc: error: no such folder")
    r = run([str(specs["tinyres"]), "--steps", "0"])
    assert r.exit_code == 2
    r = run([str(specs["tinyres"]), *FAST, "--compile", "--cuda-graphs"])
    assert r.exit_code == 2 and "not both" in r.output


def test_everything_refusable_is_refused_before_the_first_spec_trains(specs, tmp_path):
    """A bad second spec/data pair, an output path under a file, unreadable notes, a bad number: exit 2, and no
    spec trained first (the old behaviour trained the first spec, then lost it)."""
    write_cifar(tmp_path / "cifar", batches=1, per_batch=32)
    cifar32 = tmp_path / "cifar32.yaml"
    cifar32.write_text(TINY_RES.replace("size: 8", "size: 32").replace("classes: 4", "classes: 10")
                       .replace("name: tinyres", "name: cifar32"))
    cifar_args = ["--data", f"cifar10:{tmp_path / 'cifar'}", "-o", str(tmp_path / "o")]
    r = run([str(cifar32), str(specs["tinyres"]), *FAST, *cifar_args])
    assert r.exit_code == 2 and "completed" not in r.output
    assert "tinyres: data cifar10 has 3x32x32 images but the spec expects 3x8x8" in r.output
    (tmp_path / "afile").write_text("x")
    r = run([str(specs["tinyres"]), *FAST, "-o", str(tmp_path / "afile" / "sub")])
    assert r.exit_code == 2 and "completed" not in r.output and "afile is a file" in r.output
    (tmp_path / "notes.md").write_bytes(b"\xff\xfe not utf-8")
    r = run([str(specs["tinyres"]), *FAST, "--notes", str(tmp_path / "notes.md")])
    assert r.exit_code == 2 and "not UTF-8" in r.output
    r = run([str(specs["tinyres"]), *FAST, "--lr", "inf"])
    assert r.exit_code == 2 and "Invalid value for '--lr'" in r.output
    r = run([str(specs["tinyres"]), *FAST, "--amp", "bf16", "--dtype", "float64"])
    assert r.exit_code == 2 and "--amp 'bf16'" in r.output and "--dtype 'float64'" in r.output
    r = run([str(cifar32), *FAST, *cifar_args])  # the same data, fitting: trains
    assert r.exit_code == 0 and "completed" in r.output, r.output


def test_replot_redraws_a_finished_run_from_its_json(specs, tmp_path):
    out = tmp_path / "out"
    notes = tmp_path / "notes.md"
    notes.write_text("A note on the run.")
    r = run([str(specs["tinyres"]), *FAST, "--path-repeats", "1", "--title", "My run", "--notes", str(notes),
             "-o", str(out)])
    assert r.exit_code == 0, r.output
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "probe.md").unlink()
    (out / "training_curves.svg").unlink()
    r = CliRunner().invoke(main, ["probe", "--replot", str(out)])
    assert r.exit_code == 0 and "redrew" in r.output, r.output
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # the same bytes: title and notes come from probe.json
    (out / "probe.md").write_text("edited by hand")  # an edited report is the user's now: refused, kept
    r = CliRunner().invoke(main, ["probe", "--replot", str(out)])
    assert r.exit_code == 2 and "probe.md was changed since archc wrote it" in r.output
    assert (out / "probe.md").read_text() == "edited by hand"
    (out / "probe.md").write_bytes(before["probe.md"])
    assert CliRunner().invoke(main, ["probe", "--replot", str(out), str(specs["tinyres"])]).exit_code == 2
    r = CliRunner().invoke(main, ["probe", "--replot", str(tmp_path)])  # no probe.json there
    assert r.exit_code == 2 and "not a probe result" in r.output


def test_the_same_spec_twice_is_refused(specs):
    r = run([str(specs["tinyres"]), str(specs["tinyres"]), *FAST])
    assert r.exit_code == 2 and "tinyres given more than once" in r.output


def test_a_rerun_into_the_same_folder_removes_the_figures_it_no_longer_draws(specs, tmp_path):
    out = tmp_path / "out"
    assert run([str(specs["tinyres"]), *FAST, "--path-repeats", "1", "-o", str(out)]).exit_code == 0
    assert (out / "path_gradients.svg").exists() and (out / "tinyres_paths.svg").exists()
    (out / "my_notes.txt").write_text("kept")  # not the probe's: left alone
    assert run([str(specs["tinyplain"]), *FAST, "-o", str(out)]).exit_code == 0
    names = {p.name for p in out.iterdir()}
    assert "path_gradients.svg" not in names and "tinyres_paths.svg" not in names and "tinyres_gradnorm.svg" not in names
    assert {"tinyplain_gradnorm.svg", "my_notes.txt", "probe.json"} <= names
    assert sorted(json.loads((out / "probe.json").read_text())["files"]) == sorted(
        n for n in names if n not in ("my_notes.txt", ".archc-manifest.json"))


def test_report_wording_follows_the_run(specs, tmp_path):
    r = run([str(specs["tinyres"]), *FAST, "--no-paths", "--optimizer", "adam", "--lr", "0.001",
             "--title", "  two\nlines ", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "probe.md").read_text()
    assert md.startswith("# two lines\n")
    assert "ADAM lr 0.001 (constant schedule), betas (0.9, 0.999)" in md and "momentum" not in md.split("\n")[2]
    assert "after step 1, so compilation and warm-up excluded" in md


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_exit_2(specs):
    r = run([str(specs["tinyres"]), *FAST, "--device", "cuda"])
    assert r.exit_code == 2 and "CUDA is not available" in r.output


def test_ctrl_c_writes_what_was_measured_and_exits_130(specs, tmp_path, monkeypatch):
    real = Trainer.compute
    calls = [0]

    def interrupted(self, x, y):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return real(self, x, y)

    monkeypatch.setattr(Trainer, "compute", interrupted)
    r = run([str(specs["tinyres"]), str(specs["tinyplain"]), *FAST, "--no-paths", "-o", str(tmp_path)])
    assert r.exit_code == 130
    doc = json.loads((tmp_path / "probe.json").read_text())
    assert len(doc["results"]) == 1  # the second spec never started
    res = doc["results"][0]
    assert res["status"] == "interrupted" and res["steps_done"] == 2 and res["norm_steps"] == [1, 2]
    assert "interrupted" in (tmp_path / "probe.md").read_text()


def test_divergence_is_reported_not_fatal(specs, tmp_path):
    r = run([str(specs["tinynobn"]), *FAST, "--steps", "30", "--lr", "10000", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "warning: tinynobn: non-finite" in r.output
    md = (tmp_path / "probe.md").read_text()
    assert "stopped: NaN/Inf" in md and "where it stopped" in md
