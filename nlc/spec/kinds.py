"""The catalog of component kinds: each kind's spec fields, states and tensor shapes.

A kind is a pydantic model (its YAML fields, unknown keys rejected) plus three pure methods
that the compiler passes call, so everything nlc knows about a kind lives in one class:
- `state_decls(model)`: the states it owns, with their periods and update signals (for `lower`);
- `out_width(in_widths, model)`: the width of its output (for `infer_shapes`);
- `tensors(in_width, model)`: the tensors of each state (for `infer_shapes` and parameter counts);
  the outer weights' tensors (`W`, an outer CMS level) are named and shaped as the runtime
  module's parameters, so `<component>.<tensor>` is a key of the emitted model's state_dict.
`ShapeProblem` carries a field path relative to the component, so errors point at the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, model_validator

from nlc.ir.dim import dim_max
from nlc.ir.nodes import Signal, StateDecl, StateKind
from nlc.ir.period import FROZEN_PERIOD, OUTER_PERIOD, Period
from nlc.spec.common import (
    Coefficient,
    DataDependent,
    Identifier,
    InnerOptimizer,
    PeriodField,
    Strict,
    Update,
    WeightsPeriod,
    is_zero,
)

if TYPE_CHECKING:
    from nlc.spec.schema import ModelSettings

Tensors = dict[str, list[tuple[str, tuple[int, ...]]]]


class ShapeProblem(Exception):
    """A width or head count that does not fit; `loc` is relative to the component."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


class ComponentBase(Strict):
    """Fields every component has."""

    name: Identifier
    inputs: list[str] | None = Field(
        None, description="Names of components (or 'in') it reads; default: the previous one."
    )
    weights: WeightsPeriod = Field(
        "outer", description="Period of its outer parameters: 'outer' (trained) or 'frozen'."
    )

    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    reads_tokens: ClassVar[bool] = False  # True only for the embedding

    # --- what the passes ask of a kind -------------------------------------------------------
    def state_decls(self, model: ModelSettings) -> list[StateDecl]:
        """States this component owns; by default one weight group if it has parameters."""
        return [self._weight_decl()] if self.tensors(model.d_model, model).get("W") else []

    def out_width(self, in_widths: list[int], model: ModelSettings) -> int:
        return _same_width(in_widths)

    def tensors(self, d_in: int, model: ModelSettings) -> Tensors:
        return {}

    # --- helpers ------------------------------------------------------------------------------
    def _weight_decl(self, local: str = "W") -> StateDecl:
        period = FROZEN_PERIOD if self.weights == "frozen" else OUTER_PERIOD
        signal = Signal.NONE if self.weights == "frozen" else Signal.LOSS
        return StateDecl(local, StateKind.WEIGHT, period, signal, loc=("weights",))


def _same_width(in_widths: list[int]) -> int:
    if len(set(in_widths)) > 1:
        raise ShapeProblem(("inputs",), f"inputs have different widths {in_widths}")
    return in_widths[0]


def _linear(name: str, out: int, d_in: int, bias: bool = False) -> list:
    """The parameters of an `nn.Linear` named `name`, as its state_dict names them."""
    return [(f"{name}.weight", (out, d_in))] + ([(f"{name}.bias", (out,))] if bias else [])


def _norm(name: str, d: int) -> list:
    """The gain of an RMSNorm submodule named `name`."""
    return [(f"{name}.weight", (d,))]


def _heads(heads: int | None, d: int, model: ModelSettings) -> tuple[int, int]:
    h = heads if heads is not None else model.n_heads
    if d % h:
        raise ShapeProblem(("heads",), f"width {d} is not divisible by {h} heads")
    return h, d // h


# ----------------------------------------------------------------------------- stateless / outer
class Embedding(ComponentBase):
    """Token embedding: ids -> vectors of width d_model."""

    kind: Literal["embedding"]
    reads_tokens: ClassVar[bool] = True

    def out_width(self, in_widths, model):
        return model.d_model

    def tensors(self, d_in, model):
        return {"W": [("weight", (model.vocab_size, model.d_model))]}


class LMHead(ComponentBase):
    """Output projection to vocabulary logits, optionally tied to an embedding's weights."""

    kind: Literal["lm_head"]
    tie: str | None = Field(
        None, description="Name of an embedding component to share weights with."
    )

    def out_width(self, in_widths, model):
        if in_widths[0] != model.d_model and self.tie:
            raise ShapeProblem(
                ("tie",), f"a tied head needs width {model.d_model}, got {in_widths[0]}"
            )
        return model.vocab_size

    def tensors(self, d_in, model):
        return {} if self.tie else {"W": [("weight", (model.vocab_size, d_in))]}


class Norm(ComponentBase):
    """RMSNorm or LayerNorm over the channel dimension."""

    kind: Literal["norm"]
    type: Literal["rms", "layer"] = "rms"
    eps: float = Field(1e-6, gt=0)

    def tensors(self, d_in, model):
        return {"W": [("weight", (d_in,))] + ([("bias", (d_in,))] if self.type == "layer" else [])}


class Linear(ComponentBase):
    """A linear projection to `out` channels."""

    kind: Literal["linear"]
    out: int = Field(gt=0)
    bias: bool = False

    def out_width(self, in_widths, model):
        return self.out

    def tensors(self, d_in, model):
        return {
            "W": [("weight", (self.out, d_in))] + ([("bias", (self.out,))] if self.bias else [])
        }


class Identity(ComponentBase):
    """Passes its input through (vanishes under collapse)."""

    kind: Literal["identity"]


class Add(ComponentBase):
    """Residual combinator: the sum of its inputs."""

    kind: Literal["add"]
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None


class Gate(ComponentBase):
    """Gating combinator (Titans MAG): y = norm(a) * act(norm(b))."""

    kind: Literal["gate"]
    activation: Literal["sigmoid", "silu"] = "sigmoid"
    normalize: bool = Field(True, description="Normalise both inputs with learnable weights first.")
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2

    def tensors(self, d_in, model):
        return {"W": _norm("norm_a", d_in) + _norm("norm_b", d_in)} if self.normalize else {}


class HiddenWidth(Strict):
    """The hidden width of an MLP: absolute (`hidden`) or a multiple of the input width
    (`expansion`, which scales with d_model in the emitted Config); at most one of them."""

    hidden: int | None = Field(
        None, gt=0, description="Hidden width in channels (fixed: does not scale with d_model)."
    )
    expansion: int | None = Field(
        None, gt=0, le=64, description="Hidden width as a multiple of the input width."
    )

    @model_validator(mode="after")
    def _one_width(self):
        if self.hidden is not None and self.expansion is not None:
            raise ValueError("set either 'hidden' (channels) or 'expansion' (x input width)")
        return self

    def hidden_width(self, d_in: int) -> int:
        if self.hidden is not None:
            return self.hidden
        if self.expansion is not None:
            return self.expansion * d_in
        return self.default_hidden(d_in)

    def default_hidden(self, d_in: int) -> int:
        return 4 * d_in


class MLP(ComponentBase, HiddenWidth):
    """Two-layer MLP: down(act(up(x))); hidden width by default 4 * input width."""

    kind: Literal["mlp"]
    activation: Literal["gelu", "silu", "relu"] = "gelu"

    def tensors(self, d_in, model):
        h = self.hidden_width(d_in)
        return {"W": _linear("up", h, d_in) + _linear("down", d_in, h)}


class SwiGLU(ComponentBase, HiddenWidth):
    """Gated MLP: down(silu(gate(x)) * up(x)); hidden width by default 8/3 * input width."""

    kind: Literal["swiglu"]

    def default_hidden(self, d_in: int) -> int:
        return (8 * d_in) // 3

    def tensors(self, d_in, model):
        h = self.hidden_width(d_in)
        return {"W": _linear("gate", h, d_in) + _linear("up", h, d_in) + _linear("down", d_in, h)}


class Conv(ComponentBase):
    """Causal depthwise 1-D convolution over time."""

    kind: Literal["conv"]
    window: int = Field(4, gt=0)

    def tensors(self, d_in, model):
        return {"W": [("weight", (d_in, self.window))]}  # depthwise, no bias


# ----------------------------------------------------------------------------- attention
class Attention(ComponentBase):
    """Softmax attention with a KV cache (period 1): causal, sliding-window, persistent-token
    prefix, or Titans MAC segment attention over [persistent; memory readout; segment]."""

    kind: Literal["attention"]
    heads: int | None = Field(None, gt=0, description="Default: model.n_heads.")
    window: int | None = Field(
        None, gt=0, description="Sliding window length; default full causal."
    )
    segment: int | None = Field(
        None, gt=0, description="MAC: attend within segments of this length (needs 2 inputs)."
    )
    persistent_tokens: int = Field(0, ge=0, description="Learned prefix tokens (Titans).")
    rope: bool = True
    qk_norm: bool = Field(False, description="RMSNorm on each head's q and k (before RoPE).")
    max_inputs: ClassVar[int | None] = 2  # MAC: [segment stream, memory readout]

    @model_validator(mode="after")
    def _one_span(self):
        if self.window is not None and self.segment is not None:
            raise ValueError(
                "set either 'window' (sliding-window attention) or 'segment' (MAC segment "
                "attention), not both"
            )
        return self

    def state_decls(self, model):
        # The cache appends token t before attention reads it (DESIGN.md §1).
        return [
            self._weight_decl(),
            StateDecl("kv", StateKind.KV_CACHE, Period(tokens=1), Signal.INPUTS, fresh=True),
        ]

    def out_width(self, in_widths, model):
        if len(in_widths) == 2 and self.segment is None:
            raise ShapeProblem(("inputs",), "a second input (memory readout) needs 'segment' (MAC)")
        if len(in_widths) == 1 and self.segment is not None:
            raise ShapeProblem(
                ("inputs",),
                "'segment' (MAC) attention reads two inputs: the stream and the memory readout",
            )
        d = _same_width(in_widths)
        _heads(self.heads, d, model)
        return d

    def tensors(self, d_in, model):
        at = "attn." if self.segment is not None else ""  # MAC: an Attention inside
        w = _linear(f"{at}qkv", 3 * d_in, d_in) + _linear(f"{at}proj", d_in, d_in)
        if self.qk_norm:  # one RMSNorm gain per head width, shared by the heads
            _, dh = _heads(self.heads, d_in, model)
            w += _norm(f"{at}q_norm", dh) + _norm(f"{at}k_norm", dh)
        if self.persistent_tokens:
            w.append(("persistent", (self.persistent_tokens, d_in)))
        span = min(self.segment or self.window or model.context, model.context)
        span += self.persistent_tokens
        return {"W": w, "kv": [("k", (span, d_in)), ("v", (span, d_in))]}


# ----------------------------------------------------------------------------- memories
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
            _linear("to_qkv", 3 * d, d)
            + ([("conv.weight", (3 * d, conv))] if conv else [])
            + (_linear("to_gates", 3 * h, d, bias=True) if data else [])
            + ([(f"init_W.{i}", s) for i, (_, s) in enumerate(memory)] if self.learn_init else [])
            + _norm("out_norm", d)
            + _linear("to_gate", d, d)
            + _linear("proj", d, d)
        )

    @model_validator(mode="after")
    def _in_context_period(self):
        if not isinstance(self.update.period, int):
            raise ValueError(
                "update.period of a memory must be a number of tokens; "
                "a memory that never changes in context is an MLP or linear layer"
            )
        return self


class LinearAttention(MemoryBase):
    """Linear attention as a matrix memory: M_t = M_{t-1} + v_t k_t^T (NL §2.1, Eqs. 12-16)."""

    kind: Literal["linear_attention"]
    feature_map: Literal["identity", "elu1"] = "identity"
    update: Update = Update(period=1, objective="dot", optimizer=InnerOptimizer(lr=1.0))

    def tensors(self, d_in, model):
        h, dh = _heads(self.heads, d_in, model)
        m = _memory_mlp_shapes(1, 1, h, dh)
        return {"W": self._neural_memory_tensors(d_in, h, m, None), "M": m}


class DeltaMemory(LinearAttention):
    """Delta-rule matrix memory: M_t = (I - eta k k^T) M_{t-1} + eta v k^T (DeltaNet, Eq. 65),
    gated when `retention` is set (Gated DeltaNet)."""

    kind: Literal["delta_memory"]  # type: ignore[assignment]
    update: Update = Update(
        period=1, objective="l2", optimizer=InnerOptimizer(kind="gd", lr="data_dependent")
    )


class TitansMemory(MemoryBase):
    """Titans neural long-term memory (LMM): an MLP memory trained in context on ||M(k) - v||^2
    with momentum (surprise) and forgetting (Titans §3.1, Eqs. 8-15)."""

    kind: Literal["titans_memory"]
    depth: int = Field(2, ge=1, description="Layers of the memory MLP; 1 = matrix memory.")
    expansion: int = Field(2, ge=1, description="Hidden width of the memory MLP / head width.")
    residual: bool = Field(
        False,
        description="Residual memory M(x) = x + MLP(x), as HOPE's memories (NL §8); false: "
        "Titans' plain MLP M(x) = MLP(x).",
    )
    conv: int | None = Field(4, gt=0, description="Depthwise conv window after q/k/v; null = none.")
    qk_norm: bool = True
    update: Update = Update(
        period=16,
        objective="l2",
        optimizer=InnerOptimizer(
            kind="momentum",
            lr="data_dependent",
            momentum="data_dependent",
            retention="data_dependent",
        ),
    )

    def tensors(self, d_in, model):
        h, dh = _heads(self.heads, d_in, model)
        m = _memory_mlp_shapes(self.depth, self.expansion, h, dh)
        out = {"W": self._neural_memory_tensors(d_in, h, m, self.conv), "M": m}
        if self.update.optimizer.has_momentum:
            out["S"] = m
        return out


def _memory_mlp_shapes(depth: int, expansion: int, h: int, dh: int) -> list:
    """Per-head weights W<i> (heads, in, out) of a memory MLP of `depth` layers (1 = a matrix
    memory), as the runtime holds them (`nlc_runtime.mlp.MemorySpec`)."""
    widths = [dh] + [expansion * dh] * (depth - 1) + [dh]
    return [(f"W{i}", (h, widths[i], widths[i + 1])) for i in range(depth)]


class FrozenMemory(ComponentBase):
    """The read path of a Titans memory that never learns in context, as a static map:
    y = W_o(RMSNorm(M_0(q)) * silu(x W_g)), q = l2norm(silu(conv(x W_q))) per head, with M_0
    an outer weight. What a `titans_memory` with inner lr 0 and no forgetting (or a period of
    at least the context) computes: its keys, values and gates only feed updates that never
    change an output (`nlc.passes.freeze_static_memories` writes that rule)."""

    kind: Literal["frozen_memory"]
    heads: int | None = Field(None, gt=0, description="Default: model.n_heads.")
    depth: int = Field(2, ge=1, description="Layers of the memory MLP; 1 = matrix memory.")
    expansion: int = Field(2, ge=1, description="Hidden width of the memory MLP / head width.")
    residual: bool = Field(False, description="M(x) = x + MLP(x) (as HOPE's memories).")
    conv: int | None = Field(4, gt=0, description="Depthwise conv window after q; null = none.")

    def tensors(self, d_in, model):  # the runtime's FrozenMemory
        h, dh = _heads(self.heads, d_in, model)
        w = _linear("to_q", d_in, d_in) + (
            [("conv.weight", (d_in, self.conv))] if self.conv else []
        )
        m = _memory_mlp_shapes(self.depth, self.expansion, h, dh)
        w += [(f"init_W.{i}", s) for i, (_, s) in enumerate(m)]
        # RMSNorm(.) * silu(x W_g), then the output projection
        return {
            "W": w
            + _norm("out_norm", d_in)
            + _linear("to_gate", d_in, d_in)
            + _linear("proj", d_in, d_in)
        }


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

    @model_validator(mode="after")
    def _projections_in_context(self):
        if self.self_modifying and not isinstance(self.update.projection_period, int):
            raise ValueError(
                "update.projection_period must be a number of tokens: the k, v, q, eta, alpha "
                "memories learn in context (static projections: self_modifying: false)"
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
        h, dh = _heads(self.heads, d_in, model)
        # every memory is D -> E -> D (M_eta and M_alpha too: a static per-head read-out of
        # their output gives the rate, eta_w / alpha_w below)
        mlp = _memory_mlp_shapes(2, self.expansion, h, dh)
        out: Tensors = {}
        for local in self.projection_memories + ["M_memory"]:
            out[local] = mlp
            if self.update.optimizer.has_momentum:
                out[f"{local}_momentum"] = mlp
        if not self.self_modifying:  # the runtime's NeuralMemory with static projections
            out["W"] = self._neural_memory_tensors(d_in, h, mlp, self.conv)
            return out
        # the runtime's SelfModifyingTitans: in_proj, conv, initial states, read-outs, output
        w = _linear("in_proj", d_in, d_in) + [("conv.weight", (d_in, self.conv or 1))]
        if not self.adaptive_q:
            w += _linear("q_proj", d_in, d_in)
        if self.learn_init:
            for local in self.projection_memories + ["M_memory"]:
                short = _SELFMOD_INIT[local]
                w += [(f"init.{short}_{n}", s) for n, s in mlp]
        w += [(f"{g}_{p}", (h, dh) if p == "w" else (h,)) for g in ("eta", "alpha")
              for p in ("w", "b")]  # fmt: skip
        out["W"] = w + _norm("out_norm", d_in) + _linear("proj", d_in, d_in)
        return out


# the runtime's key of each self-modifying memory's initial state (`init.<key>_W<i>`)
_SELFMOD_INIT = {"M_k": "k", "M_v": "v", "M_q": "q", "M_eta": "eta", "M_alpha": "alpha",
                 "M_memory": "mem"}  # fmt: skip


# ----------------------------------------------------------------------------- CMS
# lr * period * width of a CMS level (signal local) above which its in-context step diverges.
STABLE_STEP = 2.0
LM_SIGNAL_LR = 1e-2  # default inner lr of a level learning from the LM gradient


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
            extra = _norm(f"norms.{i}", d_in) if self.variant != "independent" or i == 0 else []
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
            agg = [("agg", (len(self.levels),))]
            if outer:  # the block's outer weights (a W state exists: some level is in context)
                outer += agg
            else:  # no W state: the weight rides with the (outer) levels' own
                out[f"mlp{len(self.levels) - 1}"] = out[f"mlp{len(self.levels) - 1}"] + agg
        if outer:
            out["W"] = outer
        return out

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
