"""Kind `conv`: a causal depthwise 1-D convolution over time (`CausalConv1d`, streaming:
its state is the last window - 1 inputs)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Emission, call_args


class Conv(ComponentBase):
    """Causal depthwise 1-D convolution over time."""

    kind: Literal["conv"]
    window: int = Field(4, gt=0)

    runtime: ClassVar[dict[str, str]] = {
        "CausalConv1d(": "from nlc_runtime.layers.conv import CausalConv1d"
    }

    def tensors(self, d_in, model):
        return {"W": [("weight", (d_in, self.window))]}  # depthwise, no bias

    def emit(self, d, model, tie_attr):
        module = f"CausalConv1d({call_args(d, self.window)})"
        return Emission(module, "{mod}({in0}, {state})", stateful=True)


KIND = Conv
