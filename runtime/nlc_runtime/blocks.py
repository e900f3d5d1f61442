"""Blocks: Transformer (pre-norm), Titans LMM / MAC / MAG / MAL, HOPE and HOPE-Attention, and a
tiny language model wrapper used by tests and examples.

Every block maps x (B, T, C) -> (y, new_state) and takes `state=None` (start from the
meta-learned initial states) or a state it returned before (persistence / test-time learning).

Norms and residuals (runtime/README.md):
- Transformer: x + Attn(RMSNorm(x)), then x + MLP(RMSNorm(x)) (GELU MLP, 4x).
- Titans LMM: the memory replaces attention as the mixer in the same pre-norm layout.
- Titans MAC (Eq. 21-25): per segment S of `chunk` tokens, h = M_{t-1}(q(S)); y = Attn over
  [persistent; h; S] (mask: `attention.mac_mask`); the memory then writes keys/values of y and
  the output is o = y * sigmoid(M_{t-1}(q(y))). Both reads use the state at the segment's
  start (read before write; Eq. 25 reads M_t, which would let a token see its segment's later
  tokens).
- Titans MAG (Eq. 26-28): x~ = [p] || x; o = W(RMSNorm(SWA(x~)) * sigmoid(RMSNorm(M(x~)))).
- Titans MAL (Eq. 29-31): x~ = [p] || x; o = SWA(M(x~)).
  In MAC/MAG/MAL the mixer sits in x + mixer(RMSNorm(x)) followed by the MLP sublayer.
- HOPE (NL §8.3, Eq. 94-97): h = x + SelfModTitans(RMSNorm(x)); y = CMS(h) -- the CMS levels are
  pre-norm residual sublayers themselves, so the CMS replaces the MLP sublayer.
- HOPE-Attention: h = x + Attn(RMSNorm(x)); y = CMS(h).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .attention import Attention, attention, attention_naive, mac_mask
from .cms import CMS
from .norms import RMSNorm
from .rope import apply_rope, rope_cos_sin
from .selfmod import SelfModifyingTitans
from .titans import NeuralMemory


class MLP(nn.Module):
    def __init__(self, dim: int, mult: int = 4):
        super().__init__()
        self.fc = nn.Linear(dim, mult * dim, bias=False)
        self.proj = nn.Linear(mult * dim, dim, bias=False)

    def forward(self, x):
        return self.proj(F.gelu(self.fc(x)))


class TransformerBlock(nn.Module):
    def __init__(self, dim: int, n_heads: int = 4, window: int | None = None, impl: str = "sdpa"):
        super().__init__()
        self.n1, self.n2 = RMSNorm(dim), RMSNorm(dim)
        self.attn = Attention(dim, n_heads, window=window, impl=impl)
        self.mlp = MLP(dim)

    def forward(self, x, state=None, teach=None):
        x = x + self.attn(self.n1(x))
        return x + self.mlp(self.n2(x)), {}


class TitansLMMBlock(nn.Module):
    def __init__(self, dim: int, n_heads: int = 4, **mem_kw):
        super().__init__()
        self.n1, self.n2 = RMSNorm(dim), RMSNorm(dim)
        self.mem = NeuralMemory(dim, n_heads, **mem_kw)
        self.mlp = MLP(dim)

    def forward(self, x, state=None, teach=None):
        y, st = self.mem(self.n1(x), None if state is None else state["mem"])
        x = x + y
        return x + self.mlp(self.n2(x)), {"mem": st}


class MACMixer(nn.Module):
    """Titans memory-as-context: segment attention over [persistent; memory readout; segment]."""

    def __init__(self, dim, n_heads=4, n_persistent=4, **mem_kw):
        super().__init__()
        self.H, self.D = n_heads, dim // n_heads
        self.mem = NeuralMemory(dim, n_heads, **mem_kw)
        self.chunk = self.mem.chunk
        self.attn = Attention(dim, n_heads, rope=True, n_persistent=0)
        self.persistent = nn.Parameter(torch.randn(n_persistent, dim) * 0.02)

    def forward(self, x, state):
        B, T, C = x.shape
        P = self.persistent.shape[0]
        cache_x = cache_y = None
        outs = []
        for s in range(0, T, self.chunk):
            seg = x[:, s : s + self.chunk]  # (B, c, C)
            c = seg.shape[1]
            q, _, _, _, _, _, cache_x = self.mem.project(seg, cache_x)
            h, _ = _read(self.mem, state, q)  # M_{t-1}(q_t): (B, H, c, D)
            h = self.mem.output(h, seg)  # memory tokens (B, c, C)
            ctx = torch.cat([self.persistent.unsqueeze(0).expand(B, P, C), h, seg], 1)
            qh, kh, vh = self.attn.heads(ctx)
            mask = mac_mask(P, c, c, x.device)
            fn = attention if self.attn.impl == "sdpa" else attention_naive
            y = fn(qh[:, :, P + c :], kh, vh, mask)  # only the segment's queries
            y = self.attn.proj(y.transpose(1, 2).reshape(B, c, C))
            q2, k2, v2, lr, dec, mom, cache_y = self.mem.project(y, cache_y)
            # one update per segment; a last, shorter segment updates only when the memory
            # flushes its partial chunk (`partial_chunk: drop` skips it)
            m, state = self.mem.memory_op(q2, k2, v2, lr, dec, mom, state, chunk=self.chunk)
            outs.append(y * torch.sigmoid(self.mem.output(m, y)))
        return torch.cat(outs, 1), state


def _read(mem: NeuralMemory, state, q):
    from .mlp import mlp_forward
    from .state import weights_of

    return mlp_forward(mem.spec, weights_of(state, mem.spec.depth), q)


class MAGMixer(nn.Module):
    def __init__(self, dim, n_heads=4, n_persistent=4, window=64, **mem_kw):
        super().__init__()
        self.mem = NeuralMemory(dim, n_heads, **mem_kw)
        self.attn = Attention(dim, n_heads, window=window, n_persistent=0)
        self.persistent = nn.Parameter(torch.randn(n_persistent, dim) * 0.02)
        self.na, self.nm = RMSNorm(dim), RMSNorm(dim)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.window = window

    def forward(self, x, state):
        B, T, C = x.shape
        P = self.persistent.shape[0]
        xt = torch.cat([self.persistent.unsqueeze(0).expand(B, P, C), x], 1)
        y = _prefix_attention(self.attn, xt, P, self.window)
        m, state = self.mem(xt, state)
        o = self.na(y) * torch.sigmoid(self.nm(m))
        return self.proj(o[:, P:]), state


class MALMixer(nn.Module):
    def __init__(self, dim, n_heads=4, n_persistent=4, window=64, **mem_kw):
        super().__init__()
        self.mem = NeuralMemory(dim, n_heads, **mem_kw)
        self.attn = Attention(dim, n_heads, window=window, n_persistent=0)
        self.persistent = nn.Parameter(torch.randn(n_persistent, dim) * 0.02)
        self.window = window

    def forward(self, x, state):
        B, T, C = x.shape
        P = self.persistent.shape[0]
        xt = torch.cat([self.persistent.unsqueeze(0).expand(B, P, C), x], 1)
        m, state = self.mem(xt, state)
        return _prefix_attention(self.attn, m, P, self.window)[:, P:], state


def _prefix_attention(attn: Attention, xt, P, window):
    """Sliding-window attention over a sequence whose first P tokens are persistent."""
    from .attention import causal_mask

    B, T, C = xt.shape
    q, k, v = attn.heads(xt)
    mask = causal_mask(T, window, P, xt.device)
    y = (attention if attn.impl == "sdpa" else attention_naive)(q, k, v, mask)
    return attn.proj(y.transpose(1, 2).reshape(B, T, C))


class TitansBlock(nn.Module):
    """Titans MAC / MAG / MAL block: x + mixer(RMSNorm(x)), then x + MLP(RMSNorm(x))."""

    MIXERS = {"mac": MACMixer, "mag": MAGMixer, "mal": MALMixer}

    def __init__(self, dim, n_heads=4, variant="mac", **kw):
        super().__init__()
        self.n1, self.n2 = RMSNorm(dim), RMSNorm(dim)
        self.mixer = self.MIXERS[variant](dim, n_heads, **kw)
        self.mlp = MLP(dim)

    def forward(self, x, state=None, teach=None):
        h = self.n1(x)
        st = None if state is None else state["mem"]
        if st is None:
            st = self.mixer.mem.initial_state(x.shape[0])
        y, st = self.mixer(h, st)
        x = x + y
        return x + self.mlp(self.n2(x)), {"mem": st}


class HopeBlock(nn.Module):
    """HOPE: self-modifying Titans followed by CMS. `teach` = dL/d(block output) for lm_grad."""

    def __init__(self, dim, n_heads=4, selfmod_kw=None, cms_kw=None):
        super().__init__()
        self.n1 = RMSNorm(dim)
        self.smt = SelfModifyingTitans(dim, n_heads, **(selfmod_kw or {}))
        self.cms = CMS(dim, **(cms_kw or {}))

    def forward(self, x, state=None, teach=None):
        state = state or {}
        y, s1 = self.smt(self.n1(x), state.get("smt"))
        out, s2 = self.cms(x + y, state.get("cms"), teach=teach)
        return out, {"smt": s1, "cms": s2}


class HopeAttentionBlock(nn.Module):
    """HOPE-Attention: softmax attention followed by CMS."""

    def __init__(self, dim, n_heads=4, window=None, cms_kw=None):
        super().__init__()
        self.n1 = RMSNorm(dim)
        self.attn = Attention(dim, n_heads, window=window)
        self.cms = CMS(dim, **(cms_kw or {}))

    def forward(self, x, state=None, teach=None):
        state = state or {}
        out, s = self.cms(x + self.attn(self.n1(x)), state.get("cms"), teach=teach)
        return out, {"cms": s}


class TinyLM(nn.Module):
    """Embedding -> blocks -> RMSNorm -> head; states per block in a list."""

    def __init__(self, vocab: int, dim: int, blocks: list[nn.Module]):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(blocks)
        self.norm = RMSNorm(dim)
        self.head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx, state=None):
        x = self.emb(idx)
        states = []
        for i, b in enumerate(self.blocks):
            x, s = b(x, None if state is None else state[i])
            states.append(s)
        return self.head(self.norm(x)), states


def _unused():  # keep imports used by type checkers of emitted code
    return apply_rope, rope_cos_sin
