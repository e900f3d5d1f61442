"""Kind `gate`: the Titans MAG combinator y = norm(a) * act(norm(b)) (`rt.Gate`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import ComponentBase, norm_params
from nlc.kinds.emission import Emission, call_args


class Gate(ComponentBase):
    """Gating combinator (Titans MAG): y = norm(a) * act(norm(b))."""

    kind: Literal["gate"]
    activation: Literal["sigmoid", "silu"] = "sigmoid"
    normalize: bool = Field(True, description="Normalise both inputs with learnable weights first.")
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2

    runtime: ClassVar[dict[str, str]] = {"rt.": "import nlc_runtime.layers.common as rt"}

    def tensors(self, d_in, model):
        return (
            {"W": norm_params("norm_a", d_in) + norm_params("norm_b", d_in)}
            if self.normalize
            else {}
        )

    def emit(self, d, model, tie_attr):
        args = call_args(d, activation=self.activation, normalize=self.normalize)
        return Emission(f"rt.Gate({args})", "{mod}({in0}, {in1})")


KIND = Gate
