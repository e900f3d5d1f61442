"""Learning-rate schedules of the outer loop."""

from __future__ import annotations

import math


def cosine_lr(step: int, steps: int, lr: float, warmup: int, floor: float = 0.1) -> float:
    """Linear warm-up to `lr`, then cosine decay to `floor * lr` at the last step.

    A pure function of the step, so resuming a run needs no scheduler object in the checkpoint.
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - warmup))
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
