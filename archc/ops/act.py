"""Activations: element-wise, no parameters, no MACs."""
from __future__ import annotations

from pydantic import Field

from archc.ops.base import Cost, LayerContext, LayerParams, ModuleCall, OpDef, Shape, register


class ActParams(LayerParams):
    inplace: bool = Field(False, description="overwrite the input; units and post-add activations set it")


class _Activation(OpDef):
    """Shared rules: same shape, no cost, in-place when placed by the compiler."""

    category = "act"
    torch_cls: str = ""
    can_inplace: bool = True
    example = {}

    def shape(self, p: LayerParams, x: Shape) -> Shape:
        return x

    def cost(self, p: LayerParams, x: Shape, y: Shape) -> Cost:
        return Cost()

    def module(self, p: ActParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall(self.torch_cls, (), (("inplace", True),) if self.can_inplace and p.inplace else ())

    def unit_params(self, ctx: LayerContext) -> LayerParams:
        given = ctx.settings(self.kind)
        if given is None:
            return self.Params(inplace=True)
        return given if "inplace" in given.model_fields_set else given.model_copy(update={"inplace": True})


def _activation(kind_: str, torch_cls_: str, doc_: str, inplace: bool = True) -> type[OpDef]:
    class Activation(_Activation):
        __doc__ = f"Activation: {doc_}."
        kind = kind_
        Params = ActParams
        doc = doc_
        torch_cls = torch_cls_
        can_inplace = inplace

    Activation.__name__ = Activation.__qualname__ = torch_cls_.split(".")[-1]
    return register(Activation)


_activation("relu", "nn.ReLU", "max(x, 0)")
_activation("relu6", "nn.ReLU6", "min(max(x, 0), 6)")
_activation("silu", "nn.SiLU", "x * sigmoid(x)")
_activation("gelu", "nn.GELU", "Gaussian error linear unit", inplace=False)
_activation("sigmoid", "nn.Sigmoid", "logistic sigmoid", inplace=False)
_activation("tanh", "nn.Tanh", "hyperbolic tangent", inplace=False)


class LeakyReluParams(ActParams):
    slope: float = Field(0.01, description="negative slope")


@register
class LeakyRelu(_Activation):
    """Activation: x if x > 0 else slope * x."""

    kind = "leaky_relu"
    Params = LeakyReluParams
    example = {"slope": 0.1}

    def module(self, p: LeakyReluParams, x: Shape, y: Shape) -> ModuleCall:
        return ModuleCall("nn.LeakyReLU", (p.slope,), (("inplace", True),) if p.inplace else ())

    def label(self, p: LayerParams, x: Shape, y: Shape) -> str:
        return "leaky_relu"
