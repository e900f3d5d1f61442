"""Kind `mlp`: a two-layer MLP down(act(up(x))) (`rt.MLP`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.kinds.base import ComponentBase, HiddenWidth, linear_params
from nlc.kinds.emission import Emission, call_args


class MLP(ComponentBase, HiddenWidth):
    """Two-layer MLP: down(act(up(x))); hidden width by default 4 * input width."""

    kind: Literal["mlp"]
    activation: Literal["gelu", "silu", "relu"] = "gelu"

    runtime: ClassVar[dict[str, str]] = {"rt.": "import nlc_runtime.layers.common as rt"}

    def tensors(self, d_in, model):
        h = self.hidden_width(d_in)
        return {"W": linear_params("up", h, d_in) + linear_params("down", d_in, h)}

    def emit(self, d, model, tie_attr):
        args = call_args(d, self.hidden_width(d), activation=self.activation)
        return Emission(f"rt.MLP({args})", "{mod}({in0})", fixed=self.fixed_widths())


KIND = MLP
