"""Attention variants: causal (torch SDPA), sliding window, persistent memory tokens as a learned
prefix (Titans Eq. 19), and the segment attention of Titans MAC over
[persistent; memory readout; segment] (Titans Eq. 21-25, Fig. 3a).

Masks are boolean (True = may attend). `attention_naive` is the explicit-softmax reference the
SDPA path is tested against. A KV cache is period 1 (DESIGN.md §1): token t's key is appended
before t's query reads, so attention sees tokens <= t.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .norms import RMSNorm
from .rope import apply_rope, rope_cos_sin


def causal_mask(T: int, window: int | None = None, n_prefix: int = 0, device=None) -> torch.Tensor:
    """(T, T) mask over a sequence whose first n_prefix positions are persistent tokens: causal,
    limited to the last `window` tokens if given, and every query sees the whole prefix."""
    i = torch.arange(T, device=device)[:, None]
    j = torch.arange(T, device=device)[None, :]
    m = j <= i
    if window is not None:
        m = m & (i - j < window)
    if n_prefix:
        m = m | (j < n_prefix)
    return m


def mac_mask(n_persist: int, n_mem: int, c: int, device=None) -> torch.Tensor:
    """(c, n_persist + n_mem + c) mask of the segment queries over [persistent; memory; segment].

    Persistent tokens are visible to all; memory token j (the readout of segment token j's
    query) and segment token j are visible to segment token i iff j <= i -- the readout of a
    later token would leak its input (DESIGN.md causality)."""
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
    """Fast path: torch SDPA (flash / memory-efficient kernels where available)."""
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)


class Attention(nn.Module):
    """Multi-head softmax attention: x (B, T, C) -> (B, T, C).

    window: sliding window size (None = full causal); n_persistent: learned prefix tokens that
    every query sees (their outputs are dropped); rope: rotary positions; qk_norm: RMSNorm
    (learned gain) on each head's q and k before the rotation; impl: "sdpa" | "naive".
    """

    def __init__(
        self,
        dim: int,
        n_heads: int = 4,
        window: int | None = None,
        n_persistent: int = 0,
        rope: bool = True,
        qk_norm: bool = False,
        impl: str = "sdpa",
    ):
        super().__init__()
        self.H, self.D = n_heads, dim // n_heads
        self.window, self.rope, self.impl = window, rope, impl
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

    def heads(self, x):
        B, T, _ = x.shape
        q, k, v = self.qkv_heads(x)
        if self.rope:
            cos, sin = rope_cos_sin(T, self.D, device=x.device, dtype=x.dtype)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return q, k, v  # (B, H, T, D)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        P = 0 if self.persistent is None else self.persistent.shape[0]
        if P:
            x = torch.cat([self.persistent.unsqueeze(0).expand(B, P, C), x], 1)
        q, k, v = self.heads(x)
        if self.window is None and P == 0 and self.impl == "sdpa":
            y = attention(q, k, v, is_causal=True)
        else:
            mask = causal_mask(T + P, self.window, P, x.device)
            y = (attention if self.impl == "sdpa" else attention_naive)(q, k, v, mask)
        y = y.transpose(1, 2).reshape(B, T + P, C)[:, P:]
        return self.proj(y)
