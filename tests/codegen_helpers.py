"""Import generated source as a module (shared by the codegen and spec-language tests)."""
from __future__ import annotations

import importlib.util
from types import ModuleType


def import_generated(source: str, tmp_path, name: str) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
