"""Rotary position embedding (RoPE), rotate-half convention, for the attention variants."""

from __future__ import annotations

import torch


def rope_cos_sin(
    T: int,
    dim: int,
    base: float = 10000.0,
    offset: int | torch.Tensor = 0,
    device=None,
    dtype=torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (T, dim) for positions offset..offset+T-1 (offset: a number or a
    0-dim tensor, e.g. the position a streaming attention keeps in its state)."""
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, device=device, dtype=torch.float64) / dim))
    pos = torch.arange(T, device=device, dtype=torch.float64) + offset
    f = torch.outer(pos, inv)  # (T, dim/2)
    emb = torch.cat([f, f], -1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: (B, H, T, D) rotated by position; cos/sin: (T, D)."""
    d = x.shape[-1] // 2
    rot = torch.cat([-x[..., d:], x[..., :d]], -1)
    return x * cos + rot * sin
