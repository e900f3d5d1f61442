"""Attention variants: causal (torch SDPA), sliding window, persistent memory tokens as a learned
prefix (Titans Eq. 19), and the segment attention of Titans MAC (`layers.SegmentAttention`).

A KV cache is period 1 (docs/design.md): token t's key is appended before t's query reads, so
attention sees tokens <= t. `Attention` streams: its state holds the keys and values (after
RoPE, at their absolute positions) of the tokens a later query may still see -- the last
window - 1 of a sliding window, and for full causal attention up to `cache` tokens (the model's
context; beyond it the window slides) -- and the position of the next token ("pos", a 0-dim
tensor, so a compiled step is not specialised on it), and per row how many tokens of its own
sequence it has seen ("seen", (B,)): a row that stream training restarts (`stream.reset_rows`)
starts again at 0, sees none of the keys cached before, and finds its persistent prefix at
the distance a new sequence finds it. A segment's tokens
append and read in one causal op, so a KV cache never cuts the loop nest's segments.

Masks are boolean (True = may attend). `attention_naive` is the explicit-softmax reference the
SDPA path is tested against.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlc_runtime.exec.state import zeros
from nlc_runtime.layers.norms import RMSNorm
from nlc_runtime.layers.rope import apply_rope, rope_cos_sin


def stream_mask(n: int, m: int, n_prefix: int, span: int | None, device=None) -> torch.Tensor:
    """(n, n_prefix + m + n) mask of n new queries over [prefix; m cached keys; n new keys]:
    the prefix (persistent tokens) is always visible; a key at distance d >= 0 before a query
    is visible iff d < span (None: any d)."""
    i = torch.arange(n, device=device)[:, None]
    j = torch.arange(m + n, device=device)[None, :]
    d = i + m - j  # distance from the query back to the key
    visible = d >= 0
    if span is not None:
        visible = visible & (d < span)
    prefix = torch.ones(n, n_prefix, dtype=torch.bool, device=device)
    return torch.cat([prefix, visible], dim=1)


def mac_mask(n_persist: int, n_mem: int, c: int, device=None) -> torch.Tensor:
    """(c, n_persist + n_mem + c) mask of the segment queries over [persistent; memory; segment].

    Persistent tokens are visible to all; memory token j (the readout of segment token j's
    query) and segment token j are visible to segment token i iff j <= i -- the readout of a
    later token would leak its input (docs/design.md causality)."""
    i = torch.arange(c, device=device)[:, None]
    p = torch.ones(c, n_persist, dtype=torch.bool, device=device)
    jm = torch.arange(n_mem, device=device)[None, :]
    js = torch.arange(c, device=device)[None, :]
    return torch.cat([p, jm <= i, js <= i], dim=1)


def attention_naive(q, k, v, mask: torch.Tensor | None) -> torch.Tensor:
    """Reference: softmax(q k^T / sqrt(d) + mask) v. q: (B, H, Tq, D), k, v: (B, H, Tk, D)."""
    s = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, -1) @ v


def attention(q, k, v, mask: torch.Tensor | None = None, is_causal: bool = False):
    """Fast path: torch SDPA (flash / memory-efficient kernels where available). Under
    `vmap` (a wavefront's batched blocks) the explicit softmax: the CPU SDPA kernel has no
    batching rule, and its fallback loops over the batch one call at a time."""
    if torch._C._functorch.is_batchedtensor(q):
        if is_causal:
            mask = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool, device=q.device).tril()
        return attention_naive(q, k, v, mask)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)


class Attention(nn.Module):
    """Multi-head softmax attention, streaming: forward(x (B, n, C), state) -> (y, state) for
    the next n tokens of the sequence.

    window: sliding window size (None = full causal, keeping at most `cache` tokens);
    n_persistent: learned prefix tokens that every query sees (positions 0..P-1, before the
    sequence); rope: rotary positions; qk_norm: RMSNorm (learned gain) on each head's q and k
    before the rotation; impl: "sdpa" | "naive".
    """

    periods: dict[str, int] = {}  # the cache moves with every token: no update group
    flush = True

    def __init__(
        self,
        dim: int,
        n_heads: int = 4,
        window: int | None = None,
        n_persistent: int = 0,
        rope: bool = True,
        qk_norm: bool = False,
        cache: int | None = None,
        impl: str = "sdpa",
    ):
        super().__init__()
        self.H, self.D = n_heads, dim // n_heads
        self.window, self.rope, self.impl = window, rope, impl
        self.span = window or cache  # how far back a query sees (None: the whole sequence)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_norm = RMSNorm(self.D) if qk_norm else None
        self.k_norm = RMSNorm(self.D) if qk_norm else None
        self.proj = nn.Linear(dim, dim, bias=False)
        self.persistent = (
            nn.Parameter(torch.randn(n_persistent, dim) * 0.02) if n_persistent else None
        )

    def qkv_heads(self, x):
        """q, k, v (B, H, T, D) of x (B, T, C), q and k normalised (qk_norm), no positions."""
        B, T, _ = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.H, self.D).permute(2, 0, 3, 1, 4)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        return q, k, v

    def heads_at(self, x, pos):
        """q, k, v (B, H, n, D) of tokens x (B, n, C) at positions pos..pos+n-1."""
        q, k, v = self.qkv_heads(x)
        if self.rope:
            cos, sin = rope_cos_sin(x.shape[1], self.D, offset=pos, device=x.device, dtype=x.dtype)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return q, k, v

    def prefix(self, batch: int, start: torch.Tensor | None = None):
        """Keys and values of the persistent tokens (B, H, P, D), or None. They sit just
        before each row's sequence: at positions 0..P-1, the row's first token at P; `start`
        (B,): where each row's sequence began on the batch's clock (a row restarted by stream
        training), its prefix shifted along."""
        if self.persistent is None:
            return None
        p = self.persistent.unsqueeze(0).expand(batch, *self.persistent.shape)
        if start is None or not self.rope:
            _, k, v = self.heads_at(p, 0)
            return k, v
        _, k, v = self.qkv_heads(p)
        P = p.shape[1]
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.D, 2, device=p.device).double() / self.D))
        positions = start.double()[:, None] + torch.arange(P, device=p.device).double()
        f = positions[..., None] * inv  # (B, P, D/2)
        emb = torch.cat([f, f], -1)[:, None]  # (B, 1, P, D)
        return apply_rope(k, emb.cos().to(k.dtype), emb.sin().to(k.dtype)), v

    def init_state(self, batch: int) -> dict:
        w = self.qkv.weight
        empty = zeros(w, batch, self.H, 0, self.D)
        return {
            "k": empty,
            "v": empty,
            "pos": torch.zeros((), dtype=torch.long, device=w.device),
            "seen": torch.zeros(batch, dtype=torch.long, device=w.device),
        }

    def forward(self, x: torch.Tensor, state: dict | None = None):
        B, n, C = x.shape
        state = state if state is not None else self.init_state(B)
        seen = state.get("seen")
        prefix = self.prefix(B, None if seen is None else state["pos"] - seen)
        P = 0 if prefix is None else prefix[0].shape[2]
        q, k, v = self.heads_at(x, state["pos"] + P)
        m = state["k"].shape[2]
        keys, values = (
            (k, v) if m == 0 else (torch.cat([state["k"], k], 2), torch.cat([state["v"], v], 2))
        )
        causal_only = P == 0 and m == 0 and (self.span is None or n <= self.span)
        if prefix is not None:
            k_all, v_all = torch.cat([prefix[0], keys], 2), torch.cat([prefix[1], values], 2)
        else:
            k_all, v_all = keys, values
        if causal_only and self.impl == "sdpa":
            y = attention(q, k_all, v_all, is_causal=True)
        else:
            mask = stream_mask(n, m, P, self.span, x.device)
            if m and seen is not None:  # cached keys of a restarted row's earlier stream: hidden
                own = torch.arange(m, device=x.device) >= m - seen[:, None]  # (B, m)
                others = torch.ones(B, P + n, dtype=torch.bool, device=x.device)
                columns = torch.cat([others[:, :P], own, others[:, P:]], 1)  # (B, P + m + n)
                mask = mask & columns[:, None, None, :]  # (B, 1, n, P + m + n)
            y = (attention if self.impl == "sdpa" else attention_naive)(q, k_all, v_all, mask)
        if self.span is not None:  # what a later query can still see: the last span - 1
            start = max(0, keys.shape[2] - (self.span - 1))
            keys, values = keys[:, :, start:], values[:, :, start:]
        y = y.transpose(1, 2).reshape(B, n, C)
        new = {"k": keys, "v": values, "pos": state["pos"] + n}
        if seen is not None:
            new["seen"] = seen + n
        return self.proj(y), new
