"""Kind `titans_memory`: the Titans neural long-term memory (`NeuralMemory`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from nlc.kinds.base import head_split
from nlc.kinds.emission import Emission, Runtime
from nlc.kinds.memory import NEURAL_MEMORY, MemoryBase, memory_mlp_shapes, neural_memory_emission
from nlc.spec.common import InnerOptimizer, Update


class TitansMemory(MemoryBase):
    """Titans neural long-term memory (LMM): an MLP memory trained in context on ||M(k) - v||^2
    with momentum (surprise) and forgetting (Titans §3.1, Eqs. 8-15)."""

    kind: Literal["titans_memory"]
    depth: int = Field(2, ge=1, description="Layers of the memory MLP; 1 = matrix memory.")
    expansion: int = Field(2, ge=1, description="Hidden width of the memory MLP / head width.")
    residual: bool = Field(
        False,
        description="Residual memory M(x) = x + MLP(x), as HOPE's memories (NL §8); false: "
        "Titans' plain MLP M(x) = MLP(x).",
    )
    conv: int | None = Field(4, gt=0, description="Depthwise conv window after q/k/v; null = none.")
    qk_norm: bool = True
    update: Update = Update(
        period=16,
        objective="l2",
        optimizer=InnerOptimizer(
            kind="momentum",
            lr="data_dependent",
            momentum="data_dependent",
            retention="data_dependent",
        ),
    )

    runtimes: ClassVar[tuple[Runtime, ...]] = (NEURAL_MEMORY,)
    examples: ClassVar[tuple[dict, ...]] = (
        {},
        {"depth": 1, "conv": None, "residual": True, "learn_init": False, "qk_norm": False},
        {"update": {"period": 4, "optimizer": {"kind": "gd", "lr": 0.1}}},
    )
    freezes: ClassVar[bool] = True

    def tensors(self, d_in, model):
        h, dh = head_split(self.heads, d_in, model)
        m = memory_mlp_shapes(self.depth, self.expansion, h, dh)
        out = {"W": self._neural_memory_tensors(d_in, h, m, self.conv), "M": m}
        if self.update.optimizer.has_momentum:
            out["S"] = m
        return out

    def emit(self, d, model, tie_attr) -> Emission:
        heads = self.heads or model.n_heads
        return neural_memory_emission(
            self, d, heads, depth=self.depth, expansion=self.expansion, residual=self.residual
        )

    def memory_shape(self):
        return self.depth, self.expansion, self.residual, self.conv


KIND = TitansMemory
