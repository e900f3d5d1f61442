"""The read path of a Titans memory whose weights never change: a static feed-forward map.

A `titans_memory` with inner learning rate 0 and no forgetting (or whose period is at least
the context) never updates within a sequence, so every token reads the meta-learned initial
memory M_0 (docs/design.md, "Collapse": such a level folds into `outer`). What is left is

    q_t = l2norm(silu(conv(x W_q))_t)          per head (Titans §4.4)
    y_t = W_out (RMSNorm(M_0(q_t)) * silu(x_t W_gate))

-- exactly `NeuralMemory`'s retrieval (Eq. 15) with its keys, values and gates unused. This
module computes that map with only the weights it needs; the parameter names match
`NeuralMemory`'s (`conv` and `to_q` hold the q rows of its `conv` and `to_qkv`), so
`nlc verify` can map one onto the other.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlc_runtime.layers.conv import CausalConv1d
from nlc_runtime.layers.norms import RMSNorm, l2norm
from nlc_runtime.memories.mlp import MemorySpec, init_memory_weights, mlp_forward


class FrozenMemory(nn.Module):
    """x (B, n, C) -> y (B, n, C): M_0(q(x)) with normalisation, gating and projection.
    Streaming (`stream`): forward(x, state) -> (y, state); the state is the convolution's
    cache (empty without a convolution), no update groups."""

    periods: dict[str, int] = {}
    flush = True

    def __init__(
        self,
        dim: int,
        n_heads: int = 4,
        depth: int = 2,
        expansion: float = 2.0,
        residual: bool = False,
        conv: bool = True,
        conv_kernel: int = 4,
        out_gate: bool = True,
    ):
        super().__init__()
        self.H = n_heads
        self.D = dim // n_heads
        hid = max(1, int(self.D * expansion))  # as NeuralMemory
        self.spec = MemorySpec(dims=(self.D,) + (hid,) * (depth - 1) + (self.D,), residual=residual)
        HD = self.H * self.D
        self.to_q = nn.Linear(dim, HD, bias=False)
        self.conv = CausalConv1d(HD, conv_kernel) if conv else None
        self.init_W = nn.ParameterList(
            [nn.Parameter(W) for W in init_memory_weights(self.spec, self.H)]
        )
        self.out_norm = RMSNorm(HD)
        self.to_gate = nn.Linear(dim, HD, bias=False) if out_gate else None
        self.proj = nn.Linear(HD, dim, bias=False)

    def init_state(self, batch: int) -> dict:
        return {} if self.conv is None else {"conv": self.conv.init_state(batch)}

    def forward(self, x: torch.Tensor, state: dict | None = None):
        B, T, _ = x.shape
        state = state if state is not None else self.init_state(B)
        q = self.to_q(x)
        new = {}
        if self.conv is not None:
            q, new["conv"] = self.conv(q, state["conv"])
        q = l2norm(F.silu(q).view(B, T, self.H, self.D).transpose(1, 2))  # (B, H, T, D)
        y, _ = mlp_forward(self.spec, list(self.init_W), q)  # (H, d, d') weights broadcast over B
        y = self.out_norm(y.transpose(1, 2).reshape(B, T, self.H * self.D))
        if self.to_gate is not None:
            y = y * F.silu(self.to_gate(x))
        return self.proj(y), new
