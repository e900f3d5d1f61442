"""Kind `norm`: RMSNorm (the runtime's) or LayerNorm over the channels."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Emission, call_args


class Norm(ComponentBase):
    """RMSNorm or LayerNorm over the channel dimension."""

    kind: Literal["norm"]
    type: Literal["rms", "layer"] = "rms"
    eps: float = Field(1e-6, gt=0)

    runtime: ClassVar[dict[str, str]] = {"RMSNorm(": "from nlc_runtime.layers.norms import RMSNorm"}

    def tensors(self, d_in, model):
        return {"W": [("weight", (d_in,))] + ([("bias", (d_in,))] if self.type == "layer" else [])}

    def emit(self, d, model, tie_attr):
        module = "RMSNorm" if self.type == "rms" else "nn.LayerNorm"
        return Emission(f"{module}({call_args(d, eps=self.eps)})", "{mod}({in0})")


KIND = Norm
