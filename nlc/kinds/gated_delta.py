"""Kind `gated_delta`: Gated DeltaNet (Yang, Kautz and Hatamizadeh, 2024) as a matrix memory,
M_t = a_t (I - b_t k_t k_t^T) M_{t-1} + b_t v_t k_t^T: the delta rule with a data-dependent
step b_t and a data-dependent decay a_t. It is a `delta_memory` whose retention (forgetting,
1 - a_t) is data-dependent by default, and runs on the same runtime module (`NeuralMemory`,
forgetting gate on); only the defaults and the name are its own."""

from __future__ import annotations

from typing import Literal

from nlc.kinds.delta_memory import DeltaMemory
from nlc.spec.common import InnerOptimizer, Update


class GatedDelta(DeltaMemory):
    """Gated delta-rule matrix memory (Gated DeltaNet): per token, per head, a step and a
    decay read from the input."""

    kind: Literal["gated_delta"]  # type: ignore[assignment]
    update: Update = Update(
        period=1,
        objective="l2",
        optimizer=InnerOptimizer(kind="gd", lr="data_dependent", retention="data_dependent"),
    )


KIND = GatedDelta
