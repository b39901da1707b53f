"""The probe as lecture evidence: held-out test data, evaluation that leaves training alone, the real default
data (digits), the lecture presets, figures that show what was run, replots of a subset, thread choice."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import archc
from archc.cli import main
from archc.probe.figure_set import comparison_plots
from archc.probe import ProbeConfig, ProbeData, ProbeResult, load_data, plots, run_probe
from archc.probe import hardware
from archc.probe.evaluate import evaluate
from archc.probe.experiments import EXPERIMENTS
from archc.probe.holdout import hold_out, split_indices
from archc.probe.naming import run_label, unique_slugs
from probe_helpers import TINY_PLAIN, TINY_RES, model, write_cifar

FAST = ["--steps", "4", "--batch", "16", "--data", "synthetic", "--synthetic-size", "80", "--log-every", "2",
        "--no-progress", "--threads", "1", "--no-paths"]


def run(*args):
    return CliRunner().invoke(main, ["probe", *args])


# ---------------------------------------------------------------- the held-out split


def test_split_is_disjoint_complete_stratified_and_stable_for_a_seed():
    labels = torch.arange(103) % 4  # 26, 26, 26, 25 images per class
    train, test = split_indices(labels, 4, 0.2, seed=3)
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(103))
    assert torch.bincount(labels[test], minlength=4).tolist() == [5, 5, 5, 5]  # round(0.2 x 26) and round(0.2 x 25)
    again_train, again_test = split_indices(labels, 4, 0.2, seed=3)
    assert torch.equal(test, again_test) and torch.equal(train, again_train)
    _, other = split_indices(labels, 4, 0.2, seed=4)
    assert not torch.equal(test, other)


def test_digits_is_the_default_real_data_with_a_held_out_part():
    data = load_data(ProbeConfig().data, (3, 16, 16), 10)
    assert data.name == "digits" and len(data) + len(data.test) == 1797  # scikit-learn's digits, all of them
    assert len(data.test) == 359  # round(0.2 x n) of each of the ten classes
    train_pixels = {bytes(img.numpy()) for img in data.images}
    # no image of the test part is an image of the training part (by index; digits holds a few exact duplicates)
    assert sum(bytes(img.numpy()) in train_pixels for img in data.test.images) <= 3
    fitted = data.check_against((3, 16, 16), 10, 32)
    batch = fitted.normalize(fitted.images[:4])
    assert batch.shape == (4, 3, 16, 16) and torch.equal(batch[:, 0], batch[:, 2])  # grey copied to 3 channels
    assert any("upsampled bilinearly to 16x16" in note for note in fitted.notes)
    # the test part is normalised with the training part's statistics
    assert torch.equal(fitted.test.mean, fitted.mean) and torch.equal(fitted.test.std, fitted.std)


def test_cifar_test_batch_and_a_split_image_folder_keep_their_own_test_part(tmp_path):
    from PIL import Image

    write_cifar(tmp_path / "c", batches=2, per_batch=12)
    rng = np.random.default_rng(1)
    test = {b"data": rng.integers(0, 256, size=(7, 3072), dtype=np.uint8), b"labels": [1] * 7}
    with open(tmp_path / "c" / "test_batch", "wb") as handle:
        pickle.dump(test, handle, protocol=2)
    data = load_data(f"cifar10:{tmp_path / 'c'}", (3, 32, 32), 10)
    assert len(data) == 24 and len(data.test) == 7 and "own test batch" in data.split
    assert torch.equal(data.test.images.reshape(7, -1), torch.from_numpy(test[b"data"]))
    for part, count in (("train", 3), ("test", 2)):
        for cls in ("a", "b"):
            (tmp_path / "f" / part / cls).mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / "f" / part / cls / f"{i}.png")
    data = load_data(f"folder:{tmp_path / 'f'}", (3, 8, 8), 2)
    assert len(data) == 6 and len(data.test) == 4 and "own test/ part" in data.split
    assert hold_out(data, 0.0, 0) is data  # --test-fraction 0: nothing held out


# ---------------------------------------------------------------- evaluation leaves training alone


def test_evaluation_runs_in_eval_mode_without_gradients_and_changes_nothing():
    net = archc.compile(archc.loads(TINY_RES), seed=0).train()
    data = ProbeData(torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8), torch.arange(20) % 4, 4, "t")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    seen = []
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.register_forward_hook(lambda m, i, o: seen.append((m.training, torch.is_grad_enabled())))
    from contextlib import nullcontext

    loss, error = evaluate(net, data, data.images, data.labels, 8, torch.float32, nullcontext)
    assert seen and all(mode == (False, False) for mode in seen)  # eval mode, no autograd graph
    assert net.training and all(p.grad is None for p in net.parameters())
    after = net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BN running statistics
    # the figures are those of an independent count: eval-mode logits scored by hand
    net.eval()
    with torch.no_grad():
        logits = net(data.normalize(data.images))
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, data.labels)), rel=1e-5)
    assert error == pytest.approx(float((logits.argmax(1) != data.labels).float().mean()))


def test_testing_during_training_does_not_change_the_training_run():
    config = ProbeConfig(steps=6, batch=16, data="synthetic", synthetic_size=96, log_every=2, progress=False,
                         path_gradients=False, threads=1)
    tested = run_probe(model(TINY_RES), config)
    untested = run_probe(model(TINY_RES), ProbeConfig(**{**config.to_dict(), "evaluate": False}))
    assert tested.loss == untested.loss and tested.norms == untested.norms
    assert tested.test_steps == [0, 2, 4, 6] and untested.test_steps == []
    assert all(0 <= e <= 1 for e in tested.test_error) and len(tested.test_loss) == 4
    doc = tested.to_dict()
    assert doc["test_steps"] == [0, 2, 4, 6] and doc["summary"]["final_test_error"] == tested.test_error[-1]
    assert ProbeResult.from_dict(json.loads(json.dumps(doc))).test_error == tested.test_error


def test_lr_schedules():
    step = ProbeConfig(steps=100, lr=0.1, lr_schedule="step")
    assert [step.lr_at(s) for s in (1, 50, 51, 75, 76, 100)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    cosine = ProbeConfig(steps=100, lr=0.1, lr_schedule="cosine")
    assert cosine.lr_at(1) == pytest.approx(0.1) and cosine.lr_at(51) == pytest.approx(0.05)
    assert cosine.lr_at(100) < 1e-4 and ProbeConfig(lr=0.3).lr_at(77) == 0.3
    with pytest.raises(ValueError, match="constant"):
        ProbeConfig(cuda_graphs=True, lr_schedule="cosine")


# ---------------------------------------------------------------- threads


def test_threads_never_exceed_the_free_cores(monkeypatch):
    monkeypatch.setattr(hardware, "usable_cores", lambda: 8)
    monkeypatch.setattr(hardware, "busy_cores", lambda: 0.0)
    assert hardware.choose_threads(1)[0] == 8 and hardware.choose_threads(2)[0] == 4
    monkeypatch.setattr(hardware, "busy_cores", lambda: 3.2)  # other work keeps 3 cores busy
    threads, why = hardware.choose_threads(1)
    assert threads == 5 and "load 3.2" in why
    assert hardware.choose_threads(2)[0] == 2
    monkeypatch.setattr(hardware, "busy_cores", lambda: 20.0)
    assert hardware.choose_threads(1)[0] == 1
    assert hardware.choose_threads(1, requested=3) == (3, "set with --threads")


def test_run_probe_sets_threads_only_for_the_run():
    before = torch.get_num_threads()
    result = run_probe(model(TINY_RES), ProbeConfig(steps=1, batch=8, data="synthetic", synthetic_size=40,
                                                    progress=False, path_gradients=False, threads=1))
    assert result.run["machine"]["torch_threads"] == 1 and torch.get_num_threads() == before


# ---------------------------------------------------------------- names, presets, figures


def test_labels_say_what_was_run():
    assert run_label("plain56", "Plain-56 (CIFAR-10, n = 9)", ["defaults.norm=none"]) == "Plain-56 without BN"
    assert run_label("resnet20", "ResNet-20 (CIFAR-10, n = 3)", []) == "ResNet-20"
    assert run_label("tiny", "", ["classes=5"]) == "tiny (classes=5)"
    assert unique_slugs(["a b", "a/b", "A_B", "c"]) == ["a_b", "a_b_2", "A_B_3", "c"]
    assert unique_slugs(["X Y", "X_Y", "X_Y_2"]) == ["X_Y", "X_Y_2", "X_Y_2_2"]  # a label that reads numbered


def test_the_degradation_presets_name_the_lecture_nets():
    bn, nobn = EXPERIMENTS["degradation"], EXPERIMENTS["degradation-nobn"]
    assert bn.specs == nobn.specs == ("cifar/plain20", "cifar/plain56", "cifar/resnet20", "cifar/resnet56")
    assert "defaults.norm=none" in nobn.overrides and "defaults.norm=none" not in bn.overrides
    assert bn.settings["data"] == "digits"
    for spec in bn.specs:  # every preset spec lowers with the preset's overrides
        archc.lower(archc.load(f"specs/{spec}.yaml", nobn.overrides))


def test_experiment_overrides_given_again_replace_the_presets_and_the_report_names_the_size():
    nobn = EXPERIMENTS["degradation-nobn"]
    merged = nobn.with_overrides(("input.size=32", "classes=5"))
    assert merged == ("defaults.norm=none", "input.size=32", "classes=5")  # one input.size, the user's
    bn = EXPERIMENTS["degradation"]
    at32 = bn.describe(bn.with_overrides(("input.size=32",)))
    assert "brought to 32x32 pixels" in at32 and "16x16" not in at32
    assert "brought to 16x16 pixels" in bn.describe(bn.with_overrides(()))


def test_experiment_runs_its_nets_and_options_given_win(tmp_path):
    out = tmp_path / "deg"
    r = run("--experiment", "degradation-nobn", "--steps", "2", "--log-every", "2", "--batch", "8",
            "--no-progress", "--threads", "1", "--no-paths", "-o", str(out))
    assert r.exit_code == 0, r.output
    doc = json.loads((out / "probe.json").read_text())
    assert [res["label"] for res in doc["results"]] == ["Plain-20 without BN", "Plain-56 without BN",
                                                        "ResNet-20 without BN", "ResNet-56 without BN"]
    first = doc["results"][0]
    assert first["config"]["steps"] == 2 and first["config"]["batch"] == 8  # given here: they win
    assert first["config"]["lr_schedule"] == EXPERIMENTS["degradation-nobn"].settings["lr_schedule"]
    assert first["model"]["input"] == [3, 16, 16] and first["data"]["name"] == "digits"
    assert first["test_steps"] == [0, 2] and len(first["test_error"]) == 2
    md = (out / "probe.md").read_text()
    assert md.startswith(f"# {EXPERIMENTS['degradation-nobn'].title}\n") and "held out" in md
    assert "degradation experiment of He et al." not in md  # the no-BN twin is not titled as the experiment
    assert run("--experiment", "degradation", "cifar/plain20").exit_code == 2


def _fake(ir, label: str, kind: str, norm_layers: int = 4, depth: int = 4) -> ProbeResult:
    result = ProbeResult(name=ir.name, label=label, config=ProbeConfig(steps=20, progress=False), layers=[],
                         loss=[1.0] * 20, acc=[0.5 + 0.02 * s for s in range(20)], test_steps=[0, 10, 20],
                         test_loss=[2.0, 1.0, 0.5], test_error=[0.9, 0.4, 0.3],
                         model={"residual_blocks": 3 if kind == "residual" else 0, "norm_layers": norm_layers,
                                "depth": depth})
    return result


@pytest.fixture
def figures(monkeypatch):
    caught = {}
    monkeypatch.setattr(plots, "save", lambda fig, base, formats: caught.__setitem__(base.name, fig) or [])
    return caught


def test_error_figure_has_a_panel_per_kind_thin_training_and_bold_test(figures):
    runs = [_fake(model(TINY_PLAIN), "plain-4", "plain"), _fake(model(TINY_RES), "res-4", "residual"),
            _fake(model(TINY_PLAIN), "plain-8", "plain", depth=8)]
    comparison_plots(runs, __import__("pathlib").Path("unused"))
    fig = figures["error_curves"]
    plain, residual = fig.axes[:2]
    assert plain.get_title() == "plain nets" and residual.get_title().startswith("residual nets")
    assert [t.get_text() for t in plain.get_legend().get_texts()] == ["plain-4", "plain-8"]
    assert [t.get_text() for t in residual.get_legend().get_texts()] == ["res-4"]
    thin, bold = plain.get_lines()[:2]
    assert thin.get_linewidth() < bold.get_linewidth()
    assert list(bold.get_xdata()) == [0, 10, 20] and list(bold.get_ydata()) == pytest.approx([90, 40, 30])
    # the same depth has the same colour in both panels
    assert residual.get_lines()[1].get_color() == bold.get_color()
    assert "degradation experiment" in fig._suptitle.get_text()
    nobn = [_fake(model(TINY_PLAIN), "p", "plain", norm_layers=0), _fake(model(TINY_RES), "r", "residual", 0)]
    comparison_plots(nobn, __import__("pathlib").Path("unused"))
    title = figures["error_curves"]._suptitle.get_text()
    assert "without batch norm" in title and "degradation" not in title


def test_replot_of_a_subset_draws_only_that_subset_in_its_order(tmp_path):
    specs = {}
    for name, text in (("tinyres", TINY_RES), ("tinyplain", TINY_PLAIN)):
        specs[name] = tmp_path / f"{name}.yaml"
        specs[name].write_text(text)
    out = tmp_path / "out"
    assert run(str(specs["tinyplain"]), str(specs["tinyres"]), *FAST, "-o", str(out)).exit_code == 0
    sub = tmp_path / "sub"
    r = run("--replot", str(out), "--runs", "tinyres", "--title", "Only the residual net", "-o", str(sub))
    assert r.exit_code == 0, r.output
    md = (sub / "probe.md").read_text()
    assert md.startswith("# Only the residual net\n") and "| tinyres |" in md and "| tinyplain |" not in md
    assert not list(sub.glob("tinyplain_*")) and list(sub.glob("tinyres_*"))
    svg = (sub / "error_curves.svg").read_text()
    assert "tinyres" in svg and "tinyplain" not in svg
    doc = json.loads((sub / "probe.json").read_text())
    assert doc["shown"] == ["tinyres"] and len(doc["results"]) == 2  # every measurement is kept
    r = run("--replot", str(out), "--runs", "tinyres,tinyplain", "-o", str(sub))
    assert r.exit_code == 0, r.output
    md = (sub / "probe.md").read_text()
    assert md.index("| tinyres |") < md.index("| tinyplain |")
    assert list(sub.glob("tinyplain_*"))  # now shown, so drawn
    r = run("--replot", str(out), "--runs", "nosuch")
    assert r.exit_code == 2 and "one of: tinyplain (tinyplain); tinyres (tinyres)" in r.output


def test_a_probe_removes_only_figures_whose_bytes_it_wrote(tmp_path):
    from archc.outdir import MANIFEST

    spec = tmp_path / "tinyres.yaml"
    spec.write_text(TINY_RES)
    out = tmp_path / "out"
    assert run(str(spec), *FAST, "-o", str(out)).exit_code == 0
    mine = out / "tinyres_gradnorm.svg"
    mine.write_text("the user's edit")  # no longer the bytes the probe wrote
    precious = out / "precious.txt"
    precious.write_text("not archc's")
    manifest = json.loads((out / MANIFEST).read_text())
    forged = json.dumps(manifest).replace('"tinyres_training.svg"', '"precious.txt"')  # a record naming it
    (out / MANIFEST).write_text(forged)
    assert run(str(spec), *FAST, "--title", "again", "-o", str(out), "--format", "png").exit_code == 0
    assert precious.read_text() == "not archc's" and mine.read_text() == "the user's edit"
    assert not (out / "training_curves.svg").exists()  # its own unchanged figure of the earlier run: removed
    assert (out / "training_curves.png").exists()
    (out / "probe.md").unlink()
    (out / "probe.md").write_text("a file of the user's now")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "probe.md").write_text("the user's")
    r = run(str(spec), *FAST, "-o", str(tmp_path / "elsewhere"))
    assert r.exit_code == 2 and "archc did not write it" in r.output  # refused before training
    assert (tmp_path / "elsewhere" / "probe.md").read_text() == "the user's"


@pytest.mark.parametrize("option", [["--lr", "1e39"], ["--wd", "1e308"], ["--seed", "99999999999999999999999"],
                                    ["--seed", "-1"], ["--threads", "0"], ["--test-fraction", "1"],
                                    ["--lr-schedule", "linear"]])
def test_out_of_range_options_are_refused_before_training(option, tmp_path):
    r = run("cifar/resnet20", *option, "-o", str(tmp_path / "o"))
    assert r.exit_code == 2 and "Traceback" not in r.output and not (tmp_path / "o").exists()


@pytest.mark.parametrize("kw, message", [({"lr": 1e39}, "lr must be"), ({"weight_decay": 1e308}, "weight_decay"),
                                         ({"seed": 2**40}, "seed must be"), ({"test_fraction": 1.0}, "test_fraction"),
                                         ({"threads": 0}, "threads")])
def test_config_refuses_values_torch_cannot_take(kw, message):
    with pytest.raises(ValueError, match=message):
        ProbeConfig(**kw)


# ---------------------------------------------------------------- hostile data (issue 10, kind 12)


@pytest.mark.parametrize("batch, message", [
    ({b"data": np.full((2, 3072), np.nan), b"labels": [0, 1]}, "pixel data of type float64"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0.5, 1.0]}, "not a flat list of integers"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [-1, 1]}, "out of range"),
    ({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}, "no images"),
    ([1, 2, 3], "not a CIFAR-10 batch"),
])
def test_malformed_cifar_batches_are_located_errors(tmp_path, batch, message):
    from archc.probe.data import DataError, cifar10

    (tmp_path / "c").mkdir()
    with open(tmp_path / "c" / "data_batch_1", "wb") as handle:
        pickle.dump(batch, handle, protocol=2)
    with pytest.raises(DataError, match=message):
        cifar10(tmp_path / "c")


def test_a_cifar_pickle_of_shared_lists_is_refused_before_it_expands(tmp_path):
    """28 levels of [l, l] pickle to a few hundred bytes and expand to 2^28 elements in numpy."""
    from archc.probe.data import DataError, cifar10

    nested: object = 0
    for _ in range(28):
        nested = [nested, nested]
    (tmp_path / "c").mkdir()
    for key in (b"data", b"labels"):
        batch = {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]}
        batch[key] = nested
        blob = pickle.dumps(batch, protocol=2)
        assert len(blob) < 5_000  # with the 3 KB pixel array beside it
        (tmp_path / "c" / "data_batch_1").write_bytes(blob)
        with pytest.raises(DataError, match="numpy array|flat list"):
            cifar10(tmp_path / "c")


@pytest.mark.parametrize("meta", [{b"label_names": "airplane"}, [b"a", b"b"], {b"label_names": [b"only"]}])
def test_malformed_cifar_meta_is_a_located_error(tmp_path, meta):
    from archc.probe.data import DataError, cifar10

    write_cifar(tmp_path / "c", batches=1, per_batch=4)
    with open(tmp_path / "c" / "batches.meta", "wb") as handle:
        pickle.dump(meta, handle, protocol=2)
    with pytest.raises(DataError, match="class names"):
        cifar10(tmp_path / "c")


def test_extreme_images_are_read_small_or_refused(tmp_path):
    from PIL import Image

    from archc.probe.data import DataError, image_folder

    for cls in ("a", "b"):
        (tmp_path / "f" / cls).mkdir(parents=True)
        Image.new("L", (100_000, 1), 200).save(tmp_path / "f" / cls / "strip.png")  # a 1 x 100,000 strip
    data = image_folder(tmp_path / "f", (3, 16, 16))
    assert data.images.shape == (2, 3, 16, 16) and int(data.images.min()) == 200
    Image.new("1", (9_000, 9_000)).save(tmp_path / "f" / "a" / "bomb.png")  # 81 M pixels in a few KB
    assert (tmp_path / "f" / "a" / "bomb.png").stat().st_size < 100_000
    with pytest.raises(DataError, match="at most 64,000,000 pixels"):
        image_folder(tmp_path / "f", (3, 16, 16))


def test_titles_and_labels_reach_probe_md_as_text(tmp_path):
    spec = tmp_path / "tinyres.yaml"
    spec.write_text(TINY_RES)
    hostile = "T <script>alert(1)</script> [x](javascript:alert(1))"
    r = run(str(spec), *FAST, "--title", hostile, "-o", str(tmp_path / "o"))
    assert r.exit_code == 0, r.output
    md = (tmp_path / "o" / "probe.md").read_text()
    assert "<script>" not in md and "[x](javascript" not in md and md.startswith("# T &lt;script&gt;")


# ---------------------------------------------------------------- found by a new user's try (issue 11)


def _tiny_specs(tmp_path):
    paths = {}
    for name, text in (("tinyres", TINY_RES), ("tinyplain", TINY_PLAIN)):
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


def test_a_users_file_named_like_a_figure_is_refused_before_training(tmp_path):
    specs = _tiny_specs(tmp_path)
    out = tmp_path / "m2"
    out.mkdir()
    (out / "error_curves.svg").write_text("mine")
    (out / "tinyres_paths.svg").write_text("mine too")
    r = run(str(specs["tinyres"]), *FAST, "-o", str(out))
    assert r.exit_code == 2 and "archc did not write it" in r.output and "completed" not in r.output
    assert (out / "error_curves.svg").read_text() == "mine" and (out / "tinyres_paths.svg").read_text() == "mine too"


def test_a_ctrl_c_while_writing_is_noted_not_raised():
    import signal

    from archc.interrupts import Interrupts, deferred

    with Interrupts() as interrupts:
        with deferred():
            signal.raise_signal(signal.SIGINT)  # would raise KeyboardInterrupt outside `deferred`
        assert interrupts.hit


def test_dollar_signs_in_labels_are_text_in_figures(tmp_path, figures):
    r = run(str(_tiny_specs(tmp_path)["tinyres"]), *FAST, "--set", "title=Net $x^^$", "--set", "name=tinyres",
            "-o", str(tmp_path / "o"))
    assert r.exit_code == 0, r.output
    legend = [t.get_text() for t in figures["error_curves"].axes[0].get_legend().get_texts()]
    assert legend == [r"Net \$x^^\$"]  # matplotlib shows an escaped $ as a dollar sign, not as math


def test_batch_norm_with_one_value_per_channel_is_refused_before_any_run(tmp_path):
    r = run("cifar/plain20", "resnet50", "--set", "input.size=8", "--set", "classes=10", "--data", "synthetic",
            "--batch", "1", "--steps", "2", "--no-paths", "--threads", "1", "--no-progress", "-o", str(tmp_path / "b"))
    assert r.exit_code == 2 and "one value per channel" in r.output and "--batch 2 or more" in r.output
    assert "completed" not in r.output and not (tmp_path / "b").exists()


def test_a_failing_run_keeps_the_runs_before_it(tmp_path, monkeypatch):
    import archc.probe.train as train

    real, calls = train.run_probe, []

    def second_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the second run broke")
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "run_probe", second_fails)
    specs = _tiny_specs(tmp_path)
    r = run(str(specs["tinyplain"]), str(specs["tinyres"]), *FAST, "-o", str(tmp_path / "o"))
    assert r.exit_code == 1 and "the second run broke" in r.output
    doc = json.loads((tmp_path / "o" / "probe.json").read_text())
    assert [res["label"] for res in doc["results"]] == ["tinyplain"]


@pytest.mark.parametrize("corrupt", [
    lambda doc: doc["results"][0].update(loss=doc["results"][0]["loss"][:1]),
    lambda doc: doc["results"][0].update(test_error=[0.5]),
    lambda doc: doc["results"][0].update(path_gradients={"x": 1}),
    lambda doc: doc.update(results=[]),
])
def test_a_corrupted_probe_json_is_a_clean_error(tmp_path, corrupt):
    out = tmp_path / "o"
    assert run(str(_tiny_specs(tmp_path)["tinyres"]), *FAST[:-1], "--path-repeats", "1", "-o", str(out)).exit_code == 0
    doc = json.loads((out / "probe.json").read_text())
    corrupt(doc)
    (out / "probe.json").write_text(json.dumps(doc))
    r = run("--replot", str(out), "-o", str(tmp_path / "again"))
    assert r.exit_code == 2 and "internal error" not in r.output and not (tmp_path / "again").exists()
