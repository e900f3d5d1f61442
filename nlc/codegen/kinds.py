"""How each component kind is emitted: the constructor of its module and the expression that
calls it. Values from the spec are written with repr(), names are validated identifiers, so a
spec cannot inject code. Kinds or options the runtime cannot run yet raise `CodegenError`
naming the spec field, instead of emitting something that would silently differ."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from nlc.ir.dim import Dim, code
from nlc.spec import kinds as k
from nlc.spec.common import Coefficient, DataDependent


class CodegenError(Exception):
    """The spec is valid but this code generator cannot emit it; `loc` is relative to the
    component."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


@dataclass(frozen=True)
class Group:
    """An update group of a streaming runtime module (`nlc_runtime.stream`): the emitted loop
    nest calls `module.update(state, name)` after every `period` tokens of the sequence."""

    name: str
    period: int
    states: tuple[str, ...]  # the IR states that become visible (local names), faster first
    chunk: bool = True  # a chunk rule (flushed or dropped at the end); False: a cache reset
    note: str = ""  # what the update does, where no state names say it
    # the shape of its state changes inside a chunk (pending tokens, a segment's cache): a
    # wavefront's pieces must end on its boundaries (`nlc_runtime.wavefront`)
    shaped: bool = False


@dataclass(frozen=True)
class Emission:
    ctor: str | None  # expression building the module, None for inline ops
    call: str  # format string: {mod} the module, {in0}, {in1}, ... inputs, {sum}, {state}
    stateful: bool = False  # the call takes a state and returns (y, new_state): streaming

    @property
    def clocked(self) -> bool:
        """The call needs `t`, where its span starts (to find its boundaries inside)."""
        return self.call.startswith("span(")

    groups: tuple[Group, ...] = ()  # its in-context updates, as the loop nest fires them
    # spec fields giving widths in absolute channels (written as literals: they do not scale
    # with Config's settings; the emitted comment says so)
    fixed: tuple[str, ...] = ()
    flush: bool = True  # a partial chunk at the end of a sequence updates (False: dropped)
    lm_signal: bool = False  # learns from the LM loss (`learn(state, taps)` per LM piece)

    @property
    def imports(self) -> set[str]:
        """Import lines the emitted code needs for this component."""
        text = (self.ctor or "") + " " + self.call
        return {
            line
            for symbol, line in RUNTIME_IMPORTS.items()
            if re.search(r"(?<![\w.])" + re.escape(symbol), text)
        }


RUNTIME_IMPORTS = {
    "rt.": "import nlc_runtime.layers as rt",
    "Attention(": "from nlc_runtime.attention import Attention",
    "CMS(": "from nlc_runtime.cms import CMS",
    "CausalConv1d(": "from nlc_runtime.conv import CausalConv1d",
    "RMSNorm(": "from nlc_runtime.norms import RMSNorm",
    "SelfModifyingTitans(": "from nlc_runtime.selfmod import SelfModifyingTitans",
    "NeuralMemory(": "from nlc_runtime.titans import NeuralMemory",
    "FrozenMemory(": "from nlc_runtime.frozen import FrozenMemory",
    "LinearAttention(": "from nlc_runtime.linear_attention import LinearAttention",
}
"""Which runtime import a piece of emitted code needs, keyed by the text that uses it."""


def _fixed(c: k.HiddenWidth) -> tuple[str, ...]:
    return ("hidden",) if c.hidden is not None else ()


def _is_data(c: Coefficient | None) -> bool:
    return c == "data_dependent" or isinstance(c, DataDependent)


def _const(c: Coefficient | None, default: float) -> float:
    return float(c) if isinstance(c, (int, float)) and not isinstance(c, bool) else default


def _lr_max(c: Coefficient | None, default: float) -> float:
    if isinstance(c, DataDependent) and c.max is not None:
        return c.max
    return default


def py(value) -> str:
    """A Python literal for a spec value, formatted as ruff would (double-quoted strings); a
    size that derives from the model settings (a `Dim`) is its expression over `cfg`."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, Dim):
        return value.code
    if isinstance(value, str):
        return json.dumps(value)  # a valid, double-quoted Python string literal
    if isinstance(value, (list, tuple)):
        inner = ", ".join(py(v) for v in value)
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"  # (0) would be an int
    return repr(value)


def _args(*positional, **named) -> str:
    parts = [py(p) for p in positional] + [f"{key}={py(value)}" for key, value in named.items()]
    return ", ".join(parts)


class _Raw(str):
    """Text written into the emitted code as is (a config field reference)."""


IMPL = _Raw("cfg.impl")
ATTN_IMPL = _Raw("cfg.attn_impl")
CONTEXT = _Raw("cfg.context")
# a component with update groups runs over a span of tokens with its own boundaries inside
# (`nlc_runtime.stream.span`); `t` is the span's first position
SPAN = "span({mod}, {state}, t, {in0})"


def _titans_memory(
    c: k.TitansMemory | k.DeltaMemory,
    d: int,
    heads: int,
    depth: int,
    expansion: float,
    residual: bool = False,
    cls: str = "NeuralMemory",
) -> Emission:
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
    _check_memory_fields(c)
    # each gate is data-dependent or a constant on its own (a constant lr 0 stays 0 even when
    # momentum and forgetting are data-dependent)
    coefs = (opt.lr, opt.momentum, opt.retention)
    kinds = tuple("data" if _is_data(g) else "const" for g in coefs)
    used = {kind for kind, g in zip(kinds, coefs, strict=True) if g is not None}
    gates = used.pop() if len(used) == 1 else kinds  # one word when the enabled gates agree
    # the constants and the lr cap a gate reads, and only those (no dead arguments): an
    # unset momentum of kind momentum follows the other gates' word
    lr_gate, mom_gate, alpha_gate = (gates,) * 3 if isinstance(gates, str) else gates
    constants: dict = {}
    if lr_gate == "data":
        constants["lr_max"] = _lr_max(opt.lr, 0.1)
    else:
        constants["lr_const"] = _const(opt.lr, 0.05)
    if opt.has_momentum and mom_gate == "const":
        constants["mom_const"] = _const(opt.momentum, 0.9)
    if opt.retention is not None and alpha_gate == "const":
        constants["alpha_const"] = _const(opt.retention, 0.01)
    conv = getattr(c, "conv", None)
    args = _args(
        d,
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
    states = ("S", "M") if opt.has_momentum else ("M",)
    return Emission(
        f"{cls}({args})",
        SPAN,
        stateful=True,
        groups=(Group("memory", u.period, states),),
        flush=u.partial_chunk != "drop",
    )


def emit_component(c: k.ComponentBase, d: int, model, tie_attr: str | None) -> Emission:
    """The emission of component `c` whose (first) input has width `d`."""
    heads = getattr(c, "heads", None) or model.n_heads
    if isinstance(c, k.Embedding):
        return Emission("nn.Embedding(cfg.vocab_size, cfg.d_model)", "{mod}({in0})")
    if isinstance(c, k.LMHead):
        if c.tie:
            if tie_attr is None:
                raise CodegenError(
                    ("tie",), "a tied head must sit at the same level as its embedding"
                )
            return Emission(None, f"F.linear({{in0}}, self.{tie_attr}.weight)")
        return Emission(f"nn.Linear({code(d)}, cfg.vocab_size, bias=False)", "{mod}({in0})")
    if isinstance(c, k.Norm):
        if c.type == "rms":
            return Emission(f"RMSNorm({_args(d, eps=c.eps)})", "{mod}({in0})")
        return Emission(f"nn.LayerNorm({_args(d, eps=c.eps)})", "{mod}({in0})")
    if isinstance(c, k.Linear):
        return Emission(
            f"nn.Linear({_args(d, c.out, bias=c.bias)})", "{mod}({in0})", fixed=("out",)
        )
    if isinstance(c, k.Identity):
        return Emission(None, "{in0}")
    if isinstance(c, k.Add):
        return Emission(None, "{sum}")
    if isinstance(c, k.Gate):
        args = _args(d, activation=c.activation, normalize=c.normalize)
        return Emission(f"rt.Gate({args})", "{mod}({in0}, {in1})")
    if isinstance(c, k.MLP):
        args = _args(d, c.hidden_width(d), activation=c.activation)
        return Emission(f"rt.MLP({args})", "{mod}({in0})", fixed=_fixed(c))
    if isinstance(c, k.SwiGLU):
        args = _args(d, c.hidden_width(d))
        return Emission(f"rt.SwiGLU({args})", "{mod}({in0})", fixed=_fixed(c))
    if isinstance(c, k.Conv):
        return Emission(
            f"CausalConv1d({_args(d, c.window)})", "{mod}({in0}, {state})", stateful=True
        )
    if isinstance(c, k.Attention):
        qk = {"qk_norm": True} if c.qk_norm else {}
        if c.segment is not None:
            args = _args(
                d, heads, c.segment, n_persistent=c.persistent_tokens, rope=c.rope, **qk,
                impl=ATTN_IMPL,
            )  # fmt: skip
            reset = Group(
                "segment",
                c.segment,
                (),
                chunk=False,
                note="starts a new segment (empty cache)",
                shaped=True,
            )
            return Emission(
                f"rt.SegmentAttention({args})",
                "span({mod}, {state}, t, {in0}, {in1})",
                stateful=True,
                groups=(reset,),
            )
        # full causal attention keeps at most `context` tokens: beyond, its window slides
        span = {"cache": CONTEXT} if c.window is None else {}
        args = _args(
            d, heads, window=c.window, n_persistent=c.persistent_tokens, rope=c.rope, **qk,
            **span, impl=ATTN_IMPL,
        )  # fmt: skip
        return Emission(f"Attention({args})", "{mod}({in0}, {state})", stateful=True)
    if isinstance(c, k.DeltaMemory):
        return _titans_memory(c, d, heads, depth=1, expansion=1.0)
    if isinstance(c, k.LinearAttention):
        return _titans_memory(c, d, heads, depth=1, expansion=1.0, cls="LinearAttention")
    if isinstance(c, k.TitansMemory):
        return _titans_memory(
            c, d, heads, depth=c.depth, expansion=c.expansion, residual=c.residual
        )
    if isinstance(c, k.FrozenMemory):
        args = _args(
            d,
            n_heads=heads,
            depth=c.depth,
            expansion=float(c.expansion),
            residual=c.residual,
            conv=bool(c.conv),
            conv_kernel=c.conv or 4,
        )
        return Emission(f"FrozenMemory({args})", "{mod}({in0}, {state})", stateful=True)
    if isinstance(c, k.SelfModifyingTitans):
        return _self_modifying(c, d, heads)
    if isinstance(c, k.CMS):
        return _cms(c, d)
    raise CodegenError(("kind",), f"no code generator for kind '{c.kind}'")


def _check_memory_fields(c: k.MemoryBase) -> None:
    """Refuse the memory settings the runtime cannot honour yet (rather than drop them)."""
    depth = 2 if isinstance(c, k.SelfModifyingTitans) else getattr(c, "depth", 1)
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
    lr_top = _lr_max(opt.lr, 0.1)
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


def _self_modifying(c: k.SelfModifyingTitans, d: int, heads: int) -> Emission:
    u = c.update
    opt = u.optimizer
    if not c.self_modifying:
        return _titans_memory(c, d, heads, depth=2, expansion=c.expansion, residual=True)  # type: ignore[arg-type]
    if u.objective != "l2":
        raise CodegenError(
            ("update", "objective"), "self-modifying Titans learns with the l2 objective"
        )
    _check_memory_fields(c)
    for field in ("lr", "retention"):  # generated per token by M_eta / M_alpha (Eq. 88)
        if not _is_data(getattr(opt, field)):
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
    lr_top = _lr_max(opt.lr, 0.5)
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
    if _is_data(opt.momentum):
        raise CodegenError(
            ("update", "optimizer", "momentum"),
            "self-modifying Titans takes a constant momentum (or none)",
        )
    momentum = _const(opt.momentum, 0.0) if opt.has_momentum else None
    for field, period in (("period", u.period), ("projection_period", u.projection_period)):
        if not isinstance(period, int):
            raise CodegenError(
                ("update", field),
                f"self-modifying Titans learns its memories in context: {field} is a number "
                f"of tokens, not {period!r}",
            )
    args = _args(
        d,
        n_heads=heads,
        expansion=float(c.expansion),
        chunk_mem=u.period,
        chunk_other=u.projection_period,
        momentum=momentum,
        adaptive_q=c.adaptive_q,
        conv_kernel=c.conv or 1,
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
        for m in c.projection_memories
        for name in ((f"{m}_momentum",) if momenta else ()) + (m,)
    )
    main = (("M_memory_momentum",) if momenta else ()) + ("M_memory",)
    return Emission(
        f"SelfModifyingTitans({args})",
        SPAN,
        stateful=True,
        groups=(
            Group("projections", u.projection_period, projections, shaped=True),
            Group("memory", u.period, main, shaped=True),
        ),
        flush=u.partial_chunk != "drop",
    )


def _cms(c: k.CMS, d: int) -> Emission:
    if not c.learn_init:
        raise CodegenError(("learn_init",), "the runtime CMS always meta-learns its initial state")
    for i, level in enumerate(c.levels):
        if level.persist and not isinstance(level.period, int):
            raise CodegenError(
                ("levels", i, "persist"),
                f"a level with period {level.period} never changes in context: nothing to persist",
            )
        if _is_data(level.lr):
            raise CodegenError(("levels", i, "lr"), "CMS levels take a constant learning rate")
    periods = [lv.period if isinstance(lv.period, int) else None for lv in c.levels]
    persist = [i for i, lv in enumerate(c.levels) if lv.persist]
    momentum = [lv.momentum if lv.optimizer == "momentum" else None for lv in c.levels]
    args = _args(
        d,
        periods=periods,
        hidden=[lv.hidden_width(d) for lv in c.levels],
        lrs=[_level_lr(c, i, d) for i in range(len(c.levels))],
        variant=c.variant,
        signal="lm_grad" if c.signal == "lm" else "local",
        act=c.activation,
        **({"momentum": momentum} if any(m is not None for m in momentum) else {}),
        **({"persist": tuple(persist)} if persist else {}),
        impl=IMPL,
    )
    groups = tuple(
        Group(
            f"L{i}",
            lv.period,
            ((f"mlp{i}_momentum",) if lv.optimizer == "momentum" else ()) + (f"mlp{i}",),
        )
        for i, lv in enumerate(c.levels)
        if isinstance(lv.period, int)
    )
    fixed = [f"levels.{i}.hidden" for i, lv in enumerate(c.levels) if lv.hidden is not None]
    return Emission(
        f"CMS({args})",
        SPAN if groups else "{mod}({in0}, {state})",
        stateful=True,
        groups=groups,
        lm_signal=c.signal == "lm" and bool(groups),
        fixed=tuple(fixed),
    )


def _level_lr(c: k.CMS, i: int, d: int) -> float | _Raw:
    """Level i's inner lr: the spec's number, or its default (`CMS.level_lr`); the default of
    a level learning in context from its local signal scales with the level's width, so it is
    written as an expression of the Config (`1.0 / (32 * (4 * cfg.d_model))`): a wider model
    keeps its step stable."""
    level, width = c.levels[i], c.level_width(i, d)
    local = c.signal == "local" and isinstance(level.period, int)
    if level.lr is not None or not local or not isinstance(width, Dim):
        return c.level_lr(i, d)
    return _Raw(f"{k.STABLE_STEP / 2} / ({code(level.period * width)})")
