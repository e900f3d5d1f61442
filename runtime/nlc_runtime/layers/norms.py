"""Normalisations: RMSNorm (pre-norm of every block) and L2 normalisation of q/k.

Titans §4.4 and HOPE §8.3 L2-normalise queries and keys, which keeps the delta / DGD
preconditioner (aI - b k k^T) contractive for b in (0, 1]. RMSNorm carries a closed-form
input gradient because the CMS teach signal is back-propagated through later CMS levels in
closed form (no autograd inside forward).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def l2norm(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """x / ||x|| over the last dim (eps keeps the gradient finite at 0)."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + eps)


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float = 1e-6) -> torch.Tensor:
    """x / sqrt(mean(x^2) + eps) * weight over the last dim (torch's fused op)."""
    return F.rms_norm(x, x.shape[-1:], weight, eps)


def rms_norm_input_grad(
    x: torch.Tensor, weight: torch.Tensor | None, dy: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """dL/dx of y = rms_norm(x, weight), given dL/dy (closed form, differentiable)."""
    r = torch.rsqrt((x * x).mean(-1, keepdim=True) + eps)
    dn = dy if weight is None else dy * weight
    return r * dn - x * (r**3) * (dn * x).mean(-1, keepdim=True)


class RMSNorm(nn.Module):
    """RMSNorm with a learnable gain; `rms_norm_input_grad` is its backward in closed form."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.eps)
