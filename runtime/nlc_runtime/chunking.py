"""The small (c, c) decay matrices of the chunk-parallel update forms (`delta.chunk_rates`).

(Where chunks begin and end is the loop nest's business: `stream.segments`.)
"""

from __future__ import annotations

import torch


def safe_log(a: torch.Tensor) -> torch.Tensor:
    """log(a) with a = 0 mapped to a very negative finite number (so exp gives 0, no NaN)."""
    return torch.log(a.clamp_min(torch.finfo(a.dtype).tiny))


def decay_matrix(log_a: torch.Tensor) -> torch.Tensor:
    """A[..., t, i] = prod_{j=i+1..t} a_j for i <= t, 0 above the diagonal.

    log_a: (..., c) -> (..., c, c). Built as a masked cumulative sum (as in Mamba-2's segsum),
    never as a difference of cumulative sums, so a zero gate (log a = -huge) gives exact zeros
    instead of (-inf) - (-inf) = NaN.
    """
    c = log_a.shape[-1]
    x = log_a.unsqueeze(-1).expand(*log_a.shape, c)  # (..., t, i) = log a_t
    strict = torch.ones(c, c, dtype=torch.bool, device=log_a.device).tril(-1)
    x = x.masked_fill(~strict, 0.0)
    seg = torch.cumsum(x, dim=-2)  # (..., t, i) = sum_{j=i+1..t} log a_j  for t >= i
    lower = torch.ones(c, c, dtype=torch.bool, device=log_a.device).tril()
    return torch.exp(seg).masked_fill(~lower, 0.0)


def shift_down(m: torch.Tensor) -> torch.Tensor:
    """Row t of the result is row t-1 of m (row 0 is zero): m[..., t-1, :] -> out[..., t, :]."""
    return torch.cat([torch.zeros_like(m[..., :1, :]), m[..., :-1, :]], dim=-2)
