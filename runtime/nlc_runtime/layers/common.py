"""The layers emitted code builds that are not memories: MLPs, the gate combinator and MAC
segment attention. (Memories, attention and CMS are used from their own modules.)

Every class here is a plain `nn.Module` with a short forward; emitted code names them as
`rt.MLP`, `rt.SwiGLU`, `rt.Gate`, `rt.SegmentAttention`.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlc_runtime.exec.state import zeros
from nlc_runtime.layers.attention import Attention, attention, attention_naive, mac_mask
from nlc_runtime.layers.norms import RMSNorm

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
    (readout j and token j visible to query i iff j <= i, `attention.mac_mask`).

    Streaming: forward(x, memory, state) -> (y, state) for the next tokens of the current
    segment; the state holds the keys and values of the segment's readouts and tokens so far,
    and the update of group "segment" (every `segment` tokens) empties it. Positions inside a
    segment's sequence [persistent (P); readouts (segment); tokens (segment)]: persistent
    0..P-1, readout j at P + j, token j at P + segment + j -- also in a last, shorter segment,
    so no position depends on where the sequence ends."""

    flush = True
    # its update group (the spec kind names it; tests/codegen/test_kind_contract.py checks)
    SEGMENT = "segment"
    GROUPS = (SEGMENT,)

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
        self.periods = {self.SEGMENT: segment}
        self.attn = Attention(dim, n_heads, rope=rope, qk_norm=qk_norm, impl=impl)
        self.persistent = (
            nn.Parameter(torch.randn(n_persistent, dim) * 0.02) if n_persistent else None
        )

    def init_state(self, batch: int) -> dict:
        empty = self.attn.init_state(batch)["k"]
        return {"km": empty, "vm": empty, "ks": empty, "vs": empty}

    def forward(self, x: torch.Tensor, memory: torch.Tensor, state: dict | None = None):
        B, n, C = x.shape
        state = state if state is not None else self.init_state(B)
        a = self.attn
        P = 0 if self.persistent is None else self.persistent.shape[0]
        i0 = state["ks"].shape[2]  # tokens of this segment seen before
        _, km, vm = a.heads_at(memory, P + i0)
        q, ks, vs = a.heads_at(x, P + self.segment + i0)
        new = {
            "km": torch.cat([state["km"], km], 2),
            "vm": torch.cat([state["vm"], vm], 2),
            "ks": torch.cat([state["ks"], ks], 2),
            "vs": torch.cat([state["vs"], vs], 2),
        }
        k = torch.cat([new["km"], new["ks"]], 2)
        v = torch.cat([new["vm"], new["vs"]], 2)
        if P:
            _, kp, vp = a.heads_at(self.persistent.unsqueeze(0).expand(B, P, C), 0)
            k, v = torch.cat([kp, k], 2), torch.cat([vp, v], 2)
        c = i0 + n
        mask = mac_mask(P, c, c, x.device)[i0:]  # the new queries' rows
        fn = attention if a.impl == "sdpa" else attention_naive
        y = fn(q, k, v, mask)
        return a.proj(y.transpose(1, 2).reshape(B, n, C)), new

    def update(self, state: dict, group: str) -> dict:
        """A new segment starts: its cache starts empty (fresh, as at the first segment)."""
        ks = state["ks"]
        empty = zeros(ks, *ks.shape[:2], 0, ks.shape[3])
        return {"km": empty, "vm": empty, "ks": empty, "vs": empty}
