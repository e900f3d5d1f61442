"""`MemoryOptimizer`: a torch.optim.Optimizer whose per-parameter states are memories.

Subclasses name a per-tensor rule (`nlc_runtime.optim.rules`) and the group settings it takes;
the base class adds what every rule shares:

- **Per-group periods** (a second, slower outer clock). A param group with `period: k` is
  updated on every k-th optimizer step only. In between, its gradients are *summed* into the
  state `grad_sum`, and the update at the k-th step reads that sum — docs/design.md's chunk rule
  one level up: a state with period k takes one update from the signals of its whole chunk,
  each evaluated at the chunk-start value (so SGD with period k moves as far as k plain steps
  would from gradients taken at the chunk start). Summing, not skipping, is the choice because
  skipping would throw away k − 1 of every k gradients.
- **A clock per group** (`group["clock"]`, optimizer steps taken), saved by `state_dict` with the
  group settings, so resuming from a checkpoint continues the periods exactly.
- Step counts in the state are Python ints; everything else is tensors (cast to the parameter's
  dtype/device by `load_state_dict`, as torch does).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import torch

from nlc_runtime.optim.sharded import whole_tensor_step


class MemoryOptimizer(torch.optim.Optimizer):
    """Base class; subclasses set `rule` and `rule_args` and may override `update_group`."""

    rule: Callable = staticmethod(lambda *a, **k: ({}, 0))
    rule_args: tuple[str, ...] = ("lr",)
    whole_tensors = False  # the rule reads whole matrices: gather FSDP2 shards (`sharded`)

    def __init__(self, params: Iterable, defaults: dict):
        defaults = {"period": 1, "clock": 0, **defaults}
        super().__init__(params, defaults)
        for group in self.param_groups:
            if not isinstance(group["period"], int) or group["period"] < 1:
                raise ValueError(f"a group's period must be an integer >= 1, got {group['period']}")

    def add_param_group(self, param_group: dict) -> None:
        param_group = dict(param_group)
        param_group.setdefault("clock", 0)
        super().add_param_group(param_group)

    def rule_kwargs(self, group: dict) -> dict:
        return {name: group[name] for name in self.rule_args}

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["clock"] += 1
            params, grads = self._due(group)
            if params:
                self.update_group(group, params, grads)
        return loss

    def _due(self, group: dict) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The params to update now and the gradients to update them with (see module doc)."""
        present = [p for p in group["params"] if p.grad is not None]
        for p in present:
            if p.grad.is_sparse:
                raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
        if group["period"] == 1:
            return present, [p.grad for p in present]
        for p in present:
            acc = self.state[p].get("grad_sum")
            self.state[p]["grad_sum"] = p.grad.clone() if acc is None else acc.add_(p.grad)
        if group["clock"] % group["period"]:
            return [], []
        due = [p for p in group["params"] if "grad_sum" in self.state[p]]
        return due, [self.state[p].pop("grad_sum") for p in due]

    def update_group(self, group: dict, params: list, grads: list) -> None:
        """Reference path: the rule, one tensor at a time."""
        kwargs = self.rule_kwargs(group)
        rule = functools.partial(type(self).rule, **kwargs)
        for p, g in zip(params, grads):
            state = self.state[p]
            new, update = (
                whole_tensor_step(rule, state, p, g) if self.whole_tensors else rule(state, p, g)
            )
            state.update(new)
            p.add_(update)
