"""archc's public Python API: load a spec, lower it to the IR, compile it to torch, generate source."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional, Union

from archc.ir.graph import Model
from archc.ir.lower import lower as _lower
from archc.spec.model import Spec
from archc.spec.validate import validate_document
from archc.spec.resolve import resolve_file
from archc.spec.yamlload import DEFAULT_LIMITS, Limits, parse_yaml

if TYPE_CHECKING:
    from archc.backends.modules import Network

SpecLike = Union[str, Path, Spec, Model]


def load(path: Union[str, Path], overrides: Iterable[str] = (), limits: Limits = DEFAULT_LIMITS) -> Spec:
    """Read, merge (`extends`), override (`--set`), substitute (`vars`) and validate a spec file (a path, or
    the name of a bundled spec: "resnet50", "cifar/resnet56")."""
    from archc.bundled import resolve_spec_arg

    path = resolve_spec_arg(str(path))
    doc = resolve_file(Path(path), overrides, limits, display=str(path))
    return validate_document(doc, limits)


def loads(text: str, name: str = "<string>", limits: Limits = DEFAULT_LIMITS) -> Spec:
    """Validate a spec given as YAML text (no `extends`)."""
    from archc.spec.resolve import _resolve_vars, _substitute_all

    doc = parse_yaml(text, name, limits)
    if isinstance(doc.data, dict):
        variables = _resolve_vars(doc)
        doc.data = _substitute_all(doc.data, variables, (), doc)
        doc.data["vars"] = variables
    return validate_document(doc, limits)


def lower(spec: SpecLike, overrides: Iterable[str] = ()) -> Model:
    """Spec (or path) -> IR with inferred shapes; all structural errors are raised here."""
    overrides = tuple(overrides)
    if isinstance(spec, Model):
        if overrides and overrides != tuple(spec.overrides):
            raise ValueError("overrides need a spec path: an already lowered model cannot be changed")
        return spec
    if not isinstance(spec, Spec):
        spec = load(spec, overrides)
    elif overrides:  # silently ignoring them would build a different net than asked for
        raise ValueError("overrides need a spec path (archc.load(path, overrides)): a loaded Spec is final")
    return _lower(spec, spec.document, spec.limits)


def compile(spec: SpecLike, seed: Optional[int] = 0, overrides: Iterable[str] = ()) -> "Network":  # noqa: A001
    """Spec (or path, or IR) -> initialised torch module."""
    from archc.backends.torch_backend import to_torch

    return to_torch(lower(spec, overrides), seed=seed)


def generate_source(spec: SpecLike, overrides: Iterable[str] = ()) -> str:
    """Readable standalone PyTorch source for the model (needs only torch to run)."""
    from archc.backends.codegen import generate

    return generate(lower(spec, overrides))
