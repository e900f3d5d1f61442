"""Shared field types of the spec language: names, periods, coefficients, inner rules, and the
model-wide settings (`ModelSettings`, which the IR and the kinds read)."""

from __future__ import annotations

import keyword
from typing import Annotated, Any, Literal

from nlc_runtime.training.flags import FLOAT32_MAX, FLOAT32_SPAN, MAX_CONTEXT, in_float32
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

RESERVED_NAMES = frozenset({"in", "tokens", "loss", "optimizer"})


def _check_identifier(name: str) -> str:
    if not name.isidentifier() or not name.isascii():
        raise ValueError(
            f"'{name}' is not a valid name: use letters, digits and '_' (not starting with a digit)"
        )
    if keyword.iskeyword(name) or name in RESERVED_NAMES:
        raise ValueError(f"'{name}' is reserved; choose another name")
    if name.startswith("__"):
        raise ValueError(f"'{name}' may not start with '__'")
    return name


Identifier = Annotated[str, AfterValidator(_check_identifier)]


def _check_period(value: int | str) -> int | str:
    if isinstance(value, int) and value < 1:
        raise ValueError(
            f"period must be a positive number of tokens, 'outer' or 'frozen'; got {value}"
        )
    return value


PeriodField = Annotated[
    Annotated[int, Field(strict=True)] | Literal["outer", "frozen"],
    AfterValidator(_check_period),
    Field(description="Update period: a number of tokens C >= 1, 'outer' or 'frozen'."),
]
"""An update period as written in a spec (converted to `nlc.ir.period.Period` by `lower`)."""

WeightsPeriod = Literal["outer", "frozen"]


def _numbers(value: Any) -> list:
    """The numbers of a field's value: itself, or the items of a tuple or list of numbers
    (betas); nested spec objects check their own fields."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    return [v for v in items if isinstance(v, (int, float)) and not isinstance(v, bool)]


class Strict(BaseModel):
    """Base of every spec object: unknown keys are errors (typos never pass silently), a
    number is finite (YAML's .inf and .nan would reach the emitted code as names), and every
    number is one training's float32 holds (0, or a magnitude from 1.2e-38 to 3.4e38): torch
    refuses to convert a larger one and a smaller one is zero, so `nlc check` refuses what
    training could not run."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="after", check_fields=False)
    @classmethod
    def _float32(cls, value: Any) -> Any:
        for number in _numbers(value):
            if abs(number) > FLOAT32_MAX or not in_float32(float(number)):
                raise ValueError(
                    f"expected a number float32 holds: 0, or {FLOAT32_SPAN} in magnitude"
                )
        return value


class DataDependent(Strict):
    """A coefficient computed per token from the input (a linear map squashed into range)."""

    data_dependent: Literal[True] = True
    init: float | None = Field(
        None,
        gt=0,
        description="Value the gate starts near (sets its bias); default: the runtime's start "
        "(Titans memory: lr max/2, momentum 0.73, retention 0.018; self-modifying Titans: "
        "lr 0.12 max, retention 0.018).",
    )
    max: float | None = Field(None, gt=0, description="Upper bound of the squashed range.")


Coefficient = Annotated[
    float | Literal["data_dependent"] | DataDependent,
    Field(description="A constant, or 'data_dependent' / {data_dependent: true, init: ...}."),
]


def is_zero(coefficient: Coefficient | None) -> bool:
    """True when a coefficient is the constant 0 (e.g. an inner learning rate that never moves)."""
    return (
        isinstance(coefficient, (int, float))
        and not isinstance(coefficient, bool)
        and coefficient == 0
    )


class InnerOptimizer(Strict):
    """The inner learning rule of an in-context memory (a learner at its own level)."""

    kind: Literal["gd", "momentum", "dgd"] = Field(
        "gd", description="gd: gradient step; momentum: gd with a momentum state; dgd: delta GD."
    )
    lr: Coefficient = Field(0.1, description="Inner learning rate (theta_t in Titans).")
    momentum: Coefficient | None = Field(
        None, description="Momentum decay (eta_t in Titans); adds a momentum state."
    )
    retention: Coefficient | None = Field(
        None, description="Forgetting gate alpha_t: M <- (1 - alpha) M + update (weight decay)."
    )
    clip: float | None = Field(
        None,
        gt=0,
        description="Clip the norm of each inner update: a chunk's whole change of each weight "
        "matrix (per batch row and head), taken at the chunk's boundary.",
    )
    normalize: bool = Field(
        False,
        description="Normalised step: each memory layer's step is lr / max(1, ||h||^2) for its "
        "input h (normalised LMS), so a layer whose inputs grow cannot diverge; unchanged on "
        "unit-norm keys.",
    )

    @property
    def has_momentum(self) -> bool:
        return self.kind == "momentum" or (self.momentum is not None and not is_zero(self.momentum))


class Update(Strict):
    """How and when an in-context state is updated (docs/design.md, chunk update rule)."""

    period: PeriodField = 16
    objective: Literal["l2", "dot", "lm"] = Field(
        "l2", description="l2: ||M(k) - v||^2; dot: -<M(k), v>; lm: language-model gradient."
    )
    optimizer: InnerOptimizer = InnerOptimizer()
    persist: bool = Field(
        False, description="Carry the state across sequences (test-time learning)."
    )
    partial_chunk: Literal["flush", "drop"] = Field(
        "flush", description="What to do with a last chunk shorter than the period."
    )
    stop_grad: bool = Field(False, description="Do not backpropagate through inner updates.")


class ModelSettings(Strict):
    """Model-wide settings."""

    # upper bounds keep a hostile or mistyped spec from making `nlc check` run for minutes or
    # exhaust memory; each is far above any real model's
    vocab_size: int = Field(
        gt=1, le=1 << 21, description="Vocabulary size (256 for the byte tokenizer)."
    )
    d_model: int = Field(gt=0, le=1 << 16, description="Width of the residual stream.")
    n_heads: int = Field(
        1, gt=0, le=1024, description="Default head count of attention and memories."
    )
    context: int = Field(
        gt=0, le=MAX_CONTEXT, description="Sequence length in tokens (the in-context clock)."
    )
    n_layers: int = Field(1, gt=0, le=1024, description="Default repeat count of blocks.")
