"""The layers emitted code builds that are not memories: MLPs, the gate combinator and MAC
segment attention. (Memories, attention and CMS are used from their own modules.)

Every class here is a plain `nn.Module` with a short forward; emitted code names them as
`rt.MLP`, `rt.SwiGLU`, `rt.Gate`, `rt.SegmentAttention`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import Attention, attention, attention_naive, mac_mask
from .norms import RMSNorm

_ACTIVATIONS = {"gelu": F.gelu, "silu": F.silu, "relu": F.relu, "sigmoid": torch.sigmoid}


class MLP(nn.Module):
    """down(act(up(x))): the Transformer MLP."""

    def __init__(self, dim: int, hidden: int, activation: str = "gelu"):
        super().__init__()
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)
        self.act = _ACTIVATIONS[activation]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x))."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Gate(nn.Module):
    """Titans MAG's combinator: norm_a(a) * act(norm_b(b)) (learnable vector-valued norms)."""

    def __init__(self, dim: int, activation: str = "sigmoid", normalize: bool = True):
        super().__init__()
        self.norm_a = RMSNorm(dim) if normalize else nn.Identity()
        self.norm_b = RMSNorm(dim) if normalize else nn.Identity()
        self.act = _ACTIVATIONS[activation]

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.norm_a(a) * self.act(self.norm_b(b))


class SegmentAttention(nn.Module):
    """Titans MAC attention: the sequence is cut into segments of `segment` tokens and each
    segment attends over [persistent tokens; memory readout of the segment; the segment]
    (`attention.mac_mask`: readout j and token j visible to query i iff j <= i)."""

    def __init__(
        self,
        dim: int,
        n_heads: int,
        segment: int,
        n_persistent: int = 0,
        rope: bool = True,
        qk_norm: bool = False,
        impl: str = "sdpa",
    ):
        super().__init__()
        self.segment = segment
        self.attn = Attention(dim, n_heads, rope=rope, qk_norm=qk_norm, impl=impl)
        self.persistent = (
            nn.Parameter(torch.randn(n_persistent, dim) * 0.02) if n_persistent else None
        )

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        P = 0 if self.persistent is None else self.persistent.shape[0]
        fn = attention if self.attn.impl == "sdpa" else attention_naive
        outs = []
        for s in range(0, T, self.segment):
            seg, mem = x[:, s : s + self.segment], memory[:, s : s + self.segment]  # (B, c, C)
            c = seg.shape[1]
            parts = [mem, seg]
            if P:
                parts.insert(0, self.persistent.unsqueeze(0).expand(B, P, C))
            q, k, v = self.attn.heads(torch.cat(parts, 1))  # (B, H, P + 2c, D)
            y = fn(q[:, :, P + c :], k, v, mac_mask(P, c, c, x.device))  # segment queries only
            outs.append(self.attn.proj(y.transpose(1, 2).reshape(B, c, C)))
        return torch.cat(outs, 1)
