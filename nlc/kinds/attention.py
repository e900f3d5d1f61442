"""Kind `attention`: softmax attention with a KV cache (period 1) -- causal, sliding-window,
persistent-token prefix, or Titans MAC segment attention (`Attention`, `rt.SegmentAttention`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from nlc.ir.nodes import Signal, StateDecl, StateKind
from nlc.ir.period import Period
from nlc.kinds.base import (
    ComponentBase,
    ShapeProblem,
    head_split,
    linear_params,
    norm_params,
    same_width,
)
from nlc.kinds.emission import ATTN_IMPL, Call, Construct, Emission, Group, Runtime

ATTENTION = Runtime("nlc_runtime.layers.attention", "Attention")
SEGMENT_ATTENTION = Runtime("nlc_runtime.layers.common", "SegmentAttention", alias="rt")


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

    runtimes: ClassVar[tuple[Runtime, ...]] = (ATTENTION, SEGMENT_ATTENTION)
    examples: ClassVar[tuple[dict, ...]] = (
        {},
        {"window": 4, "qk_norm": True, "persistent_tokens": 2},
        {"segment": 4, "persistent_tokens": 2},
    )

    @model_validator(mode="after")
    def _one_span(self):
        if self.window is not None and self.segment is not None:
            raise ValueError(
                "set either 'window' (sliding-window attention) or 'segment' (MAC segment "
                "attention), not both"
            )
        return self

    def state_decls(self, model):
        # The cache appends token t before attention reads it (docs/design.md).
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
        d = same_width(in_widths)
        head_split(self.heads, d, model)
        return d

    def tensors(self, d_in, model):
        at = "attn." if self.segment is not None else ""  # MAC: an Attention inside
        w = linear_params(f"{at}qkv", 3 * d_in, d_in) + linear_params(f"{at}proj", d_in, d_in)
        if self.qk_norm:  # one RMSNorm gain per head width, shared by the heads
            _, dh = head_split(self.heads, d_in, model)
            w += norm_params(f"{at}q_norm", dh) + norm_params(f"{at}k_norm", dh)
        if self.persistent_tokens:
            w.append(("persistent", (self.persistent_tokens, d_in)))
        span = min(self.segment or self.window or model.context, model.context)
        span += self.persistent_tokens
        return {"W": w, "kv": [("k", (span, d_in)), ("v", (span, d_in))]}

    def emit(self, d, model, tie_attr):
        heads = self.heads or model.n_heads
        qk = {"qk_norm": True} if self.qk_norm else {}
        if self.segment is not None:
            args = {"n_persistent": self.persistent_tokens, "rope": self.rope, **qk}
            reset = Group(
                "segment",
                self.segment,
                (),
                chunk=False,
                note="starts a new segment (empty cache)",
                shaped=True,
            )
            module = Construct(
                SEGMENT_ATTENTION, (d, heads, self.segment), args | {"impl": ATTN_IMPL}
            )
            return Emission(module, Call.SPAN, inputs=2, groups=(reset,))
        # full causal attention keeps at most `context` tokens: beyond, its window slides
        span = {"cache": model.context} if self.window is None else {}
        args = {"window": self.window, "n_persistent": self.persistent_tokens, "rope": self.rope}
        module = Construct(ATTENTION, (d, heads), args | qk | span | {"impl": ATTN_IMPL})
        return Emission(module, Call.STREAM)


KIND = Attention
