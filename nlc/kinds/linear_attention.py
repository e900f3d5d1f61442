"""Kind `linear_attention`: linear attention as a matrix memory (`LinearAttention`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from nlc.kinds.base import head_split
from nlc.kinds.emission import Emission, Runtime
from nlc.kinds.memory import MemoryBase, memory_mlp_shapes, neural_memory_emission
from nlc.spec.common import InnerOptimizer, Update

LINEAR_ATTENTION = Runtime("nlc_runtime.memories.linear_attention", "LinearAttention")


class LinearAttention(MemoryBase):
    """Linear attention as a matrix memory: M_t = M_{t-1} + v_t k_t^T (NL §2.1, Eqs. 12-16)."""

    kind: Literal["linear_attention"]
    feature_map: Literal["identity", "elu1"] = "identity"
    update: Update = Update(period=1, objective="dot", optimizer=InnerOptimizer(lr=1.0))

    runtimes: ClassVar[tuple[Runtime, ...]] = (LINEAR_ATTENTION,)

    def tensors(self, d_in, model):
        h, dh = head_split(self.heads, d_in, model)
        m = memory_mlp_shapes(1, 1, h, dh)
        return {"W": self._neural_memory_tensors(d_in, h, m, None), "M": m}

    def emit(self, d, model, tie_attr) -> Emission:
        heads = self.heads or model.n_heads
        return neural_memory_emission(self, d, heads, 1, 1.0, runtime=LINEAR_ATTENTION)

    def memory_shape(self):
        return 1, 1, False, None


KIND = LinearAttention
