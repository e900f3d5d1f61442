"""Chunk-boundary helpers shared by every in-context memory op.

DESIGN.md §1 fixes the clock: a state with period C keeps its value through a chunk of C
tokens and takes one update at the chunk's end; the last partial chunk of a sequence is flushed
(updated) unless the caller asks to drop it. These helpers turn periods into static Python
lists of token spans, so the chunk loops stay ``torch.compile``-friendly (no data-dependent
control flow), and build the small (c, c) decay matrices the chunk-parallel forms need.
"""

from __future__ import annotations

import torch


def chunk_spans(T: int, C: int) -> list[tuple[int, int]]:
    """Spans [s, e) of chunks of size C covering 0..T (the last one may be partial)."""
    assert C >= 1, "chunk size must be >= 1"
    return [(s, min(s + C, T)) for s in range(0, T, C)]


def segment_spans(T: int, periods: list[int]) -> list[tuple[int, int]]:
    """Spans between consecutive boundaries of *any* of the periods (and T).

    Within one segment no state of the given periods changes, so a segment can be computed as
    one batch of tokens.
    """
    cuts = {T}
    for C in periods:
        cuts.update(range(C, T, C))
    cuts = sorted(cuts)
    spans, s = [], 0
    for e in cuts:
        spans.append((s, e))
        s = e
    return spans


def split_spans(x, spans: list[tuple[int, int]], dim: int):
    """x cut into the given consecutive spans along dim (None stays None).

    One `split` instead of a slice per chunk: the backward of a slice materialises a zero
    tensor of the full input, so per-chunk slicing costs O(T^2 / c)."""
    if x is None:
        return [None] * len(spans)
    return list(torch.split(x, [e - s for s, e in spans], dim=dim))


def is_boundary(e: int, T: int, C: int, flush: bool) -> bool:
    """Does the state with period C update after the token span ending (exclusive) at e?"""
    return e % C == 0 or (flush and e == T)


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
