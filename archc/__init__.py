"""archc: an architecture-spec compiler and analysis toolkit for convolutional networks.

    spec = archc.load("specs/resnet50.yaml")   # validated Spec
    ir = archc.lower(spec)                      # IR tree with shapes
    model = archc.compile(spec)                 # torch.nn.Module
"""
from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not `typing.TYPE_CHECKING`: importing typing costs the command line ~6 ms
if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first use
    from archc.api import compile, generate_source, load, loads, lower  # noqa: F401
    from archc.errors import ArchcError, ArchcRuntimeError, SpecError  # noqa: F401
    from archc.spec.yamlload import Limits  # noqa: F401

__all__ = ["load", "loads", "lower", "compile", "generate_source", "ArchcError", "SpecError",
           "ArchcRuntimeError", "Limits"]
from archc.version import __version__  # noqa: E402

# `import archc` stays cheap (the command line installs its Ctrl-C handler before pydantic is imported)
_LAZY = {"load": "archc.api", "loads": "archc.api", "lower": "archc.api", "compile": "archc.api",
         "generate_source": "archc.api", "ArchcError": "archc.errors", "SpecError": "archc.errors",
         "ArchcRuntimeError": "archc.errors", "Limits": "archc.spec.yamlload"}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'archc' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # cache: later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
