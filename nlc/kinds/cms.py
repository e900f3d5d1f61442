"""Kind `cms`: the Continuum Memory System, a chain of MLP levels with their own periods (`CMS`)."""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from nlc.ir.dim import Dim, dim_max
from nlc.ir.nodes import Signal, StateDecl, StateKind
from nlc.ir.period import FROZEN_PERIOD, OUTER_PERIOD, Period
from nlc.kinds.base import ComponentBase, HiddenWidth, ShapeProblem, Tensors, norm_params
from nlc.kinds.emission import (
    IMPL,
    Call,
    CodegenError,
    Construct,
    Emission,
    Group,
    Ratio,
    Runtime,
    is_data,
)
from nlc.spec.common import Coefficient, PeriodField, is_zero

# lr * period * width of a CMS level (signal local) above which its in-context step diverges.
STABLE_STEP = 2.0
LM_SIGNAL_LR = 1e-2  # default inner lr of a level learning from the LM gradient
CMS_RUNTIME = Runtime("nlc_runtime.memories.cms", "CMS")


class CMSLevel(HiddenWidth):
    """One MLP block of a Continuum Memory System, with its own period; hidden width by
    default 4 * input width."""

    period: PeriodField
    lr: Coefficient | None = Field(
        None,
        description="Inner learning rate of this level; default (signal local): 1 / (period x "
        "width), half the largest stable step (width: the larger of the input and hidden "
        "widths); signal lm: 0.01.",
    )
    optimizer: Literal["gd", "momentum"] = "gd"
    momentum: float = Field(0.9, ge=0, lt=1, description="Read with optimizer: momentum only.")
    persist: bool = False

    @model_validator(mode="after")
    def _momentum_needs_its_optimizer(self):
        if "momentum" in self.model_fields_set and self.optimizer != "momentum":
            raise ValueError("'momentum' is only used with optimizer: momentum (this level: gd)")
        return self


class CMS(ComponentBase):
    """Continuum Memory System (NL §7, Eqs. 70-74): a chain of MLP blocks, block l updated every
    C_l tokens from the signal of the tokens of its chunk.

    Each level is a pre-norm residual sublayer, h + MLP_l(RMSNorm(h)), so a CMS takes the
    residual stream and replaces a Transformer's norm/MLP/residual triple (one level of period
    `outer` is exactly that triple). Signal `local`: level l learns in context to map its
    normalised input n to n W_v^l (W_v^l an outer weight) — fully inside the block. Signal `lm`:
    the language-model gradient at the block's output (needs a model-level piece driver)."""

    kind: Literal["cms"]
    levels: list[CMSLevel] = Field(min_length=1)
    variant: Literal["sequential", "nested", "independent"] = "sequential"
    signal: Literal["lm", "local"] = Field(
        "local",
        description="local: a local L2 objective inside the block; lm: the LM-loss gradient at "
        "the block's output.",
    )
    activation: Literal["gelu", "silu", "relu"] = "gelu"
    learn_init: bool = True

    runtimes: ClassVar[tuple[Runtime, ...]] = (CMS_RUNTIME,)
    examples: ClassVar[tuple[dict, ...]] = (
        {"levels": [{"period": 2}, {"period": 4, "optimizer": "momentum"}, {"period": "outer"}]},
        {"levels": [{"period": 2, "persist": True}, {"period": "frozen", "hidden": 8}],
         "variant": "independent"},
        {"levels": [{"period": 2}, {"period": 4}], "variant": "nested", "signal": "lm"},
        {"levels": [{"period": "outer"}]},
    )  # fmt: skip

    def state_decls(self, model):
        decls = []
        needs_init = False
        for i, level in enumerate(self.levels):
            period = Period.of(level.period)
            loc = ("levels", i, "period")
            if not period.in_context:
                frozen = period.is_frozen or self.weights == "frozen"
                decls.append(
                    StateDecl(
                        f"mlp{i}",
                        StateKind.WEIGHT,
                        FROZEN_PERIOD if frozen else OUTER_PERIOD,
                        Signal.NONE if frozen else Signal.LOSS,
                        loc=loc,
                    )
                )
                continue
            needs_init = True  # norms (and initial values) of in-context levels are outer weights
            signal = Signal.LOSS if self.signal == "lm" else Signal.COMPONENT
            after: tuple[str, ...] = ()
            if level.optimizer == "momentum":
                decls.append(
                    StateDecl(
                        f"mlp{i}_momentum",
                        StateKind.MOMENTUM,
                        period,
                        signal,
                        loc=loc,
                        persist=level.persist,
                        lr_zero=is_zero(level.lr),
                    )
                )
                after = (f"mlp{i}_momentum",)
            decls.append(
                StateDecl(
                    f"mlp{i}",
                    StateKind.MLP_LEVEL,
                    period,
                    signal,
                    loc=loc,
                    persist=level.persist,
                    init="W" if self.learn_init else None,
                    after=after,
                    lr_zero=is_zero(level.lr),
                )
            )
        if needs_init:
            decls.insert(0, self._weight_decl())
        return decls

    def tensors(self, d_in, model):
        out: Tensors = {}
        outer = []  # norms, local-objective targets and initial values of in-context levels
        for i, level in enumerate(self.levels):
            h = level.hidden_width(d_in)
            self._check_step_is_stable(i, level, self.level_width(i, d_in))
            shapes = [("W0", (d_in, h)), ("W1", (h, d_in))]  # f(n) = act(n W0) W1
            weights = [(f"W1.{i}", (d_in, h)), (f"W2.{i}", (h, d_in))]  # the runtime's names
            extra = norm_params(f"norms.{i}", d_in) if self.variant != "independent" else []
            in_context = Period.of(level.period).in_context
            if self.signal == "local" and in_context:  # the target of its local objective
                extra.append((f"W_v.{i}", (d_in, d_in)))
            if in_context:
                out[f"mlp{i}"] = shapes
                if level.optimizer == "momentum":
                    out[f"mlp{i}_momentum"] = shapes
                outer += extra + (weights if self.learn_init else [])
            else:
                out[f"mlp{i}"] = weights + extra
        if self.variant == "independent":
            self._place_shared(out, outer, d_in)
        if outer:
            out["W"] = outer
        return out

    def _place_shared(self, out: Tensors, outer: list, d_in: int) -> None:
        """`independent`: the block-wide norm and weighted sum (`agg`) are outer weights of the
        block (in `outer`, the W state) while some level is in context; otherwise the norm
        rides with level 0 and `agg` with the last level, or, when that level is frozen, with
        the nearest level that trains (both frozen only when every level is, as the runtime's
        `CMS(frozen=...)` freezes them)."""
        k = len(self.levels)
        trained = [i for i, lv in enumerate(self.levels) if lv.period != "frozen"]

        def home(i: int) -> int:
            return i if i in trained or not trained else trained[0 if i == 0 else -1]

        norm = norm_params("norms.0", d_in)
        if Period.of(self.levels[0].period).in_context or (outer and 0 not in trained):
            outer[:0] = norm  # first, as level 0's own norm would be
        else:
            out[f"mlp{home(0)}"] = out[f"mlp{home(0)}"] + norm
        agg = [("agg", (k,))]
        if outer:  # the block's outer weights (a W state exists: some level is in context)
            outer += agg
        else:  # no W state: the weight rides with an outer level's own
            out[f"mlp{home(k - 1)}"] = out[f"mlp{home(k - 1)}"] + agg

    def part_parameters(self, part, params):
        """An outer level's sublayers, as `expand_outer_cms` writes them (`level<i>.norm`,
        `level<i>.mlp`): the norm's gain is the runtime's `norms.<i>.weight`; the MLP's up and
        down weights are `W1.<i>` and `W2.<i>` transposed (used as n @ W1; nn.Linear stores
        out x in)."""
        match = re.fullmatch(r"level(\d+)\.(norm|mlp)", part)
        if match is None:
            return {}
        i, role = match.groups()
        table = {
            "norm": [("weight", f"norms.{i}.weight", None)],
            "mlp": [("up.weight", f"W1.{i}", "T"), ("down.weight", f"W2.{i}", "T")],
        }
        return {local: (name, view) for local, name, view in table[role] if name in params}

    def level_width(self, i: int, d_in: int) -> int:
        """The width that scales level i's step: the larger of its input and hidden widths."""
        return dim_max(d_in, self.levels[i].hidden_width(d_in))

    def level_lr(self, i: int, d_in: int) -> float:
        """Level i's inner learning rate: the spec's, else the default (see `CMSLevel.lr`)."""
        level = self.levels[i]
        if level.lr is not None:
            return float(level.lr)
        period = Period.of(level.period)
        if self.signal == "lm" or not period.in_context:
            return LM_SIGNAL_LR
        return STABLE_STEP / 2 / (period.tokens * self.level_width(i, d_in))

    def _check_step_is_stable(self, i: int, level: CMSLevel, width: int) -> None:
        """Signal local: one in-context step sums `period` gradients whose layer inputs have a
        squared norm of about `width` (normalised inputs, hidden activations), so gradient
        descent on the level's quadratic objective stays stable only while lr * period *
        width <= 2 (lr * largest curvature < 2; momentum only widens the bound). Beyond it the
        outputs turn non-finite within a few chunks: refused here, naming the largest lr."""
        period = Period.of(level.period)
        if self.signal != "local" or not period.in_context or not isinstance(level.lr, float):
            return
        product = level.lr * period.tokens * width
        if product > STABLE_STEP:
            raise ShapeProblem(
                ("levels", i, "lr"),
                f"lr {level.lr:g} x period {period.tokens} x width {width} = {product:.3g} "
                f"exceeds {STABLE_STEP:g}: the in-context step would diverge (a step sums "
                f"period gradients of inputs with squared norm ~width); use lr <= "
                f"{STABLE_STEP / (period.tokens * width):.3g}",
            )

    def emit(self, d, model, tie_attr) -> Emission:
        if not self.learn_init:
            raise CodegenError(
                ("learn_init",), "the runtime CMS always meta-learns its initial state"
            )
        for i, level in enumerate(self.levels):
            if level.persist and not isinstance(level.period, int):
                raise CodegenError(
                    ("levels", i, "persist"),
                    f"a level with period {level.period} never changes in context: nothing to "
                    "persist",
                )
            if is_data(level.lr):
                raise CodegenError(("levels", i, "lr"), "CMS levels take a constant learning rate")
        periods = [lv.period if isinstance(lv.period, int) else None for lv in self.levels]
        persist = [i for i, lv in enumerate(self.levels) if lv.persist]
        # period frozen: never updated in context (period None) and never trained either
        frozen = [i for i, lv in enumerate(self.levels) if lv.period == "frozen"]
        momentum = [lv.momentum if lv.optimizer == "momentum" else None for lv in self.levels]
        args = dict(
            periods=periods,
            hidden=[lv.hidden_width(d) for lv in self.levels],
            lrs=[_level_lr(self, i, d) for i in range(len(self.levels))],
            variant=self.variant,
            signal="lm_grad" if self.signal == "lm" else "local",
            act=self.activation,
            **({"momentum": momentum} if any(m is not None for m in momentum) else {}),
            **({"persist": tuple(persist)} if persist else {}),
            **({"frozen": tuple(frozen)} if frozen else {}),
            impl=IMPL,
        )
        groups = tuple(
            Group(
                f"L{i}",
                lv.period,
                ((f"mlp{i}_momentum",) if lv.optimizer == "momentum" else ()) + (f"mlp{i}",),
            )
            for i, lv in enumerate(self.levels)
            if isinstance(lv.period, int)
        )
        fixed = [f"levels.{i}.hidden" for i, lv in enumerate(self.levels) if lv.hidden is not None]
        return Emission(
            Construct(CMS_RUNTIME, (d,), args),
            Call.SPAN if groups else Call.STREAM,
            groups=groups,
            lm_signal=self.signal == "lm" and bool(groups),
            fixed=tuple(fixed),
        )


def _level_lr(c: CMS, i: int, d: int) -> float | Ratio:
    """Level i's inner lr: the spec's number, or its default (`CMS.level_lr`); the default of
    a level learning in context from its local signal scales with the level's width, so it is
    written as an expression of the Config (`1.0 / (32 * (4 * cfg.d_model))`): a wider model
    keeps its step stable."""
    level, width = c.levels[i], c.level_width(i, d)
    local = c.signal == "local" and isinstance(level.period, int)
    if level.lr is not None or not local or not isinstance(width, Dim):
        return c.level_lr(i, d)
    return Ratio(STABLE_STEP / 2, level.period * width)


KIND = CMS
