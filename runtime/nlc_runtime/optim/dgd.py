"""`DGD`: delta gradient descent for the matrix weights of linear layers (`rules.dgd`).

The rule needs each layer's inputs, which an optimizer never sees; `DGD.track(model)` hooks
every nn.Linear so that its forward records C = mean x̂ x̂^T over the batch's unit-norm inputs
(detached; the latest forward wins). Weights of untracked modules, and vectors, get plain SGD.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nlc_runtime.optim import rules
from nlc_runtime.optim.base import MemoryOptimizer


class DGD(MemoryOptimizer):
    rule_args = ("lr", "delta", "weight_decay")

    def __init__(self, params, lr=1e-2, delta: float | None = None, weight_decay=0.0, period=1):
        super().__init__(params, dict(lr=lr, delta=delta, weight_decay=weight_decay, period=period))
        self._inputs: dict[int, torch.Tensor] = {}  # id(weight) -> C, refreshed every forward

    def track(self, model: nn.Module) -> list:
        """Hook every nn.Linear of `model`; returns the hook handles (call .remove() to stop)."""
        handles = []
        for module in model.modules():
            if isinstance(module, nn.Linear):
                handles.append(module.register_forward_pre_hook(self._record(module.weight)))
        return handles

    def _record(self, weight: torch.Tensor):
        def hook(module, args):
            x = args[0].detach().reshape(-1, args[0].size(-1))
            x = x / (x.norm(dim=-1, keepdim=True) + 1e-12)
            self._inputs[id(weight)] = x.mT @ x / x.size(0)

        return hook

    def update_group(self, group: dict, params: list, grads: list) -> None:
        for p, g in zip(params, grads):
            _, update = rules.dgd(
                {},
                p,
                g,
                lr=group["lr"],
                inputs=self._inputs.get(id(p)),
                delta=group["delta"],
                weight_decay=group["weight_decay"],
            )
            p.add_(update)
