"""Per-token steps of the runtime's stateful modules, for the reference interpreter.

`step(module, inputs, carry, t, T) -> y_t`: the module's output at token t from its inputs
at token t (each (B, 1, C)), advancing `carry` (the module's in-context state, a dict that
starts empty) by one token. Each step is DESIGN.md §1 written out:
- a memory reads its visible state (read before write), its running copy takes one step with
  the gradient at the visible state, and the copy becomes visible when token t ends a chunk
  (t + 1 ≡ 0 mod C) or the sequence (flush);
- a KV cache appends token t, then attention reads it (the cache holds tokens <= t);
- a causal convolution keeps its last K - 1 inputs.
The arithmetic of each step is the runtime's per-token reference (`lmm_step`, `selfmod_step`,
`cms_naive` on one token, `attention_naive`); what this module adds is the token clock: the
interpreter, not the module, owns the loop over tokens. Imports torch: load it lazily.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from nlc_runtime.attention import Attention, attention_naive
from nlc_runtime.cms import CMS
from nlc_runtime.conv import CausalConv1d
from nlc_runtime.delta import clip_change, clip_changes
from nlc_runtime.frozen import FrozenMemory
from nlc_runtime.layers import SegmentAttention
from nlc_runtime.norms import l2norm
from nlc_runtime.rope import apply_rope, rope_cos_sin
from nlc_runtime.selfmod import SelfModifyingTitans, selfmod_step
from nlc_runtime.titans import NeuralMemory, lmm_step


def _conv(conv: CausalConv1d | None, x, carry: dict, key: str):
    if conv is None:
        return x
    y, carry[key] = conv(x, carry.get(key))
    return y


def _boundary(t: int, T: int, C: int, flush: bool = True) -> bool:
    return (t + 1) % C == 0 or (flush and t + 1 == T)  # the last partial chunk: flush / drop


def _neural_memory(m: NeuralMemory, xs, carry: dict, t: int, T: int):
    x = xs[0]
    if not carry:
        st = m.initial_state(x.shape[0])
        Ws = [st[f"W{i}"] for i in range(m.spec.depth)]
        Ss = [st[f"S{i}"] for i in range(m.spec.depth)] if m.momentum else None
        carry.update(vis=Ws, runW=list(Ws), runS=None if Ss is None else list(Ss))
    q, k, v, lr, decay, mom, carry["conv"] = m.project(x, carry.get("conv"))
    at = lambda g: None if g is None else g[:, :, 0]  # noqa: E731 - (B, H, 1) -> (B, H)
    y, carry["runW"], carry["runS"] = lmm_step(
        m.spec, carry["vis"], carry["runW"], carry["runS"], q, k, v, at(lr), at(decay), at(mom),
        m.delta_layers, m.objective, m.normalize,
    )  # fmt: skip
    if _boundary(t, T, m.chunk, m.flush):
        vis = [clip_change(W0, W, m.clip) for W0, W in zip(carry["vis"], carry["runW"])]
        if m.stop_grad:
            vis = [W.detach() for W in vis]
            carry["runS"] = None if carry["runS"] is None else [S.detach() for S in carry["runS"]]
        carry["vis"], carry["runW"] = vis, list(vis)
    return m.output(y, x)


def _frozen_memory(m: FrozenMemory, xs, carry: dict, t: int, T: int):
    x = xs[0]
    B = x.shape[0]
    q = _conv(m.conv, m.to_q(x), carry, "conv")
    q = l2norm(F.silu(q).view(B, 1, m.H, m.D).transpose(1, 2))
    from nlc_runtime.mlp import mlp_forward

    y, _ = mlp_forward(m.spec, list(m.init_W), q)
    y = m.out_norm(y.transpose(1, 2).reshape(B, 1, m.H * m.D))
    if m.to_gate is not None:
        y = y * F.silu(m.to_gate(x))
    return m.proj(y)


def _self_modifying(m: SelfModifyingTitans, xs, carry: dict, t: int, T: int):
    x = xs[0]
    B = x.shape[0]
    if not carry:
        st = m.initial_state(B)
        carry.update(vis=dict(st), run=dict(st))
    u = _conv(m.conv, m.in_proj(x), carry, "conv").view(B, 1, m.H, m.D).transpose(1, 2)
    q = None
    if m.q_proj is not None:
        q = l2norm(m.q_proj(x).view(B, 1, m.H, m.D).transpose(1, 2))
    y, run = selfmod_step(
        m.spec, carry["vis"], carry["run"], m.outer(), u, q, m.momentum, m.dgd, m.normalize
    )
    carry["run"] = run
    for n in run:
        if _boundary(t, T, m.chunk_mem if n == "mem" else m.chunk_other, m.flush):
            new = clip_changes(carry["vis"][n], run[n], m.clip)
            new = {k: v.detach() for k, v in new.items()} if m.stop_grad else new
            carry["vis"][n] = carry["run"][n] = new
    y = m.out_norm(y.transpose(1, 2).reshape(B, 1, m.H * m.D))
    return m.proj(y)


def _cms(m: CMS, xs, carry: dict, t: int, T: int):
    # the CMS's naive path streams: token t at position t, flushing on the last token
    y, carry["state"] = m(xs[0], carry.get("state"), pos=t, flush=t + 1 == T)
    return y


def _heads_at(attn: Attention, x, pos: int):
    """q, k, v (B, H, n, D) of tokens x (B, n, C) at positions pos..pos+n-1."""
    B, n, _ = x.shape
    q, k, v = attn.qkv_heads(x)
    if attn.rope:
        cos, sin = rope_cos_sin(n, attn.D, offset=pos, device=x.device, dtype=x.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    return q, k, v


def _attention(m: Attention, xs, carry: dict, t: int, T: int):
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
    visible = (j < P) | (j >= P + max(0, t + 1 - m.window) if m.window else j >= 0)
    y = attention_naive(q, carry["k"], carry["v"], visible[None, :])
    return m.proj(y.transpose(1, 2).reshape(B, 1, C))


def _segment_attention(m: SegmentAttention, xs, carry: dict, t: int, T: int):
    """Titans MAC: token i of a segment of c tokens attends over [persistent; readouts of its
    segment's tokens <= i; its segment's tokens <= i], at the positions the segment's
    sequence [persistent; c readouts; c tokens] gives them."""
    x, mem = xs
    B, _, C = x.shape
    a = m.attn
    P = 0 if m.persistent is None else m.persistent.shape[0]
    s = (t // m.segment) * m.segment
    c = min(m.segment, T - s)
    i = t - s
    if i == 0:  # a new segment: its cache starts with the persistent tokens
        carry["km"] = carry["vm"] = carry["ks"] = carry["vs"] = x.new_zeros(B, a.H, 0, a.D)
        carry["kp"] = carry["vp"] = carry["km"]
        if P:
            _, carry["kp"], carry["vp"] = _heads_at(a, m.persistent.unsqueeze(0).expand(B, P, C), 0)
    _, km, vm = _heads_at(a, mem, P + i)
    q, ks, vs = _heads_at(a, x, P + c + i)
    for key, val in (("km", km), ("vm", vm), ("ks", ks), ("vs", vs)):
        carry[key] = torch.cat([carry[key], val], 2)
    k = torch.cat([carry["kp"], carry["km"], carry["ks"]], 2)
    v = torch.cat([carry["vp"], carry["vm"], carry["vs"]], 2)
    y = attention_naive(q, k, v, None)
    return a.proj(y.transpose(1, 2).reshape(B, 1, C))


def _causal_conv(m: CausalConv1d, xs, carry: dict, t: int, T: int):
    return _conv(m, xs[0], carry, "conv")


# subclasses first (LinearAttention is a NeuralMemory)
_STEPS = [
    (NeuralMemory, _neural_memory),
    (FrozenMemory, _frozen_memory),
    (SelfModifyingTitans, _self_modifying),
    (CMS, _cms),
    (SegmentAttention, _segment_attention),
    (Attention, _attention),
    (CausalConv1d, _causal_conv),
]


def step_for(module):
    """The per-token step of a module with in-context state or memory of past tokens; None for
    a module whose output at t depends on its input at t only."""
    for cls, fn in _STEPS:
        if isinstance(module, cls):
            return fn
    return None
