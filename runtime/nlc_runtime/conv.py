"""Depthwise causal 1-D convolution (Titans §4.4: after each of the q, k, v projections; HOPE
§8.3: "local convolutions with window size of 4").

Causal: the output at t mixes inputs t-K+1..t only. A cache of the last K-1 inputs lets a
caller continue a stream across calls (Titans MAC computes its memory's keys segment by
segment); a new sequence starts from zeros.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def causal_conv1d(
    x: torch.Tensor, weight: torch.Tensor, cache: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """x: (B, T, C); weight: (C, K) -> (y (B, T, C), new cache (B, K-1, C))."""
    B, T, C = x.shape
    K = weight.shape[-1]
    if cache is None:
        cache = x.new_zeros(B, K - 1, C)
    xp = torch.cat([cache, x], dim=1)  # (B, K-1+T, C)
    y = F.conv1d(xp.transpose(1, 2), weight.unsqueeze(1), groups=C).transpose(1, 2)
    return y, xp[:, xp.shape[1] - (K - 1) :]


class CausalConv1d(nn.Module):
    """Depthwise causal conv with kernel K, initialised near identity (last tap = 1)."""

    def __init__(self, dim: int, kernel: int = 4):
        super().__init__()
        w = torch.randn(dim, kernel) * 0.02
        w[:, -1] += 1.0
        self.weight = nn.Parameter(w)

    def forward(self, x: torch.Tensor, cache: torch.Tensor | None = None):
        return causal_conv1d(x, self.weight, cache)
