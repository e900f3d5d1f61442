"""Kind `self_modifying_titans`: HOPE's self-modifying Titans (`SelfModifyingTitans`; with
self-modification off, a Titans memory on `NeuralMemory`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from nlc.ir.period import Period
from nlc.kinds.base import Tensors, head_split, linear_params, norm_params
from nlc.kinds.emission import (
    IMPL,
    Call,
    CodegenError,
    Construct,
    Emission,
    Group,
    Runtime,
    const,
    is_data,
    lr_max,
)
from nlc.kinds.memory import (
    NEURAL_MEMORY,
    MemoryBase,
    check_memory_fields,
    memory_mlp_shapes,
    neural_memory_emission,
)
from nlc.spec.common import DataDependent, InnerOptimizer, PeriodField, Update

SELF_MODIFYING_TITANS = Runtime("nlc_runtime.memories.selfmod", "SelfModifyingTitans")


class SelfModUpdate(Update):
    """Update rule of self-modifying Titans: one chunk size for the main memory and one for
    the memories that generate k, v, q, eta and alpha (NL arXiv §8.2)."""

    period: PeriodField = 16
    projection_period: PeriodField = Field(
        4, description="Chunk size of the k/v/q/eta/alpha memories."
    )
    optimizer: InnerOptimizer = InnerOptimizer(
        kind="dgd", lr="data_dependent", retention="data_dependent"
    )


class SelfModifyingTitans(MemoryBase):
    """Self-modifying Titans (NL arXiv §8, Eqs. 83-93): k, v, q, eta, alpha and the main memory
    are each a 2-layer residual MLP memory with a meta-learned initial state, trained in context
    with DGD on self-generated values v_hat = M(v)."""

    kind: Literal["self_modifying_titans"]
    expansion: int = Field(2, ge=1, description="Hidden width of each memory MLP / head width.")
    adaptive_q: bool = Field(True, description="q from a memory (else a static projection).")
    self_modifying: bool = Field(
        True, description="false: static k/v/q/eta/alpha projections (plain Titans memory)."
    )
    conv: int | None = Field(4, gt=0)
    update: SelfModUpdate = SelfModUpdate()

    runtimes: ClassVar[tuple[Runtime, ...]] = (SELF_MODIFYING_TITANS, NEURAL_MEMORY)
    examples: ClassVar[tuple[dict, ...]] = (
        {},
        {"adaptive_q": False, "update": {"optimizer": {"kind": "momentum", "momentum": 0.9,
                                                       "lr": "data_dependent",
                                                       "retention": "data_dependent"}}},
        {"self_modifying": False},
    )  # fmt: skip
    freezes: ClassVar[bool] = True

    @model_validator(mode="after")
    def _projections_in_context(self):
        if self.self_modifying and not isinstance(self.update.projection_period, int):
            raise ValueError(
                "update.projection_period must be a number of tokens: the k, v, q, eta, alpha "
                "memories learn in context (static projections: self_modifying: false)"
            )
        if not self.self_modifying and self.update.projection_period == "frozen":
            # static projections are outer weights of the component, trained with the rest
            raise ValueError(
                "update.projection_period: frozen is not honoured with self_modifying: false: "
                "the static k, v, q projections are weights of the component, trained with its "
                "others; freeze them all with weights: frozen"
            )
        return self

    @property
    def projection_memories(self) -> list[str]:
        if not self.self_modifying:
            return []
        return ["M_k", "M_v"] + (["M_q"] if self.adaptive_q else []) + ["M_eta", "M_alpha"]

    def state_decls(self, model):
        decls = [self._weight_decl()]
        proj_period = Period.of(self.update.projection_period)
        for local in self.projection_memories:
            decls += self._memory_decls(
                local, self.update, proj_period, loc=("update", "projection_period")
            )
        decls += self._memory_decls("M_memory", self.update, Period.of(self.update.period))
        return decls

    def tensors(self, d_in, model):
        h, dh = head_split(self.heads, d_in, model)
        # every memory is D -> E -> D (M_eta and M_alpha too: a static per-head read-out of
        # their output gives the rate, eta_w / alpha_w below)
        mlp = memory_mlp_shapes(2, self.expansion, h, dh)
        out: Tensors = {}
        for local in self.projection_memories + ["M_memory"]:
            out[local] = mlp
            if self.update.optimizer.has_momentum:
                out[f"{local}_momentum"] = mlp
        if not self.self_modifying:  # the runtime's NeuralMemory with static projections
            out["W"] = self._neural_memory_tensors(d_in, h, mlp, self.conv)
            return out
        # the runtime's SelfModifyingTitans: in_proj, conv, initial states, read-outs, output
        w = linear_params("in_proj", d_in, d_in) + [("conv.weight", (d_in, self.conv or 1))]
        if not self.adaptive_q:
            w += linear_params("q_proj", d_in, d_in)
        if self.learn_init:
            for local in self.projection_memories + ["M_memory"]:
                short = _SELFMOD_INIT[local]
                w += [(f"init.{short}_{n}", s) for n, s in mlp]
        w += [(f"{g}_{p}", (h, dh) if p == "w" else (h,)) for g in ("eta", "alpha")
              for p in ("w", "b")]  # fmt: skip
        out["W"] = w + norm_params("out_norm", d_in) + linear_params("proj", d_in, d_in)
        return out

    def memory_shape(self):
        # self-modification on: several memories, its own family
        return None if self.self_modifying else (2, self.expansion, True, self.conv)

    def emit(self, d, model, tie_attr) -> Emission:
        heads = self.heads or model.n_heads
        u = self.update
        opt = u.optimizer
        if not self.self_modifying:
            return neural_memory_emission(
                self, d, heads, depth=2, expansion=self.expansion, residual=True, local="M_memory"
            )
        if u.objective != "l2":
            raise CodegenError(
                ("update", "objective"), "self-modifying Titans learns with the l2 objective"
            )
        check_memory_fields(self, 2)
        for field in ("lr", "retention"):  # generated per token by M_eta / M_alpha (Eq. 88)
            if not is_data(getattr(opt, field)):
                raise CodegenError(
                    ("update", "optimizer", field),
                    f"self-modifying Titans generates its {field} with its own memory "
                    f"(M_eta / M_alpha): {field} must be data_dependent",
                )
        if isinstance(opt.retention, DataDependent) and opt.retention.max is not None:
            raise CodegenError(
                ("update", "optimizer", "retention", "max"),
                "self-modifying Titans' retention gate has no max (it lies in (0, 1))",
            )
        lr_top = lr_max(opt.lr, 0.5)
        lr_start = opt.lr.init if isinstance(opt.lr, DataDependent) else None
        forget = opt.retention.init if isinstance(opt.retention, DataDependent) else None
        if lr_start is not None and not lr_start < lr_top:
            raise CodegenError(
                ("update", "optimizer", "lr", "init"),
                f"the lr starts inside (0, {lr_top}) (its max): init {lr_start} is not",
            )
        if forget is not None and not forget < 1:
            raise CodegenError(
                ("update", "optimizer", "retention", "init"),
                f"the retention (forgetting) gate starts inside (0, 1): init {forget} is not",
            )
        starts = {"lr_start": lr_start, "forget_start": forget}
        if is_data(opt.momentum):
            raise CodegenError(
                ("update", "optimizer", "momentum"),
                "self-modifying Titans takes a constant momentum (or none)",
            )
        momentum = const(opt.momentum, 0.0) if opt.has_momentum else None
        for field, period in (("period", u.period), ("projection_period", u.projection_period)):
            if not isinstance(period, int):
                raise CodegenError(
                    ("update", field),
                    f"self-modifying Titans learns its memories in context: {field} is a number "
                    f"of tokens, not {period!r}",
                )
        args = dict(
            n_heads=heads,
            expansion=float(self.expansion),
            chunk_mem=u.period,
            chunk_other=u.projection_period,
            momentum=momentum,
            adaptive_q=self.adaptive_q,
            conv_kernel=self.conv or 1,
            lr_max=lr_top,
            **{key: v for key, v in starts.items() if v is not None},
            dgd="first" if opt.kind == "dgd" else "none",
            stop_grad=u.stop_grad,
            **({"normalize": True} if opt.normalize else {}),
            **({"clip": opt.clip} if opt.clip is not None else {}),
            **({"flush": False} if u.partial_chunk == "drop" else {}),
            impl=IMPL,
        )
        momenta = opt.has_momentum
        projections = tuple(
            name
            for m in self.projection_memories
            for name in ((f"{m}_momentum",) if momenta else ()) + (m,)
        )
        main = (("M_memory_momentum",) if momenta else ()) + ("M_memory",)
        return Emission(
            Construct(SELF_MODIFYING_TITANS, (d,), args),
            Call.SPAN,
            groups=(
                Group("projections", u.projection_period, projections, shaped=True),
                Group("memory", u.period, main, shaped=True),
            ),
            flush=u.partial_chunk != "drop",
        )


# the runtime's key of each self-modifying memory's initial state (`init.<key>_W<i>`)
_SELFMOD_INIT = {"M_k": "k", "M_v": "v", "M_q": "q", "M_eta": "eta", "M_alpha": "alpha",
                 "M_memory": "mem"}  # fmt: skip


KIND = SelfModifyingTitans
