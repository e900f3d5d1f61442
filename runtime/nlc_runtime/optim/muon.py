"""`Muon` and `M3`: orthogonalised momentum for weight matrices, AdamW for everything else.

Both take param groups tagged with `rule`: the matrix rule ("muon" / "m3") or "adamw" (use
`groups.split_matrix_params(model, ...)`; given a plain iterable of tensors, ≥2-D ones go to
the matrix rule and the rest to AdamW). AdamW groups read `adamw_lr`, `adamw_betas`,
`adamw_eps` and `adamw_weight_decay` unless the group sets `lr`/`betas`/`eps`/`weight_decay`.
"""

from __future__ import annotations

import functools

import torch

from nlc_runtime.optim import rules
from nlc_runtime.optim.adam import adam_foreach
from nlc_runtime.optim.base import MemoryOptimizer
from nlc_runtime.optim.sharded import whole_tensor_step

_ADAMW_KEYS = {"lr": "adamw_lr", "betas": "adamw_betas", "eps": "adamw_eps"}


class _MatrixOrAdamW(MemoryOptimizer):
    matrix_rule = ""  # the `rule` tag of matrix groups

    def __init__(self, params, defaults: dict):
        params = list(params)
        if params and isinstance(params[0], torch.Tensor):
            matrices = [p for p in params if p.dim() >= 2]
            others = [p for p in params if p.dim() < 2]
            params = [{"params": matrices, "rule": self.matrix_rule}] * bool(matrices)
            params += [{"params": others, "rule": "adamw"}] * bool(others)
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        group = dict(param_group)
        rule = group.setdefault("rule", self.matrix_rule)
        if rule == "adamw":
            for key, default in _ADAMW_KEYS.items():
                group.setdefault(key, self.defaults[default])
            group.setdefault("weight_decay", self.defaults["adamw_weight_decay"])
        elif rule == self.matrix_rule:
            tensors = (
                [group["params"]] if isinstance(group["params"], torch.Tensor) else group["params"]
            )
            if any(p.dim() < 2 for p in tensors):
                raise ValueError(
                    f"{type(self).__name__} orthogonalises matrices; put 0-D/1-D parameters "
                    "in a group with rule='adamw'"
                )
        else:
            raise ValueError(f"unknown rule {rule!r}; expected {self.matrix_rule!r} or 'adamw'")
        super().add_param_group(group)

    def update_group(self, group: dict, params: list, grads: list) -> None:
        if group["rule"] == "adamw":
            adam_foreach(
                [self.state[p] for p in params],
                params,
                grads,
                lr=group["lr"],
                betas=group["betas"],
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                decoupled=True,
                bias_correction=True,
            )
            return
        rule = functools.partial(self.matrix_step, group)
        for p, g in zip(params, grads):
            state = self.state[p]
            new, update = whole_tensor_step(rule, state, p, g)  # Newton–Schulz: whole matrices
            state.update(new)
            p.add_(update)


def _adamw_defaults(lr, betas, eps, weight_decay) -> dict:
    return {
        "adamw_lr": lr,
        "adamw_betas": tuple(betas),
        "adamw_eps": eps,
        "adamw_weight_decay": weight_decay,
    }


class Muon(_MatrixOrAdamW):
    """Muon: `rules.muon` on weight matrices, AdamW on the rest (see the module docstring).

    `ns_dtype`: working precision of Newton–Schulz (torch.bfloat16 is the usual GPU choice;
    default: the parameter's dtype).
    """

    matrix_rule = "muon"

    def __init__(
        self,
        params,
        lr: float = 0.02,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_steps: int = 5,
        weight_decay: float = 0.0,
        adamw_lr: float = 3e-4,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
        adamw_weight_decay: float = 0.0,
        period: int = 1,
        ns_dtype: torch.dtype | None = None,
    ):
        defaults = dict(
            lr=lr, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps,
            weight_decay=weight_decay, period=period, ns_dtype=ns_dtype,
            **_adamw_defaults(adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay),
        )  # fmt: skip
        super().__init__(params, defaults)

    def matrix_step(self, group, state, p, g):
        return rules.muon(
            state, p, g, lr=group["lr"], momentum=group["momentum"], nesterov=group["nesterov"],
            ns_steps=group["ns_steps"], weight_decay=group["weight_decay"],
            ns_dtype=group["ns_dtype"],
        )  # fmt: skip


class M3(_MatrixOrAdamW):
    """M3: `rules.m3` on weight matrices (fast momentum every update, slow momentum every
    `slow_period` updates of the parameter — a period f × the group's period), AdamW on the
    rest. `rms`: RMS the matrix update is scaled to (None: the update as printed)."""

    matrix_rule = "m3"

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        beta_fast: float = 0.95,
        beta_slow: float = 0.9,
        beta2: float = 0.999,
        slow_period: int = 16,
        alpha: float = 1.0,
        eps: float = 1e-8,
        ns_steps: int = 5,
        rms: float | None = 0.2,
        weight_decay: float = 0.0,
        adamw_lr: float = 1e-3,
        adamw_betas: tuple[float, float] = (0.9, 0.95),
        adamw_eps: float = 1e-8,
        adamw_weight_decay: float = 0.0,
        period: int = 1,
        ns_dtype: torch.dtype | None = None,
    ):
        if not isinstance(slow_period, int) or slow_period < 1:
            raise ValueError(f"slow_period must be an integer >= 1, got {slow_period}")
        defaults = dict(
            lr=lr, beta_fast=beta_fast, beta_slow=beta_slow, beta2=beta2,
            slow_period=slow_period, alpha=alpha, eps=eps, ns_steps=ns_steps, rms=rms,
            weight_decay=weight_decay, period=period, ns_dtype=ns_dtype,
            **_adamw_defaults(adamw_lr, adamw_betas, adamw_eps, adamw_weight_decay),
        )  # fmt: skip
        super().__init__(params, defaults)

    def matrix_step(self, group, state, p, g):
        slow_due = (int(state.get("step", 0)) + 1) % group["slow_period"] == 0
        return rules.m3(
            state, p, g, lr=group["lr"], slow_due=slow_due, beta_fast=group["beta_fast"],
            beta_slow=group["beta_slow"], beta2=group["beta2"], alpha=group["alpha"],
            eps=group["eps"], ns_steps=group["ns_steps"], rms=group["rms"],
            weight_decay=group["weight_decay"], ns_dtype=group["ns_dtype"],
        )  # fmt: skip
