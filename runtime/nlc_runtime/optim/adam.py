"""`AdamMemory` / `AdamWMemory`: Adam's two memories (rule: `rules.adam`), foreach fast path."""

from __future__ import annotations

import math

import torch

from nlc_runtime.optim import rules
from nlc_runtime.optim.base import MemoryOptimizer


def adam_foreach(
    states: list[dict],
    params: list,
    grads: list,
    *,
    lr,
    betas,
    eps,
    weight_decay,
    decoupled,
    bias_correction,
) -> None:
    """The Adam/AdamW step for a list of tensors with `torch._foreach_*` ops (same arithmetic
    as torch.optim.AdamW(foreach=True), so the two agree to rounding)."""
    beta1, beta2 = betas
    ms, vs = [], []
    for p, st in zip(params, states):
        if "exp_avg" not in st:
            st["step"] = 0
            st["exp_avg"] = torch.zeros_like(p)
            st["exp_avg_sq"] = torch.zeros_like(p)
        st["step"] += 1
        ms.append(st["exp_avg"])
        vs.append(st["exp_avg_sq"])
    if weight_decay and decoupled:
        torch._foreach_mul_(params, 1 - lr * weight_decay)
    elif weight_decay:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_lerp_(ms, grads, 1 - beta1)
    torch._foreach_mul_(vs, beta2)
    torch._foreach_addcmul_(vs, grads, grads, 1 - beta2)
    steps = {st["step"] for st in states}
    denom = torch._foreach_sqrt(vs)
    if not bias_correction:
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, ms, denom, -lr)
    elif len(steps) == 1:  # the usual case: one scalar for the whole group
        (step,) = steps
        torch._foreach_div_(denom, math.sqrt(1 - beta2**step))
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(params, ms, denom, -lr / (1 - beta1**step))
    else:  # params that joined late (or skipped steps) have their own step counts
        torch._foreach_div_(denom, [math.sqrt(1 - beta2 ** st["step"]) for st in states])
        torch._foreach_add_(denom, eps)
        sizes = [-lr / (1 - beta1 ** st["step"]) for st in states]
        torch._foreach_addcdiv_(params, ms, denom, sizes)


class AdamMemory(MemoryOptimizer):
    """Adam with L2 weight decay (`decoupled=False`) or AdamW (`decoupled=True`); equal to
    torch.optim.Adam / AdamW step for step when `bias_correction` is on (the default).

    `foreach=True` (default) is the fast path; `foreach=False` runs `rules.adam` per tensor.
    """

    rule = staticmethod(rules.adam)
    rule_args = ("lr", "betas", "eps", "weight_decay", "decoupled", "bias_correction")

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled: bool = False,
        bias_correction: bool = True,
        period: int = 1,
        foreach: bool = True,
    ):
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must lie in [0, 1), got {betas}")
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            decoupled=decoupled,
            bias_correction=bias_correction,
        )
        super().__init__(params, {**defaults, "period": period, "foreach": foreach})

    def update_group(self, group: dict, params: list, grads: list) -> None:
        if not group["foreach"]:
            return super().update_group(group, params, grads)
        adam_foreach([self.state[p] for p in params], params, grads, **self.rule_kwargs(group))


class AdamWMemory(AdamMemory):
    """AdamW (decoupled weight decay 1e-2 by default, as torch.optim.AdamW)."""

    def __init__(self, params, lr: float = 1e-3, weight_decay: float = 1e-2, **kwargs):
        super().__init__(params, lr=lr, weight_decay=weight_decay, decoupled=True, **kwargs)
