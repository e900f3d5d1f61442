"""Kind `mlp`: a two-layer MLP down(act(up(x))) (`rt.MLP`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.kinds.base import ComponentBase, HiddenWidth, linear_params
from nlc.kinds.emission import Call, Construct, Emission, Runtime

MLP_RUNTIME = Runtime("nlc_runtime.layers.common", "MLP", alias="rt")


class MLP(ComponentBase, HiddenWidth):
    """Two-layer MLP: down(act(up(x))); hidden width by default 4 * input width."""

    kind: Literal["mlp"]
    activation: Literal["gelu", "silu", "relu"] = "gelu"

    runtimes: ClassVar[tuple[Runtime, ...]] = (MLP_RUNTIME,)
    examples: ClassVar[tuple[dict, ...]] = ({}, {"hidden": 12, "activation": "silu"})

    def tensors(self, d_in, model):
        h = self.hidden_width(d_in)
        return {"W": linear_params("up", h, d_in) + linear_params("down", d_in, h)}

    def emit(self, d, model, tie_attr):
        module = Construct(MLP_RUNTIME, (d, self.hidden_width(d)), {"activation": self.activation})
        return Emission(module, Call.MODULE, fixed=self.fixed_widths())


KIND = MLP
