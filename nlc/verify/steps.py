"""Per-token steps of the runtime's stateful modules, for the reference interpreter.

`step(module, inputs, carry, t) -> y_t`: the module's output at token t from its inputs at
token t (each (B, 1, C)), advancing `carry` (a dict that starts empty) by one token; then
`after_token(module, carry, t)` fires the updates whose boundary token t ends. Each is
docs/design.md written out:
- a memory or CMS reads its visible state (read before write) and its running copy takes one
  step with the gradient at the visible state: the module's own segment step on one token,
  with the model built on its per-token reference path (impl "naive"); the running copy
  becomes visible when token t ends a chunk (t + 1 ≡ 0 mod C). The end of the sequence
  changes no output, so the interpreter needs no flush;
- a KV cache appends token t, then attention reads it (the cache holds tokens <= t): written
  here from scratch (every key of the sequence kept, the window applied as a mask), not the
  runtime's streaming cache;
- a causal convolution keeps its last K - 1 inputs.
What this module adds is the token clock: the interpreter, not the module, owns the loop over
tokens. Imports torch: load it lazily.
"""

from __future__ import annotations

import torch
from nlc_runtime.exec.clock import StreamingModule, Updating, fire_due
from nlc_runtime.layers.attention import Attention, attention_naive
from nlc_runtime.layers.common import SegmentAttention
from nlc_runtime.layers.rope import apply_rope, rope_cos_sin


def _streaming(m, xs, carry: dict, t: int):
    if "state" not in carry:
        carry["state"] = m.init_state(xs[0].shape[0])
    y, carry["state"] = m(*xs, carry["state"])
    return y


def after_token(m, carry: dict, t: int) -> None:
    """The updates of `m` whose boundary is the end of token t (0-based), faster first
    (`clock.fire_due`: t + 1 tokens seen)."""
    if isinstance(m, Updating) and "state" in carry:
        carry["state"] = fire_due(m, carry["state"], t + 1)


def _heads_at(attn: Attention, x, pos: int):
    """q, k, v (B, H, n, D) of tokens x (B, n, C) at positions pos..pos+n-1."""
    B, n, _ = x.shape
    q, k, v = attn.qkv_heads(x)
    if attn.rope:
        cos, sin = rope_cos_sin(n, attn.D, offset=pos, device=x.device, dtype=x.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    return q, k, v


def _attention(m: Attention, xs, carry: dict, t: int):
    x = xs[0]
    B, _, C = x.shape
    P = 0 if m.persistent is None else m.persistent.shape[0]
    if not carry:  # persistent tokens sit at positions 0..P-1, before the sequence
        carry["k"] = carry["v"] = x.new_zeros(B, m.H, 0, m.D)
        if P:
            _, k, v = _heads_at(m, m.persistent.unsqueeze(0).expand(B, P, C), 0)
            carry["k"], carry["v"] = k, v
    q, k, v = _heads_at(m, x, P + t)
    carry["k"], carry["v"] = torch.cat([carry["k"], k], 2), torch.cat([carry["v"], v], 2)
    n = carry["k"].shape[2]
    j = torch.arange(n, device=x.device)
    visible = (j < P) | (j >= P + max(0, t + 1 - m.span) if m.span else j >= 0)
    y = attention_naive(q, carry["k"], carry["v"], visible[None, :])
    return m.proj(y.transpose(1, 2).reshape(B, 1, C))


def _segment_attention(m: SegmentAttention, xs, carry: dict, t: int):
    """Titans MAC: token i of a segment attends over [persistent; readouts of its segment's
    tokens <= i; its segment's tokens <= i], at the positions of the segment's sequence
    [persistent (P); segment readouts; segment tokens]."""
    x, mem = xs
    B, _, C = x.shape
    a = m.attn
    P = 0 if m.persistent is None else m.persistent.shape[0]
    i = t % m.segment
    if i == 0:  # a new segment: its cache starts with the persistent tokens
        carry["km"] = carry["vm"] = carry["ks"] = carry["vs"] = x.new_zeros(B, a.H, 0, a.D)
        carry["kp"] = carry["vp"] = carry["km"]
        if P:
            _, carry["kp"], carry["vp"] = _heads_at(a, m.persistent.unsqueeze(0).expand(B, P, C), 0)
    _, km, vm = _heads_at(a, mem, P + i)
    q, ks, vs = _heads_at(a, x, P + m.segment + i)
    for key, val in (("km", km), ("vm", vm), ("ks", ks), ("vs", vs)):
        carry[key] = torch.cat([carry[key], val], 2)
    k = torch.cat([carry["kp"], carry["km"], carry["ks"]], 2)
    v = torch.cat([carry["vp"], carry["vm"], carry["vs"]], 2)
    y = attention_naive(q, k, v, None)
    return a.proj(y.transpose(1, 2).reshape(B, 1, C))


def step_for(module):
    """The per-token step of a module with in-context state or memory of past tokens; None for
    a module whose output at t depends on its input at t only."""
    if isinstance(module, SegmentAttention):
        return _segment_attention
    if isinstance(module, Attention):
        return _attention
    if isinstance(module, StreamingModule):
        return _streaming
    return None
