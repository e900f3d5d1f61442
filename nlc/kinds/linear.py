"""Kind `linear`: a projection to `out` channels (`nn.Linear`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Call, Construct, Emission, Runtime

LINEAR = Runtime("torch.nn", "Linear", alias="nn")


class Linear(ComponentBase):
    """A linear projection to `out` channels."""

    kind: Literal["linear"]
    out: int = Field(gt=0)
    bias: bool = False
    runtimes: ClassVar[tuple[Runtime, ...]] = (LINEAR,)
    examples: ClassVar[tuple[dict, ...]] = ({"out": 8}, {"out": 8, "bias": True})

    def out_width(self, in_widths, model):
        return self.out

    def tensors(self, d_in, model):
        return {
            "W": [("weight", (self.out, d_in))] + ([("bias", (self.out,))] if self.bias else [])
        }

    def emit(self, d, model, tie_attr):
        module = Construct(LINEAR, (d, self.out), {"bias": self.bias})
        return Emission(module, Call.MODULE, fixed=("out",))


KIND = Linear
