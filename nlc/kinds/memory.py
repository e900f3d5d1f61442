"""What the parametric in-context memories share: `MemoryBase` (fields, states, the runtime
`NeuralMemory`'s parameters), the per-head shapes of a memory MLP, and the emission of a
`NeuralMemory` (`linear_attention`, `delta_memory`, `titans_memory` and a self-modifying Titans
with self-modification off all run on it)."""

from __future__ import annotations

from pydantic import Field, model_validator

from nlc.ir.nodes import Signal, StateDecl, StateKind
from nlc.ir.period import Period
from nlc.kinds.base import ComponentBase, linear_params, norm_params
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
from nlc.spec.common import DataDependent, Update, is_zero

NEURAL_MEMORY = Runtime("nlc_runtime.memories.titans", "NeuralMemory")


class MemoryBase(ComponentBase):
    """Common fields of parametric in-context memories."""

    heads: int | None = Field(None, gt=0, description="Default: model.n_heads.")
    learn_init: bool = Field(True, description="Meta-learn the initial state (else start at 0).")
    update: Update

    def _memory_decls(
        self, local: str, update: Update, period: Period, loc: tuple = ("update", "period")
    ) -> list[StateDecl]:
        """The memory state `local` and, when its rule has momentum, its momentum state
        (named S for the Titans memory M, `<local>_momentum` otherwise)."""
        opt = update.optimizer
        # lr 0 alone does not freeze a memory: forgetting still decays it, M_t = (1 - a_t) M_{t-1}
        # (momentum stays at its zero start, and the DGD term is scaled by lr)
        frozen = is_zero(opt.lr) and (opt.retention is None or is_zero(opt.retention))
        decls = []
        after: tuple[str, ...] = ()
        if opt.has_momentum:
            decls.append(
                StateDecl(
                    "S" if local == "M" else f"{local}_momentum",
                    StateKind.MOMENTUM,
                    period,
                    Signal.LOSS if update.objective == "lm" else Signal.COMPONENT,
                    loc=("update", "optimizer", "momentum"),
                    persist=update.persist,
                    lr_zero=frozen,
                )
            )
            after = (decls[-1].local,)
        decls.append(
            StateDecl(
                local,
                StateKind.MEMORY,
                period,
                Signal.LOSS if update.objective == "lm" else Signal.COMPONENT,
                loc=loc,
                persist=update.persist,
                init="W" if self.learn_init else None,
                after=after,
                lr_zero=frozen,
            )
        )
        return decls

    def state_decls(self, model):
        return [self._weight_decl()] + self._memory_decls(
            "M", self.update, Period.of(self.update.period)
        )

    def _neural_memory_tensors(self, d: int, h: int, memory: list, conv: int | None) -> list:
        """The outer weights of the runtime's `NeuralMemory` around a memory of per-layer
        shapes `memory`: q, k, v projections (one matrix) and their depthwise conv, the
        output norm and gate (RMSNorm(y) * silu(x W_g), Titans §4.4) and projection, the
        meta-learned initial state (`init_W.<i>`) and, when any gate (lr, momentum,
        retention) is data-dependent, one read-out of all three per head (the constant ones'
        rows are unused)."""
        opt = self.update.optimizer
        gates = (opt.lr, opt.momentum, opt.retention)
        data = any(g == "data_dependent" or isinstance(g, DataDependent) for g in gates)
        return (
            linear_params("to_qkv", 3 * d, d)
            + ([("conv.weight", (3 * d, conv))] if conv else [])
            + (linear_params("to_gates", 3 * h, d, bias=True) if data else [])
            + ([(f"init_W.{i}", s) for i, (_, s) in enumerate(memory)] if self.learn_init else [])
            + norm_params("out_norm", d)
            + linear_params("to_gate", d, d)
            + linear_params("proj", d, d)
        )

    @model_validator(mode="after")
    def _in_context_period(self):
        if not isinstance(self.update.period, int):
            raise ValueError(
                "update.period of a memory must be a number of tokens; "
                "a memory that never changes in context is an MLP or linear layer"
            )
        return self


def memory_mlp_shapes(depth: int, expansion: int, h: int, dh: int) -> list:
    """Per-head weights W<i> (heads, in, out) of a memory MLP of `depth` layers (1 = a matrix
    memory), as the runtime holds them (`nlc_runtime.memories.mlp.MemorySpec`)."""
    widths = [dh] + [expansion * dh] * (depth - 1) + [dh]
    return [(f"W{i}", (h, widths[i], widths[i + 1])) for i in range(depth)]


def neural_memory_emission(
    c: MemoryBase,
    d: int,
    heads: int,
    depth: int,
    expansion: float,
    residual: bool = False,
    runtime: Runtime = NEURAL_MEMORY,
    local: str = "M",
) -> Emission:
    """The runtime's `NeuralMemory` (or `runtime`, a subclass) running memory `c`: a memory MLP of
    `depth` layers (hidden `expansion` x head width), its gates and update rule as the spec
    says, one update group at the memory's period, making its state `local` (and its momentum,
    as `MemoryBase._memory_decls` names them) visible."""
    u = c.update
    opt = u.optimizer
    if u.objective not in ("l2", "dot"):
        raise CodegenError(
            ("update", "objective"),
            f"objective '{u.objective}' is not supported by the runtime's memories yet "
            "(l2 or dot; the LM-gradient signal is emitted for CMS blocks, `signal: lm`)",
        )
    if u.objective == "dot" and opt.kind == "dgd":
        raise CodegenError(
            ("update", "optimizer", "kind"),
            "dgd's extra term belongs to the l2 objective; use gd or momentum with dot",
        )
    check_memory_fields(c, depth)
    # each gate is data-dependent or a constant on its own (a constant lr 0 stays 0 even when
    # momentum and forgetting are data-dependent)
    coefs = (opt.lr, opt.momentum, opt.retention)
    kinds = tuple("data" if is_data(g) else "const" for g in coefs)
    used = {kind for kind, g in zip(kinds, coefs, strict=True) if g is not None}
    gates = used.pop() if len(used) == 1 else kinds  # one word when the enabled gates agree
    # the constants and the lr cap a gate reads, and only those (no dead arguments): an
    # unset momentum of kind momentum follows the other gates' word
    lr_gate, mom_gate, alpha_gate = (gates,) * 3 if isinstance(gates, str) else gates
    constants: dict = {}
    if lr_gate == "data":
        constants["lr_max"] = lr_max(opt.lr, 0.1)
    else:
        constants["lr_const"] = const(opt.lr, 0.05)
    if opt.has_momentum and mom_gate == "const":
        constants["mom_const"] = const(opt.momentum, 0.9)
    if opt.retention is not None and alpha_gate == "const":
        constants["alpha_const"] = const(opt.retention, 0.01)
    conv = getattr(c, "conv", None)
    args = dict(
        n_heads=heads,
        depth=depth,
        expansion=float(expansion),
        residual=residual,
        chunk=u.period,
        momentum=opt.has_momentum,
        forget=opt.retention is not None,
        # gd on the l2 objective already is the delta rule; dgd adds the (I - eta k k^T) term
        delta="first" if opt.kind == "dgd" else "none",
        gates=gates,
        **constants,
        **_gate_ranges(opt),
        conv=bool(conv),
        conv_kernel=conv or 4,
        stop_grad=u.stop_grad,
        # the runtime's default objective is l2: written out only when it is not
        **({"objective": u.objective} if u.objective != "l2" else {}),
        **({"normalize": True} if opt.normalize else {}),
        **({"clip": opt.clip} if opt.clip is not None else {}),
        **({"learn_init": False} if not c.learn_init else {}),
        **({"flush": False} if u.partial_chunk == "drop" else {}),
        **({"qk_norm": False} if getattr(c, "qk_norm", True) is False else {}),
        impl=IMPL,
    )
    momentum = "S" if local == "M" else f"{local}_momentum"
    states = (momentum, local) if opt.has_momentum else (local,)
    return Emission(
        Construct(runtime, (d,), args),
        Call.SPAN,
        groups=(Group("memory", u.period, states),),
        flush=u.partial_chunk != "drop",
    )


def check_memory_fields(c: MemoryBase, depth: int) -> None:
    """Refuse the memory settings the runtime cannot honour yet (rather than drop them);
    `depth`: layers of its memory MLP (1: a matrix memory)."""
    if not c.learn_init and depth > 1:
        raise CodegenError(
            ("learn_init",),
            "learn_init: false starts a memory at zero, and an MLP memory at zero has zero "
            "gradients and never leaves it: only matrix memories (depth 1) may",
        )
    if getattr(c, "feature_map", "identity") != "identity":
        raise CodegenError(
            ("feature_map",),
            f"feature map '{c.feature_map}' is not supported by the runtime yet",  # type: ignore[attr-defined]
        )


def _gate_ranges(opt) -> dict:
    """NeuralMemory keywords for the `max` and `init` a spec gives its data-dependent gates
    (only those it sets, so the emitted code keeps the runtime's defaults otherwise)."""
    out: dict = {}
    starts: list[float | None] = []
    lr_top = lr_max(opt.lr, 0.1)
    for field, coef, key in (
        ("lr", opt.lr, None),
        ("momentum", opt.momentum, "mom_max"),
        ("retention", opt.retention, "alpha_max"),
    ):
        top = lr_top
        if key is not None:
            top = 1.0
            if isinstance(coef, DataDependent) and coef.max is not None:
                if coef.max > 1:
                    raise CodegenError(
                        ("update", "optimizer", field, "max"),
                        f"a {field} gate lies in (0, 1]: max must be at most 1, got {coef.max}",
                    )
                top = out[key] = coef.max
        start = coef.init if isinstance(coef, DataDependent) else None
        if start is not None and not start < top:
            raise CodegenError(
                ("update", "optimizer", field, "init"),
                f"the gate starts inside (0, {top}) (its max): init {start} is not",
            )
        starts.append(start)
    if any(v is not None for v in starts):
        out["gate_start"] = tuple(starts)
    return out
