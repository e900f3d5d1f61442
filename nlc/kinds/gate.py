"""Kind `gate`: the Titans MAG combinator y = norm(a) * act(norm(b)) (`rt.Gate`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase, norm_params
from nlc.kinds.emission import Call, Construct, Emission, Runtime

GATE = Runtime("nlc_runtime.layers.common", "Gate", alias="rt")


class Gate(ComponentBase):
    """Gating combinator (Titans MAG): y = norm(a) * act(norm(b))."""

    kind: Literal["gate"]
    activation: Literal["sigmoid", "silu"] = "sigmoid"
    normalize: bool = Field(True, description="Normalise both inputs with learnable weights first.")
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2

    runtimes: ClassVar[tuple[Runtime, ...]] = (GATE,)
    examples: ClassVar[tuple[dict, ...]] = ({}, {"normalize": False, "activation": "silu"})

    def tensors(self, d_in, model):
        return (
            {"W": norm_params("norm_a", d_in) + norm_params("norm_b", d_in)}
            if self.normalize
            else {}
        )

    def emit(self, d, model, tie_attr):
        args = {"activation": self.activation, "normalize": self.normalize}
        return Emission(Construct(GATE, (d,), args), Call.MODULE, inputs=2)


KIND = Gate
