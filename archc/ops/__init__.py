"""The op registry: every primitive op's whole contract (archc.ops.base.OpDef), one module per family.

Importing this package registers every family and then finalises the registry once: the derived views
(ACTIVATIONS, NORMS, LAYER_KINDS, PASS_THROUGH, and the spec's layer schema built from them) see every op,
wherever in the families it is defined. A new op is one class in a family module; nothing else lists it.
"""
from __future__ import annotations

# registration order is the schema's and the docs' order of layers
from archc.ops import conv  # noqa: F401,I001  (each import registers a family)
from archc.ops import norm  # noqa: F401
from archc.ops import act  # noqa: F401
from archc.ops import pool  # noqa: F401
from archc.ops import structure  # noqa: F401
from archc.ops.act import ActParams, LeakyReluParams
from archc.ops.base import (CATEGORIES, INIT_RULES, REGISTRY, Cost, IntPair, LayerContext, LayerParams,
                               ModuleCall, NonNegPair, NoParams, OpDef, Parts, Registry, RegistryViews, Shape,
                               ShapeError, check_identifier, get_op, need_map, pair, register, spatial_out)
from archc.ops.conv import ConvParams, FcParams, unit_parts
from archc.ops.norm import BatchNormParams, LrnParams
from archc.ops.pool import AdaptivePoolParams, AvgPoolParams, PoolParams
from archc.ops.structure import DropoutParams, PadShortcutParams

VIEWS: RegistryViews = REGISTRY.finalise()
ACTIVATIONS = VIEWS.activations
NORMS = VIEWS.norms
LAYER_KINDS = VIEWS.layer_kinds  # ops a spec may write as a bare layer; the shortcut ops are placed by the compiler
PASS_THROUGH = VIEWS.pass_through

__all__ = ["ACTIVATIONS", "CATEGORIES", "INIT_RULES", "LAYER_KINDS", "NORMS", "PASS_THROUGH", "REGISTRY", "VIEWS",
           "ActParams", "AdaptivePoolParams", "AvgPoolParams", "BatchNormParams", "ConvParams", "Cost",
           "DropoutParams", "FcParams", "IntPair", "LayerContext", "LayerParams", "LeakyReluParams", "LrnParams",
           "ModuleCall", "NoParams", "NonNegPair", "OpDef", "Parts", "PadShortcutParams", "PoolParams", "Registry",
           "RegistryViews", "Shape", "ShapeError", "check_identifier", "get_op", "need_map", "pair", "register",
           "spatial_out", "unit_parts"]
