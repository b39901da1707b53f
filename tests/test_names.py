"""archc.names: the fixed list of reserved attribute names (validation does not import torch)."""
from collections import OrderedDict

from torch import nn

from archc.backends import modules as m
from archc.names import RESERVED_ATTRS


def test_reserved_names_cover_torch_modules():
    """The list covers every public attribute the installed torch and archc's containers define."""
    objects = [nn.Module(), nn.Sequential(), m.Residual({}, None, None), m.Concat({}), m.Gate({}),
               m.Network(OrderedDict(), OrderedDict(), [], {})]
    public = {n for o in objects for n in dir(o) if not n.startswith("_")}
    assert public - RESERVED_ATTRS == set()
