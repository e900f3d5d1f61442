"""Momentum variants of NL §4, each a `MemoryOptimizer` over one rule of
`nlc_runtime.optim.rules`: delta momentum (ℓ2 objective on the momentum), deep momentum (DMGD:
the momentum's retention is an MLP) and preconditioned momentum (the momentum stores P g)."""

from __future__ import annotations

from nlc_runtime.optim import rules
from nlc_runtime.optim.base import MemoryOptimizer


class DeltaMomentum(MemoryOptimizer):
    """`rules.delta_momentum`: b ← b(μI − δ Ĝ^T Ĝ) + g, W ← W − lr·b."""

    rule = staticmethod(rules.delta_momentum)
    rule_args = ("lr", "momentum", "delta", "weight_decay")

    def __init__(self, params, lr=1e-2, momentum=0.9, delta=0.5, weight_decay=0.0, period=1):
        if not 0 <= delta <= momentum:
            raise ValueError(f"delta must lie in [0, momentum] (a contraction), got {delta}")
        defaults = dict(lr=lr, momentum=momentum, delta=delta, weight_decay=weight_decay)
        super().__init__(params, {**defaults, "period": period})


class DMGD(MemoryOptimizer):
    """`rules.dmgd`: heavy-ball momentum whose retention is a small MLP trained online."""

    rule = staticmethod(rules.dmgd)
    rule_args = ("lr", "momentum", "net_lr", "net_retention", "hidden", "weight_decay")
    whole_tensors = True  # its momentum network reads the whole gradient

    def __init__(
        self,
        params,
        lr=1e-2,
        momentum=0.9,
        net_lr=0.1,
        net_retention=1.0,
        hidden=8,
        weight_decay=0.0,
        period=1,
    ):
        defaults = dict(
            lr=lr,
            momentum=momentum,
            net_lr=net_lr,
            net_retention=net_retention,
            hidden=hidden,
            weight_decay=weight_decay,
        )
        super().__init__(params, {**defaults, "period": period})


class PreconditionedMomentum(MemoryOptimizer):
    """`rules.preconditioned_momentum`: v ≻ b ≻ W with b ← μb + g/(√v̂ + ε)."""

    rule = staticmethod(rules.preconditioned_momentum)
    rule_args = ("lr", "momentum", "beta2", "eps", "weight_decay")

    def __init__(
        self, params, lr=1e-3, momentum=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, period=1
    ):
        defaults = dict(lr=lr, momentum=momentum, beta2=beta2, eps=eps, weight_decay=weight_decay)
        super().__init__(params, {**defaults, "period": period})
