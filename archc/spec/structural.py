"""Structural layers: spec items that lower to a structural IR node rather than to one registry op.

`se` is a squeeze-excitation gate (Hu et al. 2018, "Squeeze-and-Excitation Networks"): written as a layer
(`- se: {reduction: 16}`) wherever layers are listed, or as the `se:` option of a residual stage. The table
`STRUCTURAL_LAYERS` (kind -> parameter schema) joins the registry's layer kinds in the spec's `Layer` schema;
`archc.ir.structural` holds the lowering of each kind."""
from __future__ import annotations

from pydantic import Field, PositiveInt

from archc.ops import LayerParams


class SEParams(LayerParams):
    """Squeeze-excitation gate: x times one scale per channel computed from x (Hu et al. 2018); same shape.

    The scale s(x): global average pool, 1x1 conv C -> C // r with bias + ReLU, 1x1 conv C // r -> C with bias
    + sigmoid. Needs a feature map of at least 2 channels, and C // r >= 1."""

    reduction: PositiveInt = Field(16, description="r: the excitation's hidden width is C // r channels "
                                                   "(Hu et al. use 16); must leave at least 1")


STRUCTURAL_LAYERS: dict[str, type[LayerParams]] = {"se": SEParams}
