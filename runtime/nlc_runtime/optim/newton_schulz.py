"""Newton–Schulz orthogonalisation: the output map of Muon and M3.

Orthogonalising a matrix G = U S V^T means replacing it by U V^T (all singular values set to 1).
NL §4 (arXiv Eq. 43) reads this as the preconditioner P that minimises ‖P(g)^T P(g) − I‖_F²;
one gradient step on that objective from O_0 = g is the cubic iteration
    O ← 1.5·O − 0.5·O (O^T O),
which drives every singular value in (0, √3) to 1. Muon uses a quintic with tuned coefficients
instead: five steps push singular values into roughly [0.7, 1.2] (not exactly 1), which is
enough for an update direction and far cheaper than converging.

The iteration works on the short side (it transposes tall matrices) so that X X^T is the small
Gram matrix, and it starts from G / ‖G‖_F so that every singular value is ≤ 1.
"""

from __future__ import annotations

import torch

QUINTIC = (3.4445, -4.7750, 2.0315)  # Muon's coefficients (a, b, c) of a·X + b·X³ + c·X⁵
CUBIC = (1.5, -0.5, 0.0)  # one GD step on ‖X^T X − I‖² (NL arXiv Eq. 44)


def newton_schulz(
    g: torch.Tensor,
    steps: int = 5,
    coefficients: tuple[float, float, float] = QUINTIC,
    eps: float = 1e-7,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """Approximately orthogonalise the last two dims of `g` (≥ 2-D); returns g's shape/dtype.

    `dtype` is the working precision (e.g. torch.bfloat16 on GPU); default: g's own dtype.
    """
    if g.dim() < 2:
        raise ValueError(f"newton_schulz needs a matrix, got shape {tuple(g.shape)}")
    a, b, c = coefficients
    x = g.to(dtype) if dtype is not None else g
    tall = x.size(-2) > x.size(-1)
    if tall:
        x = x.mT
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + eps)
    for _ in range(steps):
        gram = x @ x.mT
        poly = b * gram + c * (gram @ gram) if c else b * gram
        x = a * x + poly @ x
    if tall:
        x = x.mT
    return x.to(g.dtype)


def as_matrix(t: torch.Tensor) -> torch.Tensor:
    """View a ≥2-D tensor as a matrix (rows = first dim), e.g. a conv kernel (out, in, k)."""
    return t.reshape(t.size(0), -1) if t.dim() > 2 else t


def muon_scale(shape: torch.Size) -> float:
    """Muon's shape factor max(1, rows/cols)^½: keeps the update's RMS per row comparable for
    tall matrices, whose orthogonalised rows are shorter."""
    rows, cols = shape[0], max(1, int(torch.Size(shape[1:]).numel()))
    return max(1.0, rows / cols) ** 0.5
