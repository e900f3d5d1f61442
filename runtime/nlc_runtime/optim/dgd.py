"""`DGD`: delta gradient descent for the matrix weights of linear layers (`rules.dgd`).

The rule needs each layer's inputs, which an optimizer never sees; `DGD.track(model)` hooks
every nn.Linear so that its forward records C = mean x̂ x̂^T over the batch's unit-norm inputs
(detached; the latest forward wins). Weights of untracked modules, and vectors, get plain SGD.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist
import torch.nn as nn

from nlc_runtime.optim import rules
from nlc_runtime.optim.base import MemoryOptimizer
from nlc_runtime.optim.sharded import whole_tensor_step


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
            rule = functools.partial(
                rules.dgd,
                lr=group["lr"],
                inputs=_mean_over_processes(self._inputs.get(id(p))),
                delta=group["delta"],
                weight_decay=group["weight_decay"],
            )
            _, update = whole_tensor_step(rule, {}, p, g)  # the input preconditioner: whole W
            p.add_(update)


def _mean_over_processes(C: torch.Tensor | None) -> torch.Tensor | None:
    """Under DDP / FSDP each process saw its own part of the batch: the preconditioner is the
    input statistics of the whole batch (their mean), so every process takes the same step --
    as the gradients, which the wrappers average, already do."""
    if C is None or not dist.is_available() or not dist.is_initialized():
        return C
    if dist.get_world_size() == 1:
        return C
    C = C.clone()
    dist.all_reduce(C)
    return C / dist.get_world_size()
