"""The package layers: ops/names -> spec -> ir -> backends / analysis / render / probe -> cli.

`archc.ops` (the op registry), `archc.spec` and `archc.ir` never import torch, and no two units of archc
import each other, directly or around a loop. A unit is a subpackage (`archc.ir`) or a top-level module
(`archc.io`); the area command modules (`archc/<area>/cli.py`) belong with `archc.cli` to the command
line, the top layer, with `archc.serve`. Imports inside functions count: a lazy import is still a
dependency, except inside `_repr_html_`: Jupyter calls that display hook on the object itself (a Spec, a
Model), so it may reach up to the view layer (`archc.serve.notebook`) that draws the object."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "archc"
NO_TORCH = ("archc.names", "archc.ops", "archc.spec", "archc.ir")


def modules_of(prefix: str) -> list[str]:
    """Every module of a package (or the module itself), by file."""
    rel = Path(*prefix.split(".")[1:])
    single = PACKAGE / rel.with_suffix(".py")
    if single.is_file():
        return [prefix]
    out = []
    for path in sorted((PACKAGE / rel).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_the_registry_spec_and_ir_import_no_torch() -> None:
    modules = [m for prefix in NO_TORCH for m in modules_of(prefix) if not m.endswith("__main__")]
    assert "archc.ir.lower" in modules and "archc.ops.conv" in modules and "archc.spec.model" in modules
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"torch imported by {NO_TORCH}: {done.stdout.strip()[:300]}"


def unit(module: str) -> str:
    """The layer unit a module belongs to."""
    parts = module.split(".")
    if parts[0] != "archc":
        return ""
    if len(parts) == 1:
        return "archc"
    if parts[1] in ("cli", "__main__") or (len(parts) > 2 and parts[-1] == "cli"):
        return "cli"
    return parts[1]


DISPLAY_HOOKS = ("_repr_html_",)


def dependencies() -> dict[str, dict[str, set[str]]]:
    """unit -> unit it imports -> the importing modules."""
    deps: dict[str, dict[str, set[str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source_unit = unit(module)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        hooks = {id(inner) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) and fn.name in DISPLAY_HOOKS
                 for inner in ast.walk(fn)}
        for node in ast.walk(tree):
            if id(node) in hooks:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
                if node.module == "archc":  # `from archc import io`: the submodule; `from archc import load`: the root
                    names = [f"archc.{a.name}" if (PACKAGE / a.name).is_dir() or (PACKAGE / f"{a.name}.py").is_file()
                             else "archc" for a in node.names]
            else:
                continue
            for name in names:
                target = unit(name)
                if target and target != source_unit:
                    deps.setdefault(source_unit, {}).setdefault(target, set()).add(module)
    return deps


def cycles(deps: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Strongly connected components of more than one unit (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in deps.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(deps):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_between_units() -> None:
    deps = dependencies()
    assert "spec" in deps.get("ir", {}) and "ops" in deps.get("spec", {})  # the walk sees real imports
    found = cycles(deps)
    detail = [" <-> ".join(c) + ": " + "; ".join(f"{a}->{b} in {sorted(deps[a][b])[:2]}" for a in c for b in c
                                                  if b in deps.get(a, {})) for c in found]
    assert not found, "import cycles: " + " | ".join(detail)


def test_the_cycle_check_can_fail() -> None:
    assert cycles({"a": {"b": set()}, "b": {"c": set()}, "c": {"a": set()}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b": set()}}) == []


def test_lower_layers_do_not_import_higher_ones() -> None:
    order = {"names": 0, "ops": 1, "spec": 2, "ir": 3, "backends": 4, "analysis": 4, "render": 4, "probe": 4,
             "cli": 5, "serve": 5}
    deps = dependencies()
    wrong = [f"{a} -> {b} ({sorted(mods)[0]})" for a, targets in deps.items() for b, mods in targets.items()
             if a in order and b in order and order[b] > order[a]]
    assert not wrong, "imports against the layers: " + ", ".join(wrong)


def module_imports(package: str) -> dict[str, dict[str, set[str]]]:
    """Within one subpackage: module -> module of the same package it imports (at the top or inside a
    function) -> {the importing module}. `from archc.probe import data` counts as importing `data`."""
    folder = PACKAGE / package.split(".", 1)[1]
    known = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
    deps: dict[str, dict[str, set[str]]] = {}
    for path in sorted(folder.glob("*.py")):
        if path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module == package:
                    targets = [a.name for a in node.names if a.name in known]
                elif node.module.startswith(package + "."):
                    targets = [node.module.split(".")[2]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[2] for a in node.names if a.name.startswith(package + ".")]
            for target in targets:
                if target != path.stem and target in known:
                    deps.setdefault(path.stem, {}).setdefault(target, set()).add(path.stem)
    return deps


def test_the_probe_modules_import_one_way() -> None:
    """The training loop, the collectives, the launcher and the figures import in one direction only."""
    deps = module_imports("archc.probe")
    assert "collectives" in deps["train"] and "train" in deps["launch"]  # the walk sees real imports
    assert not cycles(deps), f"import cycles inside archc.probe: {cycles(deps)}"
