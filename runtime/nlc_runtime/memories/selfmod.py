"""Self-modifying Titans (Nested Learning arXiv §8.1-8.2, Eqs. 83-93): the streaming module
`SelfModifyingTitans`, with its per-token reference and chunk-parallel segment step.

Every projection is an in-context memory. Per head, with x_t the (projected, convolved) input:

    k_t = l2norm(M_k(x_t)),  v_t = M_v(x_t),  q_t = l2norm(M_q(x_t))            (Eq. 87, 90)
    eta_t = lr_max * sigmoid(<M_eta(x_t), w_eta> + b_eta)      learning rate
    alpha_t = sigmoid(<M_alpha(x_t), w_alpha> + b_alpha)       retention (weight decay)
    y_t = M_mem(q_t)                                                             (Eq. 86)
    vhat_{□,t} = M_□(v_t)                         self-generated values          (Eq. 87)
    M_□ <- M_□ (alpha_t I - eta_t k_t k_t^T) - eta_t grad l(M_□; k_t, vhat_{□,t})  (Eq. 88, 91)

for □ in {k, v, q, eta, alpha, mem}, l = 1/2 ||M(k) - vhat||^2 (vhat is a fixed target of the
inner loss; the outer gradient still flows through it). All memories M_□ read and take their
gradients at the state of the start of their chunk (Eq. 90-91, read as "the last state of the
previous chunk", as the prose says). `chunk_mem` is the period of M_mem, `chunk_other` that of
the five others (§8.2: "two different value of chunk sizes"). Every update reads only its own
chunk-start state and the chunk's k, v, eta, alpha, so at a shared boundary the order of the
updates (docs/design.md: faster first) cannot change the result.

The memories of a group share their inputs and rates (k, eta, alpha), so they are stacked on a
leading memory dim and run as one batched op. State: per update group, "projections" (k, v,
(q), eta, alpha stacked) and "memory" (the main memory), the visible weights
"W0", "W1" and the momenta "S0", "S1"; "pending": per group, the k, v, eta, alpha of the tokens
of its unfinished chunk (what its update learns from), packed as (B, H, n, 2D + 2) so a segment
joins them with one copy; "conv": the convolution's cache. The
emitted model owns the clock (`stream`): a segment reads and records its tokens; the update
of group "projections" (every `chunk_other` tokens) or "memory" (every `chunk_mem`) learns the
chunk in closed form (or, impl "naive", one reference step per token) and makes it visible.

Choices the paper leaves open (runtime/README.md):
- Each memory is the 2-layer residual MLP M(x) = x + W_1 act(W_2 x) (Eq. 89) of width D -> E -> D.
- DGD on that MLP: the preconditioner (alpha I - eta h h^T) acts on a layer with that layer's
  own input h (NL §4.5 treats each layer as a memory of its input); `dgd="first"` (default)
  applies it to the first layer only, whose input is the L2-normalised key, where the
  normalised-input assumption of DGD's derivation holds; the second layer gets the gradient
  step with decay alpha. `dgd="all"` applies it to both layers.
- eta and alpha are per head: a static (outer) linear read-out of M_eta / M_alpha's output,
  squashed by a sigmoid (eta scaled by lr_max), so both stay in (0, 1) by construction.
- Momentum (Table 6 ablates "the momentum term", Eqs. 86-93 have none): optional, Titans-style,
  on the gradient term: S <- mu S - eta grad; M <- M (alpha I - eta k k^T) + S, with constant mu.
- q adaptive by default (Eq. 88/96 list q); `adaptive_q=False` uses a static projection (§8.1).
- Local conv (window 4) on the projected input before the memories (§8.3).
- `normalize=True` (the HOPE presets): each layer's step is eta / max(1, ||h||^2) for its input
  h (normalised LMS, `delta.normalised_lr`). The first layer's input is a unit-norm key, so it
  is unchanged there; the second layer's input act(W_2 k) grows with the outer weights, and
  its plain step eta ||h||^2 > 2 made the self-generated values v_hat = M(v) feed back and blow
  up (specs/hope.yaml at outer lr 3e-3: NaN at step 96; finite with the normalised step).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from nlc_runtime.exec.clock import is_due, segments
from nlc_runtime.exec.kernels import chunk_kernels
from nlc_runtime.exec.state import zeros
from nlc_runtime.layers.conv import CausalConv1d
from nlc_runtime.layers.norms import RMSNorm, l2norm
from nlc_runtime.memories.delta import (
    chunk_rates,
    chunk_update,
    clip_change,
    normalised_lr,
    step_update,
    unbind_rates,
)
from nlc_runtime.memories.mlp import MemorySpec, mlp_forward, self_target_pairs

OTHERS = ("k", "v", "q", "eta", "alpha")


def _names(adaptive_q: bool) -> tuple[str, ...]:
    return tuple(n for n in OTHERS if adaptive_q or n != "q") + ("mem",)


def _weights(state: dict, key: str = "W") -> list[torch.Tensor] | None:
    return [state[f"{key}0"], state[f"{key}1"]] if f"{key}0" in state else None


def _pack(Ws: list[torch.Tensor], Ss: list[torch.Tensor] | None) -> dict:
    out = {"W0": Ws[0], "W1": Ws[1]}
    if Ss is not None:
        out.update(S0=Ss[0], S1=Ss[1])
    return out


def generate(spec, proj, outer, x, q_static):
    """k, v, q, eta, alpha for tokens x (B, H, n, D) from the stacked projection memories
    `proj` ([W0, W1], each (M, B, H, ...): k, v, (q), eta, alpha)."""
    stacked = mlp_forward(spec, proj, x)[0]  # (M, B, H, n, D)
    out = stacked.unbind(0)  # backward: a stack
    k, v = l2norm(out[0]), out[1]
    q = l2norm(out[2]) if q_static is None else q_static
    # eta and alpha (the last two memories) read out and squashed together: (2, B, H, n)
    gates = torch.sigmoid((stacked[-2:] * outer["gate_w"]).sum(-1) + outer["gate_b"])
    return k, v, q, outer["lr_max"] * gates[0], gates[1]


def generate_read(spec, proj, mem, outer, x, q_static):
    """`generate`, and the read y = M_mem(q) of the main memory `mem` (read before write).
    Returns (y, k, v, eta, alpha)."""
    k, v, q, eta, alpha = generate(spec, proj, outer, x, q_static)
    y = mlp_forward(spec, mem, q)[0]
    return y, k, v, eta, alpha


def projection_chunk(spec, proj, projS, outer, x, q_static, mu, dgd, normalize, clip):
    """A whole chunk of the projection memories (the scan's step, `SelfModifyingTitans.scan`):
    its tokens' k, v, q, eta, alpha generated at the chunk-start weights `proj`, then learned
    in closed form (each matrix's change clipped to `clip`). Returns (k, v, q, eta, alpha, W,
    S)."""
    k, v, q, eta, alpha = generate(spec, proj, outer, x, q_static)
    m = None if mu is None else torch.full_like(eta, mu)
    W, S = write_chunked(spec, proj, projS, k, v, eta, alpha, m, dgd, normalize, clip)
    return k, v, q, eta, alpha, W, S


def memory_chunk(spec, mem, memS, q, k, v, eta, alpha, mu, dgd, normalize, clip, rates):
    """A whole chunk of the main memory (the scan's step): the read y = M_mem(q) at the
    chunk-start weights, then the chunk learned in closed form with its precomputed `rates`
    (each matrix's change clipped to `clip`). Returns (y, W, S)."""
    y = mlp_forward(spec, mem, q)[0]
    m = None if mu is None else torch.full_like(eta, mu)
    W, S = write_chunked(spec, mem, memS, k, v, eta, alpha, m, dgd, normalize, clip, rates)
    return y, W, S


def write_chunked(spec, Ws, Ss, k, v, eta, alpha, mu, dgd, normalize=False, clip=None, rates=None):
    """The memories Ws (stacked; momenta Ss) learn a chunk's tokens in closed form: each
    learns ||M(k) - vhat||^2 with its self-generated values vhat = M(v) and every gradient at
    its chunk-start weights Ws. k, v: (B, H, c, D); eta, alpha, mu: (B, H, c); `clip`: each
    matrix's change bounded to that norm (`clip_change`, here so that a compiled kernel fuses
    it with the update); `rates`: their `chunk_rates`, when the caller has them. Returns
    (W, S)."""
    if rates is None:  # shared by memories and layers
        rates = chunk_rates(eta, alpha, mu, any(dgd), k.dtype)
    newW, newS = [], ([] if Ss is not None else None)
    # the forward's products h @ W are the delta rule's h @ W0
    pairs, products = self_target_pairs(spec, Ws, k, v, products=True)
    for i, (h, g) in enumerate(pairs):
        lr = normalised_lr(eta, h) if normalize else eta
        S0 = None if Ss is None else Ss[i]
        W, S = chunk_update(Ws[i], S0, h, g, lr, alpha, mu, dgd[i], rates, products[i])
        newW.append(clip_change(Ws[i], W, clip))
        if newS is not None:
            newS.append(S)
    return newW, newS


def write_step(spec, Ws, runW, runS, k, v, eta, alpha, mu, dgd, normalize=False):
    """One token of the reference (k, v: (B, H, 1, D); eta, alpha, mu: (B, H)): every running
    copy takes one DGD step with the gradient at the visible weights Ws."""
    newW, newS = [], ([] if runS is not None else None)
    for i, (h, g) in enumerate(self_target_pairs(spec, Ws, k, v)):
        h, g = h[..., 0, :], g[..., 0, :]
        lr = normalised_lr(eta, h) if normalize else eta
        W, S = step_update(runW[i], None if runS is None else runS[i], h, g, lr, alpha, mu, dgd[i])
        newW.append(W)
        if newS is not None:
            newS.append(S)
    return newW, newS


def write_naive(spec, Ws, Ss, k, v, eta, alpha, mu, dgd, normalize=False):
    """`write_chunked` token by token (the reference): one `write_step` per token of the
    chunk, every gradient at the chunk-start weights Ws."""
    runW, runS = list(Ws), Ss
    for t in range(k.shape[2]):
        tok = slice(t, t + 1)
        runW, runS = write_step(
            spec, Ws, runW, runS, k[:, :, tok], v[:, :, tok], eta[:, :, t], alpha[:, :, t],
            None if mu is None else mu[:, :, t], dgd, normalize,
        )  # fmt: skip
    return runW, runS


# The bodies of the chunked path (see compile.compile_chunk_kernels): a segment of the plain
# schedule ("generate", "write"), a whole chunk of the fused scan ("projection", "memory").
KERNELS = chunk_kernels(
    __name__,
    {
        "generate": generate_read,
        "write": write_chunked,
        "projection": projection_chunk,
        "memory": memory_chunk,
    },
    # once per span, meeting a new shape per group and per cut (`exec.compile`'s docstring)
    eager=("generate", "write"),
)


def _logit(p: float) -> float:
    assert 0 < p < 1, f"a gate's start {p} must lie in (0, 1) of its range"
    return math.log(p / (1 - p))


class SelfModifyingTitans(nn.Module):
    """Self-modifying Titans layer, streaming (`stream`): forward(x (B, n, C), state) -> (y,
    state) for one segment; update groups "projections" (every chunk_other tokens) and
    "memory" (every chunk_mem).

    expansion: hidden width E / head_dim of each 2-layer residual memory. momentum: constant mu
    or None. dgd: "first" | "all" | "none" (which memory layers get the DGD preconditioner).
    impl: "chunked" | "naive" (one reference step per token).
    """

    # its update groups, faster first (the spec kind names them; test_kind_contract.py checks)
    PROJECTIONS = "projections"
    MEMORY = "memory"
    GROUPS = (PROJECTIONS, MEMORY)

    def __init__(
        self,
        dim: int,
        n_heads: int = 4,
        head_dim: int | None = None,
        expansion: float = 1.0,
        chunk_mem: int = 16,
        chunk_other: int = 16,
        momentum: float | None = None,
        adaptive_q: bool = True,
        conv_kernel: int = 4,
        lr_max: float = 0.5,
        lr_start: float | None = None,
        forget_start: float | None = None,
        dgd: str = "first",
        stop_grad: bool = False,
        normalize: bool = False,
        clip: float | None = None,
        flush: bool = True,
        impl: str = "chunked",
    ):
        super().__init__()
        self.H = n_heads
        self.D = head_dim or dim // n_heads
        E = max(1, int(self.D * expansion))
        self.spec = MemorySpec(dims=(self.D, E, self.D), residual=True)
        assert dgd in ("first", "all", "none")
        self.dgd = (dgd != "none", dgd == "all")
        self.chunk_mem, self.chunk_other = chunk_mem, chunk_other
        self.periods = {self.PROJECTIONS: chunk_other, self.MEMORY: chunk_mem}
        self.momentum, self.adaptive_q, self.lr_max = momentum, adaptive_q, lr_max
        self.stop_grad, self.impl, self.normalize, self.clip = stop_grad, impl, normalize, clip
        self.flush = flush  # False: a last partial chunk does not update (`partial_chunk: drop`)
        HD = self.H * self.D
        self.in_proj = nn.Linear(dim, HD, bias=False)
        self.conv = CausalConv1d(HD, conv_kernel)
        self.q_proj = None if adaptive_q else nn.Linear(dim, HD, bias=False)
        self.names = _names(adaptive_q)
        self.init = nn.ParameterDict()
        for n in self.names:
            self.init[f"{n}_W0"] = nn.Parameter(torch.randn(self.H, self.D, E) * self.D**-0.5)
            self.init[f"{n}_W1"] = nn.Parameter(torch.randn(self.H, E, self.D) * 0.1 * E**-0.5)
        self.eta_w = nn.Parameter(torch.randn(self.H, self.D) * 0.02)
        # start: eta ~ 0.12 lr_max and retention alpha ~ 0.982, unless lr_start / forget_start
        # (= 1 - alpha) say otherwise
        eta_b = -2.0 if lr_start is None else _logit(lr_start / lr_max)
        alpha_b = 4.0 if forget_start is None else _logit(1.0 - forget_start)
        self.eta_b = nn.Parameter(torch.full((self.H,), eta_b))
        self.alpha_w = nn.Parameter(torch.randn(self.H, self.D) * 0.02)
        self.alpha_b = nn.Parameter(torch.full((self.H,), alpha_b))
        self.out_norm = RMSNorm(HD)
        self.proj = nn.Linear(HD, dim, bias=False)

    def init_state(self, batch: int) -> dict:
        """The state at token 0: each group's initial weights (projections k, v, (q), eta,
        alpha stacked on a leading dim; the main memory alone) expanded over the batch, zero
        momentum, no pending tokens, and the conv cache."""
        groups = {"projections": self.names[:-1], "memory": self.names[-1:]}
        st: dict = {}
        for group, names in groups.items():
            vis = {}
            for i in range(2):
                W = torch.stack([self.init[f"{n}_W{i}"] for n in names])  # (M, H, a, b)
                W = W.unsqueeze(1).expand(W.shape[0], batch, *W.shape[1:])
                # contiguous: the state is a tensor of its own (B, ...), not a view
                vis[f"W{i}"] = (W if group == "projections" else W[0]).contiguous()
                if self.momentum is not None:
                    vis[f"S{i}"] = zeros(vis[f"W{i}"])
            st[group] = vis
        empty = zeros(self.eta_w, batch, self.H, 0, 2 * self.D + 2)
        st["pending"] = {group: empty for group in groups}
        st["conv"] = self.conv.init_state(batch)
        return st

    def outer(self) -> dict:
        """The static read-outs of eta and alpha, stacked as `generate` uses them: weights
        (2, 1, H, 1, D) and biases (2, 1, H, 1) (built once per span)."""
        w = torch.stack([self.eta_w, self.alpha_w])[:, None, :, None]
        b = torch.stack([self.eta_b, self.alpha_b])[:, None, :, None]
        return {"gate_w": w, "gate_b": b, "lr_max": self.lr_max}

    span_dim = 2  # `segment` returns (B, H, n, D): a span's outputs join on dim 2

    def prepare(self, x: torch.Tensor, state: dict, lengths: list[int]):
        """The per-token part of a span x (B, n, C): the projected and convolved input u and
        the static q (adaptive_q=False) of all its tokens, split into segments of `lengths`."""
        B, T, _ = x.shape
        u, conv = self.conv(self.in_proj(x), state["conv"])
        u = u.view(B, T, self.H, self.D).transpose(1, 2)  # (B, H, T, D)
        us = torch.split(u, lengths, dim=2)
        qs = [None] * len(lengths)
        if self.q_proj is not None:
            q = l2norm(self.q_proj(x).view(B, T, self.H, self.D).transpose(1, 2))
            qs = torch.split(q, lengths, dim=2)
        return list(zip(us, qs, strict=True)), {**state, "conv": conv}

    def segment(self, u: torch.Tensor, q: torch.Tensor | None, state: dict):
        """One segment (no boundary inside; u (B, H, n, D)): k, v, q, eta, alpha generated and
        the main memory read at the visible states; the tokens join their groups' pending
        chunks. Returns (y (B, H, n, D), state)."""
        proj, mem = _weights(state["projections"]), _weights(state["memory"])
        y, k, v, eta, alpha = KERNELS["generate"](self.spec, proj, mem, self.outer(), u, q)
        pending = {group: _join(p, k, v, eta, alpha) for group, p in state["pending"].items()}
        return y, {**state, "pending": pending}

    def output(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """y (B, H, n, D) -> (B, n, C): norm and output projection."""
        B, H, T, D = y.shape
        return self.proj(self.out_norm(y.transpose(1, 2).reshape(B, T, H * D)))

    def forward(self, x: torch.Tensor, state: dict | None = None):
        """One segment x (B, n, C) (no boundary inside): prepare, segment, output."""
        state = state if state is not None else self.init_state(x.shape[0])
        (parts,), state = self.prepare(x, state, [x.shape[1]])
        y, state = self.segment(*parts, state)
        return self.output(y, x), state

    def update(self, state: dict, group: str) -> dict:
        """The boundary of `group` ("projections" or "memory"): its memories learn the tokens
        of their chunk, every gradient at the chunk-start weights (closed form; impl "naive":
        one reference step per token), and the result becomes visible (change clipped to
        `clip`, detached with `stop_grad`)."""
        p = state["pending"][group]
        vis = self._learn(state[group], p)
        return {**state, group: vis, "pending": {**state["pending"], group: _emptied(p)}}

    def _learn(self, vis: dict, p: torch.Tensor) -> dict:
        """A group's visible state `vis` after learning its pending tokens p."""
        k, v, eta, alpha = p.split([self.D, self.D, 1, 1], -1)
        eta, alpha = eta.squeeze(-1), alpha.squeeze(-1)
        Ws, Ss = _weights(vis), _weights(vis, "S")
        mu = None if self.momentum is None else torch.full_like(eta, self.momentum)
        args = (k, v, eta, alpha, mu, self.dgd, self.normalize)
        if self.impl == "naive":
            newW, newS = write_naive(self.spec, Ws, Ss, *args)
            newW = [clip_change(W0, W, self.clip) for W0, W in zip(Ws, newW, strict=True)]
        else:
            newW, newS = KERNELS["write"](self.spec, Ws, Ss, *args, self.clip)
        return self._visible(newW, newS)

    def _visible(self, newW: list, newS: list | None) -> dict:
        """What a group's update makes visible: the new weights (their change clipped to
        `clip` by the update) and momenta, detached with `stop_grad`."""
        vis = _pack(newW, newS)
        if self.stop_grad:
            vis = {key: val.detach() for key, val in vis.items()}
        return vis

    def scan(self, state: dict, t: int, x: torch.Tensor):
        """A span x (B, n, C) that starts after token t of its sequence, through every
        boundary of both groups inside it (the fused schedule, `stream.span`; the boundary at
        the span's end is the loop nest's). Loop fission: the projection memories never read
        the main memory, so their scan runs first, chunk by chunk, and yields every token's
        k, v, q, eta, alpha; then the main memory's scan reads and learns its chunks, their
        decay products computed for all of them at once (the rates are known by then). A
        whole chunk inside the span skips the pending buffer. Same numbers as the literal
        nest (tests: fused == plain)."""
        if self.impl == "naive":  # the reference keeps the literal per-segment loop
            return None
        n = x.shape[1]
        P, Pm = self.chunk_other, self.chunk_mem
        cuts = segments(t, n, [P])
        pieces, state = self.prepare(x, state, [e - s for s, e in cuts])
        mu, outer = self.momentum, self.outer()
        vis, pend = state["projections"], state["pending"]["projections"]
        gen = []
        for (s, e), (u, q_static) in zip(cuts, pieces, strict=True):
            Ws, Ss = _weights(vis), _weights(vis, "S")
            if e < n and e - s == P and pend.shape[2] == 0:  # a whole chunk
                *out, W, S = KERNELS["projection"](
                    self.spec, Ws, Ss, outer, u, q_static, mu, self.dgd, self.normalize, self.clip
                )
                vis = self._visible(W, S)
            else:
                out = generate(self.spec, Ws, outer, u, q_static)
                pend = _join(pend, out[0], out[1], out[3], out[4])
                if e < n and is_due(t + e, P):
                    vis, pend = self._learn(vis, pend), _emptied(pend)
            gen.append(out)
        # every token's k, v, q, eta, alpha, cut at the main memory's boundaries instead
        cuts = segments(t, n, [Pm])
        lengths = [e - s for s, e in cuts]
        k, v, q, eta, alpha = (_recut([g[i] for g in gen], lengths) for i in range(5))
        mvis, mpend = state["memory"], state["pending"]["memory"]
        whole = [
            j for j, (s, e) in enumerate(cuts)
            if e < n and e - s == Pm and (j > 0 or mpend.shape[2] == 0)
        ]  # fmt: skip
        rates = {}
        if whole:  # consecutive: the span's middle
            m = None if mu is None else torch.full_like(eta[whole[0]], mu).unsqueeze(2)
            stacked = (torch.stack(z[whole[0] : whole[-1] + 1], 2) for z in (eta, alpha))
            all_rates = chunk_rates(*stacked, m, any(self.dgd), x.dtype)
            rates = dict(zip(whole, unbind_rates(all_rates, 2), strict=True))
        ys = []
        for j, (_, e) in enumerate(cuts):
            Ws, Ss = _weights(mvis), _weights(mvis, "S")
            if j in rates:
                y, W, S = KERNELS["memory"](
                    self.spec, Ws, Ss, q[j], k[j], v[j], eta[j], alpha[j], mu, self.dgd,
                    self.normalize, self.clip, rates[j],
                )  # fmt: skip
                mvis = self._visible(W, S)
            else:
                y = mlp_forward(self.spec, Ws, q[j])[0]
                mpend = _join(mpend, k[j], v[j], eta[j], alpha[j])
                if e < n and is_due(t + e, Pm):
                    mvis, mpend = self._learn(mvis, mpend), _emptied(mpend)
            ys.append(y)
        y = ys[0] if len(ys) == 1 else torch.cat(ys, 2)
        state = {
            **state, "projections": vis, "memory": mvis,
            "pending": {"projections": pend, "memory": mpend},
        }  # fmt: skip
        return self.output(y, x), state

    def drop(self, state: dict, group: str) -> dict:
        """A partial chunk of `group` that does not update (`partial_chunk: drop`): its
        pending tokens are forgotten."""
        return {**state, "pending": {**state["pending"], group: _emptied(state["pending"][group])}}


def _join(pending: torch.Tensor, k, v, eta, alpha) -> torch.Tensor:
    """A group's pending tokens with a segment's k, v, eta, alpha appended, packed as
    (B, H, n, 2D + 2) (a group whose chunk starts here takes the segment with no copy)."""
    new = torch.cat([k, v, eta.unsqueeze(-1), alpha.unsqueeze(-1)], -1)
    return new if pending.shape[2] == 0 else torch.cat([pending, new], 2)


def _recut(parts: list[torch.Tensor], lengths: list[int]) -> list[torch.Tensor]:
    """Segments of tokens (dim 2) joined and cut again at other lengths; as they are when
    the cuts agree."""
    if [p.shape[2] for p in parts] == lengths:
        return parts
    whole = parts[0] if len(parts) == 1 else torch.cat(parts, 2)
    return list(torch.split(whole, lengths, 2))


def _emptied(pending: torch.Tensor) -> torch.Tensor:
    """No pending tokens: a fresh empty tensor (a view's strides would differ from a fresh
    start's, and a compiled step would compile again for it)."""
    B, H, _, width = pending.shape
    return zeros(pending, B, H, 0, width)
