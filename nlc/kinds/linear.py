"""Kind `linear`: a projection to `out` channels (`nn.Linear`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase
from nlc.kinds.emission import Emission, call_args


class Linear(ComponentBase):
    """A linear projection to `out` channels."""

    kind: Literal["linear"]
    out: int = Field(gt=0)
    bias: bool = False

    def out_width(self, in_widths, model):
        return self.out

    def tensors(self, d_in, model):
        return {
            "W": [("weight", (self.out, d_in))] + ([("bias", (self.out,))] if self.bias else [])
        }

    def emit(self, d, model, tie_attr):
        module = f"nn.Linear({call_args(d, self.out, bias=self.bias)})"
        return Emission(module, "{mod}({in0})", fixed=("out",))


KIND = Linear
