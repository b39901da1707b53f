"""Output folders archc writes into, and the record of what it wrote there.

Every command that writes files (build, analyze, figures; the probe can adopt it) goes through one
`OutputFolder`:

- a command never replaces a file it did not write: a file already in the folder is replaced only when
  the folder's manifest (`.archc-manifest.json`) says an archc command wrote it and its bytes are still
  the ones written (same SHA-256): a generated file edited by hand is refused like a stranger's. `check(names)` refuses
  anything else before any work; when the outputs are moved in, the same check runs again (then a file
  with exactly the new bytes may also be replaced: nothing is lost) and on a conflict nothing is moved.
  The spec being compiled (`protect`) is never replaced, whatever the manifest says;
- a command deletes only files that its own earlier runs wrote into that folder (listed in the
  manifest under its name) and that nobody changed since (same SHA-256);
- outputs are staged in a hidden folder *inside* the output folder (same filesystem: works when the
  parent is read-only, when -o is a mount point, or a symlink to another filesystem) and moved in
  together, so an interrupted run leaves the previous outputs intact;
- a staging folder is locked (flock) while its run lives; a later run removes the staging folders
  whose lock is free (their run was killed, e.g. by kill -9).

    folder = OutputFolder(Path("build/resnet50"), owner="build", protect=[spec_path])
    folder.check(["resnet50.py", "summary.json"])          # before any work
    with folder.stage(prune=True) as stage:
        atomic_write(stage.path / "resnet50.py", source)
    print(stage.written)                                   # the files, at their final paths
"""
from __future__ import annotations

import filecmp
import hashlib
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Optional, Sequence, Union

from archc.errors import ArchcError
from archc.io import atomic_write, check_writable_dir, to_json

try:  # POSIX; elsewhere folders are not locked (concurrent runs on one folder are then not serialised)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MANIFEST = ".archc-manifest.json"
MANIFEST_FORMAT = 1
STAGING_PREFIX = ".archc-staging-"
LEGACY_STAGING_AGE_S = 3600.0  # `.<name>.staging.*` siblings of archc < manifest: removed when this old


class OutputConflict(ArchcError):
    """A file archc did not write is in the way of an output (exit 2, nothing is changed)."""


@dataclass
class Staging:
    """The hidden folder a run writes into; after the `with` block, `written` holds the final paths."""

    path: Path
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)  # earlier outputs of the same command, pruned


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _safe_rel(name: object) -> Optional[str]:
    """A manifest key that stays inside the folder, or None."""
    if not isinstance(name, str) or not name or "\\" in name or "\x00" in name:
        return None
    rel = PurePosixPath(name)
    if rel.is_absolute() or any(part in ("", ".", "..") for part in rel.parts):
        return None
    if rel.parts[0] == MANIFEST or rel.parts[0].startswith(STAGING_PREFIX):
        return None
    return rel.as_posix()


@contextmanager
def _locked(path: Path, *, blocking: bool = True) -> Iterator[bool]:
    """An exclusive flock on a folder (held by an open descriptor; the kernel frees it if we die)."""
    if fcntl is None:
        yield True
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except OSError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


class OutputFolder:
    """A folder one archc command writes into (see the module docstring for the rules)."""

    def __init__(self, path: Union[str, Path], owner: str, *, option: str = "-o/--out",
                 protect: Iterable[Union[str, Path]] = ()) -> None:
        if not owner or "/" in owner:
            raise ValueError(f"bad output owner {owner!r}: a command name such as 'build'")
        self.path = Path(path)
        self.owner = owner
        self.option = option
        self.protect = tuple(Path(p) for p in protect if p)

    # ------------------------------------------------------------ the manifest

    def manifest(self) -> dict[str, dict[str, str]]:
        """rel path -> {"by": command, "sha256": hex} of the files archc wrote here (junk entries dropped)."""
        try:
            with open(self.path / MANIFEST, "rb") as handle:
                raw = json.loads(handle.read(10_000_000))
        except (OSError, ValueError):
            return {}
        files = raw.get("files") if isinstance(raw, dict) else None
        out: dict[str, dict[str, str]] = {}
        for name, entry in (files.items() if isinstance(files, dict) else ()):
            rel = _safe_rel(name)
            if rel and isinstance(entry, dict) and isinstance(entry.get("by"), str) \
                    and isinstance(entry.get("sha256"), str):
                out[rel] = {"by": entry["by"], "sha256": entry["sha256"]}
        return out

    def _write_manifest(self, files: dict[str, dict[str, str]]) -> None:
        atomic_write(self.path / MANIFEST, to_json({"archc_outputs": MANIFEST_FORMAT, "files": files,
                                                    "note": "files archc wrote here; archc replaces or "
                                                            "deletes only these"}))

    # ------------------------------------------------------------ checks

    def _is_protected(self, target: Path) -> Optional[Path]:
        for path in self.protect:
            try:
                if target.exists() and path.exists() and os.path.samefile(target, path):
                    return path
            except OSError:
                continue
        return None

    def _conflict(self, rel: str, files: dict[str, dict[str, str]], staged: Optional[Path] = None) -> Optional[str]:
        """Why the output `rel` may not be put in place, or None when it may."""
        target = self.path / rel
        parent = self.path
        for part in PurePosixPath(rel).parts[:-1]:
            parent = parent / part
            if parent.is_symlink() or (parent.exists() and not parent.is_dir()):
                return f"{parent} is in the way (not a folder archc made)"
        protected = self._is_protected(target)
        if protected is not None:
            return f"{target} is the spec being read; archc never replaces its input"
        if not os.path.lexists(target):
            return None
        if target.is_symlink() or not target.is_file():
            return f"{target} exists and is not a file archc wrote"
        if rel in files and _sha256(target) == files[rel]["sha256"]:
            return None  # archc wrote it and nobody changed it since
        if staged is not None and filecmp.cmp(staged, target, shallow=False):
            return None  # the same bytes: replacing it loses nothing
        if rel in files:
            return f"{target} was changed since archc wrote it (edited by hand?)"
        return f"{target} exists and archc did not write it"

    def _refuse(self, reason: str) -> OutputConflict:
        return OutputConflict(f"{self.option} {self.path}: {reason}; it is left as it is",
                              expected="another output folder, or move that file away first")

    def check(self, names: Sequence[str] = ()) -> None:
        """Before any work: the folder can be made and written, and none of `names` is someone else's file."""
        check_writable_dir(self.path, self.option)
        if not names or not self.path.is_dir():
            return
        with _locked(self.path):  # not while another run is moving its files in
            files = self.manifest()
            for name in names:
                rel = _safe_rel(name)
                if rel is None:
                    raise ValueError(f"output name {name!r} leaves the folder")
                reason = self._conflict(rel, files)
                if reason:
                    raise self._refuse(reason)

    # ------------------------------------------------------------ staging

    @contextmanager
    def stage(self, *, prune: bool = False) -> Iterator[Staging]:
        """Yield a hidden staging folder inside the output folder; on success move its files in together,
        record them in the manifest and (prune=True) delete this command's earlier outputs it did not
        write again. On any error or interrupt the folder is left as it was."""
        with staging_folder(self.path) as stage_dir:
            staging = Staging(stage_dir)
            yield staging
            with _locked(self.path):
                self._commit(staging, prune)

    def _commit(self, staging: Staging, prune: bool) -> None:
        files = self.manifest()
        staged = sorted(p for p in staging.path.rglob("*") if p.is_file() and not p.is_symlink())
        rels = [p.relative_to(staging.path).as_posix() for p in staged]
        for rel, item in zip(rels, staged):  # every check first: all files move in, or none does
            reason = self._conflict(rel, files, item)
            if reason:
                raise self._refuse(reason)
        for rel, item in zip(rels, staged):
            files[rel] = {"by": self.owner, "sha256": _sha256(item)}
            target = self.path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, target)
            staging.written.append(target)
        if prune:
            now = set(rels)
            for rel in sorted(files):
                entry = files[rel]
                if entry["by"] != self.owner or rel in now:
                    continue
                target = self.path / rel
                del files[rel]
                if target.is_file() and not target.is_symlink() and _sha256(target) == entry["sha256"]:
                    target.unlink()
                    staging.removed.append(target)
        self._write_manifest(files)



@contextmanager
def staging_folder(out_dir: Path) -> Iterator[Path]:
    """A locked, hidden folder inside `out_dir` (made if missing) for a run's outputs; removed afterwards.
    Stale ones of killed runs are removed first. When the run fails and `out_dir` was made for it and is
    still empty, `out_dir` is removed too."""
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_stagings(out_dir)
    stage_dir = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=out_dir))
    holder: Optional[int] = None
    ok = False
    try:
        holder = _hold(stage_dir)
        yield stage_dir
        ok = True
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
        if holder is not None:
            os.close(holder)
        if created and not ok:
            try:
                out_dir.rmdir()  # only when empty: a folder this run made and filled with nothing
            except OSError:
                pass


def remove_stale_stagings(out_dir: Path) -> list[Path]:
    """Staging folders of runs that died (their lock is free); old-style `.<name>.staging.*` siblings
    (archc before staging moved inside the folder) older than an hour. Returns what was removed."""
    removed = []
    for stale in sorted(out_dir.glob(f"{STAGING_PREFIX}*")):
        if stale.is_symlink() or not stale.is_dir():
            continue
        with _locked(stale, blocking=False) as free:
            if free:
                shutil.rmtree(stale, ignore_errors=True)
                removed.append(stale)
    try:
        resolved = out_dir.resolve()
        legacy = sorted(resolved.parent.glob(f".{resolved.name}.staging.*"))
    except OSError:
        return removed
    for stale in legacy:
        try:
            if stale.is_dir() and not stale.is_symlink() and \
                    time.time() - stale.stat().st_mtime > LEGACY_STAGING_AGE_S:
                shutil.rmtree(stale, ignore_errors=True)
                removed.append(stale)
        except OSError:
            continue
    return removed


def _hold(stage_dir: Path) -> Optional[int]:
    """Lock the staging folder for the life of the run: a later run sees the lock and leaves it alone."""
    if fcntl is None:
        return None
    fd = os.open(stage_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        return None
    return fd


@contextmanager
def staged_dir(out_dir: Union[str, Path]) -> Iterator[Path]:
    """Write a set of outputs into a hidden, locked folder inside out_dir; only when all are done, move each
    into out_dir. An interrupted or failed run leaves out_dir as it was (staging inside the target works on
    a read-only parent, a mount point or a symlink to another filesystem).

    This moves without asking: commands use `OutputFolder`, which also keeps the record
    of what archc wrote and never replaces anyone else's file."""
    out_dir = Path(out_dir)
    with staging_folder(out_dir) as stage:
        yield stage
        for item in sorted(p for p in stage.rglob("*") if p.is_file()):
            target = out_dir / item.relative_to(stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item, target)
