"""Kind `delta_memory`: the delta-rule matrix memory (DeltaNet), gated with `retention`
(Gated DeltaNet); runs on the runtime's `NeuralMemory`."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.kinds.emission import Emission, Runtime
from nlc.kinds.linear_attention import LinearAttention
from nlc.kinds.memory import NEURAL_MEMORY, neural_memory_emission
from nlc.spec.common import InnerOptimizer, Update


class DeltaMemory(LinearAttention):
    """Delta-rule matrix memory: M_t = (I - eta k k^T) M_{t-1} + eta v k^T (DeltaNet, Eq. 65),
    gated when `retention` is set (Gated DeltaNet)."""

    kind: Literal["delta_memory"]  # type: ignore[assignment]
    update: Update = Update(
        period=1, objective="l2", optimizer=InnerOptimizer(kind="gd", lr="data_dependent")
    )

    runtimes: ClassVar[tuple[Runtime, ...]] = (NEURAL_MEMORY,)
    examples: ClassVar[tuple[dict, ...]] = (
        {},
        {"update": {"period": 4, "optimizer": {"kind": "dgd", "lr": 0.1, "retention": 0.01}}},
    )

    def emit(self, d, model, tie_attr) -> Emission:
        return neural_memory_emission(self, d, self.heads or model.n_heads, 1, 1.0)


KIND = DeltaMemory
