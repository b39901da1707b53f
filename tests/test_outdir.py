"""Output folders: a command never replaces or deletes a file it did not write; staging survives kill -9,
read-only parents and folders on other filesystems (issue 10, item 3)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from archc.cli import main
from archc.io import atomic_write
from archc.outdir import MANIFEST, STAGING_PREFIX, OutputConflict, OutputFolder

ROOT = Path(__file__).resolve().parent.parent
TINY = "name: tiny\ninput: {size: 8}\nclasses: 3\nstages:\n  - conv: {out: 4}\n"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_with(folder: OutputFolder, files: dict, prune: bool = False) -> list:
    with folder.stage(prune=prune) as stage:
        for name, text in files.items():
            atomic_write(stage.path / name, text)
    return stage.written


# ---------------------------------------------------------------- the rules, on the abstraction


def test_files_someone_else_wrote_are_never_replaced(tmp_path):
    (tmp_path / "a.txt").write_text("mine")
    folder = OutputFolder(tmp_path, "build")
    with pytest.raises(OutputConflict, match="a.txt exists and archc did not write it"):
        folder.check(["a.txt"])
    with pytest.raises(OutputConflict):  # the final check, when no names were checked before
        write_with(folder, {"a.txt": "generated", "b.txt": "generated"})
    assert snapshot(tmp_path) == {"a.txt": b"mine"}  # b.txt did not move in either: all or nothing


def test_same_bytes_may_be_replaced_and_are_then_recorded(tmp_path):
    (tmp_path / "a.txt").write_text("same")
    write_with(OutputFolder(tmp_path, "build"), {"a.txt": "same"})
    assert "a.txt" in json.loads((tmp_path / MANIFEST).read_text())["files"]
    write_with(OutputFolder(tmp_path, "build"), {"a.txt": "different now"})
    assert (tmp_path / "a.txt").read_text() == "different now"


def test_a_generated_file_edited_by_hand_is_not_replaced(tmp_path):
    folder = OutputFolder(tmp_path, "figures")
    write_with(folder, {"fig.svg": "<svg>generated</svg>"})
    (tmp_path / "fig.svg").write_text("<svg>touched up in Inkscape</svg>")
    with pytest.raises(OutputConflict, match="fig.svg was changed since archc wrote it"):
        folder.check(["fig.svg"])
    with pytest.raises(OutputConflict):
        write_with(folder, {"fig.svg": "<svg>generated again</svg>"})
    assert (tmp_path / "fig.svg").read_text() == "<svg>touched up in Inkscape</svg>"
    write_with(folder, {"fig.svg": "<svg>touched up in Inkscape</svg>"})  # the same bytes lose nothing


def test_the_input_is_never_replaced_even_when_recorded(tmp_path):
    spec = tmp_path / "tiny.py"
    write_with(OutputFolder(tmp_path, "build"), {"tiny.py": "generated"})  # recorded as archc's
    folder = OutputFolder(tmp_path, "build", protect=[spec])
    with pytest.raises(OutputConflict, match="archc never replaces its input"):
        folder.check(["tiny.py"])


def test_prune_deletes_only_this_commands_own_unchanged_files(tmp_path):
    write_with(OutputFolder(tmp_path, "build"), {"net.svg": "build's diagram"})
    write_with(OutputFolder(tmp_path, "analyze"), {"old.svg": "plot", "edited.svg": "plot", "paths.svg": "p"},
               prune=True)
    (tmp_path / "edited.svg").write_text("the user changed it")
    (tmp_path / "user.svg").write_text("the user's own")
    write_with(OutputFolder(tmp_path, "analyze"), {"paths.svg": "p2"}, prune=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, "edited.svg", "net.svg", "paths.svg", "user.svg"]
    files = json.loads((tmp_path / MANIFEST).read_text())["files"]
    assert sorted(files) == ["net.svg", "paths.svg"]  # the edited file is no longer counted as archc's


def test_manifest_entries_outside_the_folder_are_ignored(tmp_path):
    outside = tmp_path / "victim.txt"
    outside.write_text("keep")
    folder = tmp_path / "out"
    folder.mkdir()
    digest = __import__("hashlib").sha256(b"keep").hexdigest()
    entry = {"by": "analyze", "sha256": digest}
    (folder / MANIFEST).write_text(json.dumps({"files": {"../victim.txt": entry, str(outside): entry,
                                                         ".archc-staging-x/a": entry}}))
    write_with(OutputFolder(folder, "analyze"), {"a.svg": "x"}, prune=True)
    assert outside.read_text() == "keep"


def test_a_junk_manifest_means_nothing_is_archcs(tmp_path):
    (tmp_path / MANIFEST).write_text("[not json")
    (tmp_path / "a.svg").write_text("mine")
    with pytest.raises(OutputConflict):
        OutputFolder(tmp_path, "analyze").check(["a.svg"])
    write_with(OutputFolder(tmp_path, "analyze"), {"b.svg": "x"}, prune=True)
    assert (tmp_path / "a.svg").read_text() == "mine"


def test_symlinks_and_folders_in_the_way_are_refused(tmp_path):
    (tmp_path / "elsewhere.txt").write_text("x")
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.svg").symlink_to(tmp_path / "elsewhere.txt")
    (out / "b.svg").mkdir()
    for name in ("a.svg", "b.svg"):
        with pytest.raises(OutputConflict, match="not a file archc wrote"):
            OutputFolder(out, "analyze").check([name])


def test_nested_outputs_are_recorded_by_relative_path(tmp_path):
    write_with(OutputFolder(tmp_path, "probe"), {"run/a.svg": "a"})
    assert json.loads((tmp_path / MANIFEST).read_text())["files"]["run/a.svg"]["by"] == "probe"


def test_a_failed_run_leaves_no_folder_and_no_staging(tmp_path):
    out = tmp_path / "new"
    with pytest.raises(KeyboardInterrupt):
        with OutputFolder(out, "build").stage() as stage:
            atomic_write(stage.path / "a.txt", "x")
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- staging


def test_staging_of_a_killed_run_is_removed_by_the_next_run(tmp_path):
    code = ("import sys, time\nfrom pathlib import Path\nfrom archc.outdir import OutputFolder\n"
            "with OutputFolder(Path(sys.argv[1]), 'build').stage() as s:\n"
            "    (s.path / 'half.txt').write_text('x')\n    print('staged', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "staged"
    live = [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]
    assert len(live) == 1
    write_with(OutputFolder(tmp_path, "build"), {"a.txt": "x"})
    assert live[0].exists()  # a live run's staging folder (locked) is left alone
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert live[0].exists()  # kill -9: nothing cleaned up ...
    write_with(OutputFolder(tmp_path, "build"), {"a.txt": "y"})
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(STAGING_PREFIX)]  # ... until the next run


def test_old_style_staging_siblings_are_removed_when_old(tmp_path):
    out = tmp_path / "out"
    old, fresh = tmp_path / ".out.staging.abc12345", tmp_path / ".out.staging.def67890"
    for d in (old, fresh):
        d.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    write_with(OutputFolder(out, "build"), {"a.txt": "x"})
    assert not old.exists() and fresh.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_staging_works_under_a_read_only_parent(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    tmp_path.chmod(0o555)
    try:
        assert [p.name for p in write_with(OutputFolder(out, "build"), {"a.txt": "x"})] == ["a.txt"]
    finally:
        tmp_path.chmod(0o755)


def test_staging_happens_inside_the_target_so_a_symlinked_folder_works(tmp_path, monkeypatch):
    """-o a symlink to (or a mount point of) another filesystem: every rename stays inside the target."""
    real = tmp_path / "other_fs"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    renames = []
    original = os.replace

    def tracking(src, dst, *a, **k):
        renames.append((Path(src).resolve().parent, Path(dst).resolve()))
        return original(src, dst, *a, **k)

    monkeypatch.setattr("archc.outdir.os.replace", tracking)
    write_with(OutputFolder(link, "build"), {"a.txt": "x"})
    moved = [(src, dst) for src, dst in renames if dst.name == "a.txt"]
    assert moved and all(src.parent == real for src, dst in moved)  # from real/.archc-staging-*/ to real/
    assert (real / "a.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "other_fs"]  # nothing staged beside it


# ---------------------------------------------------------------- the commands


def test_build_never_replaces_the_spec(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny.py").write_text(TINY)
    result = run("build", "tiny.py", "-o", ".")
    assert result.exit_code == 2, result.output
    assert "archc never replaces its input" in result.output and len(result.output.strip().splitlines()) == 1
    assert (tmp_path / "tiny.py").read_text() == TINY
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.py"]


def test_build_refuses_before_any_work_when_a_users_file_is_in_the_way(tmp_path, monkeypatch):
    (tmp_path / "spec.yaml").write_text(TINY)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "summary.json").write_text("the user's")

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr("archc.backends.torch_backend.to_torch", no_work)
    result = run("build", tmp_path / "spec.yaml", "-o", tmp_path / "out")
    assert result.exit_code == 2 and "summary.json exists and archc did not write it" in result.output
    assert (tmp_path / "out" / "summary.json").read_text() == "the user's"


def test_build_then_analyze_in_one_folder_keeps_the_builds_diagram(tmp_path):
    w = tmp_path / "W"
    built = w / "cifar" / "resnet20"  # where analyze -o W puts the bundled cifar/resnet20's report
    assert run("build", "cifar/resnet20", "-o", built).exit_code == 0
    (built / "mine.svg").write_text("<svg/>")
    diagram = (built / "resnet20.svg").read_bytes()
    for _ in range(2):
        result = run("analyze", "cifar/resnet20", "-o", w, "--no-fvcore", "--no-init", "-j", "1")
        assert result.exit_code == 0, result.output
    assert (built / "resnet20.svg").read_bytes() == diagram
    assert (built / "mine.svg").read_text() == "<svg/>"
    assert (built / "report.md").is_file()


def test_analyze_removes_its_own_stale_plots_only(tmp_path):
    out = tmp_path / "r"
    assert run("analyze", "cifar/resnet20", "-o", out, "--init", "--no-fvcore", "-j", "1").exit_code == 0
    folder = out / "cifar" / "resnet20"
    assert (folder / "init_propagation.svg").exists()
    assert run("analyze", "cifar/resnet20", "-o", out, "--no-fvcore", "--no-init", "-j", "1").exit_code == 0
    assert not (folder / "init_propagation.svg").exists()  # its own plot, no longer drawn: removed


def test_figures_refuse_to_replace_a_users_file(tmp_path):
    (tmp_path / "unraveled_paths.dot").write_text("mine")
    result = run("figures", "-o", tmp_path, "-f", "dot", "--only", "unraveled_paths")
    assert result.exit_code == 2 and "archc did not write it" in result.output
    assert (tmp_path / "unraveled_paths.dot").read_text() == "mine"
    (tmp_path / "unraveled_paths.dot").unlink()
    assert run("figures", "-o", tmp_path, "-f", "dot", "--only", "unraveled_paths").exit_code == 0
    assert run("figures", "-o", tmp_path, "-f", "dot", "--only", "unraveled_paths").exit_code == 0  # its own


def test_committed_report_folders_record_what_archc_wrote():
    reports = ROOT / "reports"
    for folder in [reports, reports / "figures"] + [p.parent for p in reports.rglob("report.json")
                                                    if "probe" not in p.parts]:
        files = json.loads((folder / MANIFEST).read_text())["files"]
        on_disk = {p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")}
        assert set(files) <= on_disk, folder
