"""Kind `swiglu`: the gated MLP down(silu(gate(x)) * up(x)) (`rt.SwiGLU`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.kinds.base import ComponentBase, HiddenWidth, linear_params
from nlc.kinds.emission import Call, Construct, Emission, Runtime

SWIGLU = Runtime("nlc_runtime.layers.common", "SwiGLU", alias="rt")


class SwiGLU(ComponentBase, HiddenWidth):
    """Gated MLP: down(silu(gate(x)) * up(x)); hidden width by default 8/3 * input width."""

    kind: Literal["swiglu"]

    runtimes: ClassVar[tuple[Runtime, ...]] = (SWIGLU,)
    examples: ClassVar[tuple[dict, ...]] = ({}, {"expansion": 2})

    def default_hidden(self, d_in: int) -> int:
        return (8 * d_in) // 3

    def tensors(self, d_in, model):
        h = self.hidden_width(d_in)
        return {
            "W": linear_params("gate", h, d_in)
            + linear_params("up", h, d_in)
            + linear_params("down", d_in, h)
        }

    def emit(self, d, model, tie_attr):
        module = Construct(SWIGLU, (d, self.hidden_width(d)))
        return Emission(module, Call.MODULE, fixed=self.fixed_widths())


KIND = SwiGLU
