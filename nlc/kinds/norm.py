"""Kind `norm`: RMSNorm (the runtime's) or LayerNorm over the channels."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Call, Construct, Emission, Runtime

RMS_NORM = Runtime("nlc_runtime.layers.norms", "RMSNorm")
LAYER_NORM = Runtime("torch.nn", "LayerNorm", alias="nn")


class Norm(ComponentBase):
    """RMSNorm or LayerNorm over the channel dimension."""

    kind: Literal["norm"]
    type: Literal["rms", "layer"] = "rms"
    eps: float = Field(1e-6, gt=0)

    runtimes: ClassVar[tuple[Runtime, ...]] = (RMS_NORM, LAYER_NORM)
    examples: ClassVar[tuple[dict, ...]] = ({}, {"type": "layer"})

    def tensors(self, d_in, model):
        return {"W": [("weight", (d_in,))] + ([("bias", (d_in,))] if self.type == "layer" else [])}

    def emit(self, d, model, tie_attr):
        runtime = RMS_NORM if self.type == "rms" else LAYER_NORM
        return Emission(Construct(runtime, (d,), {"eps": self.eps}), Call.MODULE)


KIND = Norm
