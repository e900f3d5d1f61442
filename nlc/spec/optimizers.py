"""The spec's outer `optimizer`: one kind per rule of `nlc_runtime.optim` (NL §4: optimizers as
associative memories), plus per-group periods.

Every kind lowers to state nodes (`nlc.passes.lower_optimizer`): its memories (momentum,
moments, M3's slow momentum) with their periods and ≻ edges into the weights they move.

`groups` gives parts of the model a slower outer clock: each entry matches components by a
glob on their dotted names (fnmatch: `*` also spans dots, so `layers.*.mlp` matches
`layers.0.mlp`, `layers.1.mlp`, ...); the outer weights of matched components, and the optimizer
memories that move them, are updated every `period` optimizer steps, from the gradients summed
since their last update (the chunk rule of docs/design.md, one level up). A component may
match one group at most; a pattern must match at least one component with trained weights.
"""

from __future__ import annotations

from typing import Annotated, Literal

from nlc_runtime.training.flags import MAX_STEPS
from pydantic import Field, ValidationInfo, field_validator

from nlc.spec.common import Strict

Beta = Annotated[float, Field(ge=0, lt=1)]


class Group(Strict):
    """Components whose outer weights are updated every `period` optimizer steps."""

    match: str = Field(min_length=1, description="Glob over component names, e.g. layers.*.mlp")
    period: int = Field(ge=1, le=MAX_STEPS, description="Update every `period` optimizer steps.")


class _Outer(Strict):
    lr: float = Field(gt=0)
    weight_decay: float = Field(0.0, ge=0)
    groups: list[Group] = Field(
        default_factory=list, description="Per-group periods (a slower outer clock)."
    )


class SGD(_Outer):
    """SGD, with a momentum memory when momentum > 0 (momentum ≻ the weights)."""

    kind: Literal["sgd"]
    lr: float = Field(1e-2, gt=0)
    momentum: Beta = 0.9
    nesterov: bool = False

    @field_validator("nesterov")
    @classmethod
    def _nesterov(cls, value: bool, info: ValidationInfo) -> bool:
        if value and info.data.get("momentum") == 0:
            raise ValueError("nesterov: true needs momentum > 0")
        return value


class Adam(_Outer):
    """Adam: two memories m (gradients) and v (squared gradients) of one level (=_f), both
    faster than the weights; L2 weight decay (added to the gradient)."""

    kind: Literal["adam"]
    lr: float = Field(3e-4, gt=0)
    betas: tuple[Beta, Beta] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    bias_correction: bool = True


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay."""

    kind: Literal["adamw"] = "adamw"  # type: ignore[assignment]
    weight_decay: float = Field(0.1, ge=0)


class AdamWSettings(Strict):
    """The AdamW that Muon and M3 use for what is not a hidden weight matrix (embeddings,
    heads, norm gains, biases)."""

    lr: float = Field(3e-4, gt=0)
    betas: tuple[Beta, Beta] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.0, ge=0)


class Muon(_Outer):
    """Muon: a momentum memory read out through Newton–Schulz orthogonalisation, for hidden
    weight matrices; AdamW (`adamw`) for the rest."""

    kind: Literal["muon"]
    lr: float = Field(0.02, gt=0)
    momentum: Beta = 0.95
    nesterov: bool = True
    ns_steps: int = Field(5, ge=1, le=20)
    adamw: AdamWSettings = AdamWSettings()


class M3(_Outer):
    """M3 (multi-scale momentum Muon, NL §7.2): a fast momentum and a second moment every
    step, a slow momentum every `slow_period` steps (its own, slower level); AdamW for what is
    not a hidden weight matrix."""

    kind: Literal["m3"]
    lr: float = Field(1e-3, gt=0)
    beta_fast: Beta = 0.95
    beta_slow: Beta = 0.9
    beta2: Beta = 0.999
    slow_period: int = Field(
        16, ge=2, le=MAX_STEPS, description="Optimizer steps per slow-momentum update."
    )
    alpha: float = Field(1.0, ge=0, description="Weight of the slow momentum's read-out.")
    eps: float = Field(1e-8, gt=0)
    ns_steps: int = Field(5, ge=1, le=20)
    rms: float | None = Field(0.2, gt=0, description="RMS of the matrix update (null: raw).")
    adamw: AdamWSettings = AdamWSettings(lr=1e-3)


class DeltaMomentum(_Outer):
    """Momentum trained with an ℓ2 (delta-rule) objective: erases along the new gradient."""

    kind: Literal["delta_momentum"]
    lr: float = Field(1e-2, gt=0)
    momentum: Beta = 0.9
    delta: float = Field(0.5, ge=0, description="Erase strength, at most `momentum`.")

    @field_validator("delta")
    @classmethod
    def _contraction(cls, value: float, info: ValidationInfo) -> float:
        momentum = info.data.get("momentum")
        if momentum is not None and value > momentum:
            raise ValueError(
                f"delta ({value}) must not exceed momentum ({momentum}): "
                "the momentum's retention must stay a contraction"
            )
        return value


class DMGD(_Outer):
    """Deep momentum GD: the momentum's retention is a small MLP memory trained online (the
    network is a memory of its own, faster than the momentum it shapes)."""

    kind: Literal["dmgd"]
    lr: float = Field(1e-2, gt=0)
    momentum: Beta = 0.9
    net_lr: float = Field(0.1, ge=0)
    net_retention: float = Field(1.0, gt=0, le=1)
    hidden: int = Field(8, ge=1, le=256)


class PreconditionedMomentum(_Outer):
    """Momentum of preconditioned gradients g/(√v̂ + ε): v ≻ momentum ≻ weights."""

    kind: Literal["preconditioned_momentum"]
    lr: float = Field(1e-3, gt=0)
    momentum: Beta = 0.9
    beta2: Beta = 0.999
    eps: float = Field(1e-8, gt=0)


class DGD(_Outer):
    """Delta gradient descent: GD plus forgetting along each linear layer's inputs; no
    optimizer memory (the weights are the memory)."""

    kind: Literal["dgd"]
    lr: float = Field(1e-2, gt=0)
    delta: float | None = Field(None, gt=0, description="Forgetting rate (default lr/(1+lr)).")


OPTIMIZER_KINDS: dict[str, type[_Outer]] = {
    "sgd": SGD,
    "adam": Adam,
    "adamw": AdamW,
    "muon": Muon,
    "m3": M3,
    "delta_momentum": DeltaMomentum,
    "dmgd": DMGD,
    "preconditioned_momentum": PreconditionedMomentum,
    "dgd": DGD,
}
"""Every outer optimizer kind, by the name a spec uses in `optimizer.kind`."""

OuterOptimizer = Annotated[
    SGD | Adam | AdamW | Muon | M3 | DeltaMomentum | DMGD | PreconditionedMomentum | DGD,
    Field(discriminator="kind"),
]
