"""`SGDMemory`: SGD with a momentum memory (rule: `rules.sgd_momentum`), foreach fast path."""

from __future__ import annotations

import torch

from nlc_runtime.optim import rules
from nlc_runtime.optim.base import MemoryOptimizer


class SGDMemory(MemoryOptimizer):
    """Equal to torch.optim.SGD (dampening 0) step for step; adds per-group `period`.

    `foreach=True` (default) updates each group with `torch._foreach_*` ops, one kernel per op
    for the whole group; `foreach=False` runs the per-tensor rule (the readable reference).
    """

    rule = staticmethod(rules.sgd_momentum)
    rule_args = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        momentum: float = 0.9,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        period: int = 1,
        foreach: bool = True,
    ):
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        defaults = dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        super().__init__(params, {**defaults, "period": period, "foreach": foreach})

    def update_group(self, group: dict, params: list, grads: list) -> None:
        if not group["foreach"]:
            return super().update_group(group, params, grads)
        mu, wd = group["momentum"], group["weight_decay"]
        if wd:
            grads = torch._foreach_add(grads, params, alpha=wd)
        if mu:
            bufs = []
            for p in params:
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.zeros_like(p)
                bufs.append(state["momentum"])
            torch._foreach_mul_(bufs, mu)
            torch._foreach_add_(bufs, grads)
            grads = torch._foreach_add(grads, bufs, alpha=mu) if group["nesterov"] else bufs
        torch._foreach_add_(params, grads, alpha=-group["lr"])
