"""The playground's computations, without a server: the same numbers as archc's own analyses."""
from __future__ import annotations

import tempfile

import pytest

import archc
from archc.analysis.complexity import complexity
from archc.errors import ArchcError
from archc.serve import jobs
from serve_helpers import EDITOR_CASES, check_located, corpus_text

RESNET110_1202 = ("cifar/resnet110", ("vars.n=200",))


def spec(name: str, overrides: tuple = ()) -> jobs.SpecText:
    return jobs.SpecText(jobs.gallery_text(name), name, overrides)


def test_gallery_lists_the_bundled_specs_and_nothing_else():
    names = jobs.gallery_names()
    assert "resnet50" in names and "cifar/resnet110" in names and "googlenet" in names
    assert not any(n.split("/")[-1].startswith("_") for n in names)
    for bad in ("../pyproject", "/etc/passwd", "cifar/_resnet_cifar", "resnet50.yaml", ""):
        assert jobs.gallery_text(bad) is None


@pytest.mark.parametrize("name", ["resnet50", "googlenet", "cifar/resnet20"])
def test_stage_costs_equal_archc_complexity(name):
    result = jobs.analyze(jobs.Request(spec(name)))
    assert result["ok"], result
    expected = complexity(archc.lower(archc.load(name)))
    got = result["cost"]["stages"]
    assert [(s["name"], s["params"], s["macs"], s["output"]) for s in got] == \
        [(s["name"], s["params"], s["macs"], s["output"]) for s in expected["stages"]]
    assert result["cost"]["total"]["params"] == expected["total"]["params"]
    assert result["svg"].startswith("<svg") and "<script" not in result["svg"]


def test_1202_layer_resnet_paths_and_layers():
    name, overrides = RESNET110_1202
    result = jobs.analyze(jobs.Request(spec(name, overrides)))
    assert result["ok"], result
    assert result["cost"]["weighted_ops"] == 6 * 200 + 2  # 1,202 conv/fc layers
    assert result["paths"]["blocks_on_main_path"] == 600
    assert result["paths"]["paths"].startswith("2^600") or "e180" in result["paths"]["paths"]
    shares = [share for _, share in result["paths"]["histogram_blocks"]]
    assert abs(sum(shares) - 1) < 1e-9 and len(shares) == 601


def test_error_is_located_in_the_editor_text():
    text = "archc: 1\nname: x\nstages:\n  - residual: {block: basic, width: -3, blocks: 2}\n"
    result = jobs.analyze(jobs.Request(jobs.SpecText(text)))
    assert not result["ok"]
    error = result["error"]
    assert (error["line"], error["col"]) == (4, 37)
    assert error["message"].startswith("spec.yaml:4:37: stages[0].residual.width:")


def test_extends_resolves_next_to_the_gallery_entry_only():
    text = jobs.gallery_text("cifar/resnet20")
    assert "extends:" in text
    assert jobs.analyze(jobs.Request(jobs.SpecText(text, "cifar/resnet20")))["ok"]
    alone = jobs.analyze(jobs.Request(jobs.SpecText(text)))  # the top folder has no _resnet_cifar.yaml
    assert not alone["ok"] and "not found" in alone["error"]["message"] and alone["error"]["line"] > 0


@pytest.mark.parametrize("name", EDITOR_CASES)
def test_bad_spec_corpus_gives_its_located_error(name):
    result = jobs.analyze(jobs.Request(jobs.SpecText(corpus_text(name))))
    assert not result["ok"]
    check_located(name, result["error"])


def test_only_temporary_files_are_written_and_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert jobs.analyze(jobs.Request(spec("cifar/resnet20")))["ok"]
    assert not jobs.analyze(jobs.Request(jobs.SpecText("name: [")))["ok"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("payload,says", [
    ({"text": 3}, "text must be a string"),
    ({"text": "", "level": "galaxy"}, "level must be one of"),
    ({"text": "", "origin": "../../etc/passwd"}, "origin must name a bundled spec"),
    ({"text": "", "focus": "a<script>"}, "focus must be a node path"),
    ({"text": "", "overrides": "x=1"}, "overrides must be a list"),
    ({"text": "", "overrides": ["x=1"] * 17}, "at most 16"),
    ({"text": "x" * 1_000_001}, "longer than"),
    ([], "must be an object"),
])
def test_malformed_requests_are_refused(payload, says):
    with pytest.raises(jobs.BadRequest, match=says):
        jobs.parse_request(payload)


def test_focus_draws_one_part_and_targets_expand_one_level():
    result = jobs.analyze(jobs.Request(spec("resnet50"), level="block", focus="stage2"))
    assert result["ok"] and result["focus"] == "stage2"
    assert 'id="stage2.block1.conv1"' in result["svg"] and 'id="stage3' not in result["svg"]
    assert result["targets"]["stage2"] == "block" and result["targets"]["stage2.block1"] == "layer"
    bad = jobs.analyze(jobs.Request(spec("resnet50"), focus="stage9"))
    assert not bad["ok"] and "no node 'stage9'" in bad["error"]["message"]


def test_overrides_apply_and_bad_overrides_are_errors():
    ok = jobs.analyze(jobs.Request(spec("cifar/resnet20", ("vars.n=1",))))
    assert ok["ok"] and ok["paths"]["blocks_on_main_path"] == 3
    bad = jobs.analyze(jobs.Request(spec("cifar/resnet20", ("vars.nope=1",))))
    assert not bad["ok"] and "unknown variable 'nope'" in bad["error"]["message"]


def test_compare_and_downloads():
    result = jobs.compare(spec("plain34"), spec("resnet34"))
    assert result["ok"] and result["a"]["name"] == "plain34" and result["b"]["name"] == "resnet34"
    pdf = jobs.download(jobs.Request(spec("resnet18")), "pdf")
    assert pdf["ok"] and pdf["data"].startswith(b"%PDF") and pdf["filename"] == "resnet18.pdf"
    svg = jobs.download(jobs.Request(spec("resnet18"), level="block"), "svg")
    assert svg["filename"] == "resnet18_block.svg" and b"<svg" in svg["data"]
    with pytest.raises(jobs.BadRequest):
        jobs.download(jobs.Request(spec("resnet18")), "exe")


def test_clean_svg_refuses_anything_that_could_run():
    assert jobs.clean_svg('<?xml version="1.0"?><!-- c --><svg><g id="a"/></svg>') == '<svg><g id="a"/></svg>'
    text = '<svg><text>&lt;img src=x onerror=alert(1)&gt; javascript:</text></svg>'  # text, not markup
    assert jobs.clean_svg(text) == text
    for bad in ('<svg><script>alert(1)</script></svg>', '<svg><g onclick="x()"/></svg>',
                '<svg xmlns:xlink="http://www.w3.org/1999/xlink"><a xlink:href="javascript:x()"/></svg>',
                '<svg><foreignObject/></svg>', '<svg><g>', '<svg><use href="data:x"/></svg>'):
        with pytest.raises(ArchcError):
            jobs.clean_svg(bad)


def test_the_spec_download_is_self_contained_with_the_overrides(tmp_path):
    """A gallery entry that extends its family's base file, with --set: the downloaded YAML validates on its
    own, elsewhere, to the same network (it once kept `extends` and dropped the overrides)."""
    import archc
    from archc.bundled import bundled_specs_dir

    text = (bundled_specs_dir() / "cifar" / "resnet20.yaml").read_text()
    req = jobs.Request(jobs.SpecText(text, "cifar/resnet20.yaml", ("classes=7", "vars.n=2")), "stage", "")
    result = jobs.download(req, "yaml")
    assert result["ok"] and result["filename"] == "resnet14.yaml"
    path = tmp_path / "elsewhere" / "resnet14.yaml"
    path.parent.mkdir()
    path.write_bytes(result["data"])
    model = archc.lower(archc.load(path))
    expected = archc.lower(archc.load(bundled_specs_dir() / "cifar" / "resnet20.yaml", ["classes=7", "vars.n=2"]))
    assert (model.name, model.classes, model.cost) == ("resnet14", 7, expected.cost)
