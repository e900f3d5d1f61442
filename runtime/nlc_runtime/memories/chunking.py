"""The small (c, c) decay matrices of the chunk-parallel update forms (`delta.chunk_rates`).

(Where chunks begin and end is the loop nest's business: `exec.clock.segments`.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def safe_log(a: torch.Tensor) -> torch.Tensor:
    """log(a) with a = 0 mapped to a very negative finite number (so exp gives 0, no NaN)."""
    return torch.log(a.clamp_min(torch.finfo(a.dtype).tiny))


_MASKS: dict = {}


def tril_masks(c: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The (c, c) strictly-lower and lower boolean masks, built once per size and device in
    eager mode (a chunk loop asks for them hundreds of times per step); built inline while
    torch.compile traces (constants of the graph)."""
    if torch.compiler.is_compiling():
        ones = torch.ones(c, c, dtype=torch.bool, device=device)
        return ones.tril(-1), ones.tril()
    key = (c, str(device))
    if key not in _MASKS:
        ones = torch.ones(c, c, dtype=torch.bool, device=device)
        _MASKS[key] = (ones.tril(-1), ones.tril())
    return _MASKS[key]


def decay_matrix(log_a: torch.Tensor) -> torch.Tensor:
    """A[..., t, i] = prod_{j=i+1..t} a_j for i <= t, 0 above the diagonal.

    log_a: (..., c) -> (..., c, c). Built as a masked cumulative sum (as in Mamba-2's segsum),
    never as a difference of cumulative sums, so a zero gate (log a = -huge) gives exact zeros
    instead of (-inf) - (-inf) = NaN.
    """
    strict, lower = tril_masks(log_a.shape[-1], log_a.device)
    x = log_a.unsqueeze(-1) * strict  # (..., t, i) = log a_t below the diagonal, else 0
    seg = torch.cumsum(x, dim=-2)  # (..., t, i) = sum_{j=i+1..t} log a_j  for t >= i
    return torch.exp(seg) * lower


def shift_down(m: torch.Tensor) -> torch.Tensor:
    """Row t of the result is row t-1 of m (row 0 is zero): m[..., t-1, :] -> out[..., t, :]."""
    return F.pad(m[..., :-1, :], (0, 0, 1, 0))
