"""Kind `conv`: a causal depthwise 1-D convolution over time (`CausalConv1d`, streaming:
its state is the last window - 1 inputs)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Call, Construct, Emission, Runtime

CAUSAL_CONV = Runtime("nlc_runtime.layers.conv", "CausalConv1d")


class Conv(ComponentBase):
    """Causal depthwise 1-D convolution over time."""

    kind: Literal["conv"]
    window: int = Field(4, gt=0)

    runtimes: ClassVar[tuple[Runtime, ...]] = (CAUSAL_CONV,)
    examples: ClassVar[tuple[dict, ...]] = ({}, {"window": 2})

    def tensors(self, d_in, model):
        return {"W": [("weight", (d_in, self.window))]}  # depthwise, no bias

    def emit(self, d, model, tie_attr):
        return Emission(Construct(CAUSAL_CONV, (d, self.window)), Call.STREAM)


KIND = Conv
