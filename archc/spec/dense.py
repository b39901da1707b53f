"""The `dense` stage of the spec language (DenseNet, Huang et al. 2017): a dense block and its transition.

Its own module so that archc.spec.model stays small; the models follow model.py's rules (extra keys
forbidden, finite numbers only, names checked by the one name rule). Lowered by archc.ir.dense."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from archc.ops import ACTIVATIONS, NORMS, check_identifier

ActLiteral = Literal[ACTIVATIONS + ("none",)]  # type: ignore[valid-type]
NormLiteral = Literal[NORMS]  # type: ignore[valid-type]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)  # as archc.spec.model.Strict


class TransitionSpec(_Strict):
    """Transition after a dense block: BN, act, 1x1 conv to floor(compression x C), 2x2 avg pool /2.

    Huang et al. 2017, Sec. 3 ("Pooling layers", "Compression")."""

    compression: float = Field(0.5, gt=0, le=1, description="theta: the 1x1 conv gives floor(theta x C_in) "
                                                             "channels (DenseNet-BC: 0.5; 1: no compression)")
    name: Optional[str] = Field(None, description="default transition")

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        return check_identifier(value)


class DenseStage(_Strict):
    """A dense block (Huang et al. 2017): each layer's output is concatenated to its input."""

    name: Optional[str] = Field(None, description="default stage<n>")
    layers: PositiveInt = Field(description="L: dense layers in the block (layer1..L)")
    growth_rate: PositiveInt = Field(description="k: channels each layer adds (its 3x3 conv's output)")
    bn_size: Optional[PositiveInt] = Field(None, description="the bottleneck 1x1 conv gives bn_size x k channels "
                                                             "(default 4, DenseNet-B)")
    bottleneck: bool = Field(True, description="false: layers are BN-act-3x3 conv only (DenseNet without B)")
    dropout: float = Field(0.0, ge=0, lt=1, description="dropout after each layer's 3x3 conv (training only); "
                                                         "0: none")
    transition: Optional[TransitionSpec] = Field(None, description="a transition layer after the block "
                                                                   "(`{}`: compression 0.5)")
    norm: Optional[NormLiteral] = Field(None, description="override defaults.norm in this stage")  # type: ignore[valid-type]
    act: Optional[ActLiteral] = Field(None, description="override defaults.act in this stage")  # type: ignore[valid-type]

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: Optional[str]) -> Optional[str]:
        return check_identifier(value)
