"""archc: an architecture-spec compiler and analysis toolkit for convolutional networks.

    spec = archc.load("specs/resnet50.yaml")   # validated Spec
    ir = archc.lower(spec)                      # IR tree with shapes
    model = archc.compile(spec)                 # torch.nn.Module
"""
from archc.api import compile, generate_source, load, loads, lower
from archc.errors import ArchcError, ArchcRuntimeError, SpecError
from archc.spec.yamlload import Limits

__all__ = ["load", "loads", "lower", "compile", "generate_source", "ArchcError", "SpecError",
           "ArchcRuntimeError", "Limits"]
__version__ = "0.1.0"
