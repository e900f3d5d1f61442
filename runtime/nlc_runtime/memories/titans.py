"""Titans neural long-term memory (LMM, arXiv 2501.00663 §3): the streaming module
`NeuralMemory` with its per-token reference step (`lmm_step`) and chunk-parallel segment write
(`memory_write`).

Memory: an MLP (`mlp.MemorySpec`, depth >= 1; depth 1 = matrix memory) per head, trained in
context on l(M; k, v) = 1/2 ||M(k) - v||^2 (Eq. 12) with momentum and forgetting (Eq. 13-14):

    S_t = eta_t S_{t-1} - theta_t grad l(M_{t'}; k_t, v_t)      (surprise with momentum)
    M_t = (1 - alpha_t) M_{t-1} + S_t                            (forgetting)
    y_t = M_{t'}(q_t)                                            (retrieval, Eq. 15)

where t' is the start of t's chunk (docs/design.md: state fixed within a chunk, one update at the
chunk's end, read before write, last partial chunk flushed). Chunk size 1 is the exact
per-token Titans recurrence. The emitted model owns the clock (`stream`): `forward` computes a
segment (reads at the visible weights, the segment's writes advance a running copy), `update`
makes the running copy visible at a chunk boundary, `drop` discards a partial chunk.

With `delta_layers` a layer also gets the delta-rule / DGD term
-theta_t h_t h_t^T W (see delta.py): for a matrix memory this is M_{t-1}((1-alpha_t) I -
theta_t k k^T), so Titans with a linear memory, eta = 0 and this rule is the gated delta rule
(Titans App. C).

Choices (documented in runtime/README.md):
- theta, eta, alpha are per head and per token: theta = lr_max * sigmoid(x W_theta + b),
  eta = sigmoid(x W_eta + b), alpha = sigmoid(x W_alpha + b); `gates="const"` uses fixed values.
- q, k, v = SiLU(conv(x W)); q and k L2-normalised (Titans §4.4).
- Output: RMSNorm(y) * SiLU(x W_gate), then W_out ("normalisation and gating with a linear layer
  before the final output projection", §4.4).
- Initial weights are meta-learned parameters; momentum starts at zero. The outer gradient flows
  through every in-context update (no detach) unless `stop_grad=True`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from nlc_runtime.exec.clock import is_due, segments
from nlc_runtime.exec.kernels import chunk_kernels
from nlc_runtime.exec.state import weights_of, zeros
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
from nlc_runtime.memories.mlp import LOSS_PAIRS, MemorySpec, init_memory_weights, mlp_forward


def memory_write(
    spec: MemorySpec,
    Ws: list[torch.Tensor],
    runW: list[torch.Tensor],
    runS: list[torch.Tensor] | None,
    k: torch.Tensor,
    v: torch.Tensor,
    lr: torch.Tensor,
    decay: torch.Tensor | None,
    mom: torch.Tensor | None,
    delta_layers: tuple[bool, ...],
    objective: str = "l2",
    normalize: bool = False,
    rates=None,
) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
    """The running copy (runW, runS) advanced over a segment's tokens in closed form, every
    gradient taken at the visible weights Ws (the chunk start). k, v: (B, H, n, d); gates
    (B, H, n). `normalize`: each layer's step is `normalised_lr` of its own input. `rates`:
    the gates' `chunk_rates`, when the caller has them.

    Continuing the recurrence from the running copy makes a chunk cut into several segments
    equal to the chunk in one piece: `delta.chunk_update` starts its recurrence at any W0."""
    # [(h_{l-1}, g_l)] each (B, H, n, d), and each layer's product h_{l-1} @ W_l
    pairs, products = LOSS_PAIRS[objective](spec, Ws, k, v, products=True)
    if rates is None:  # shared by the layers
        rates = chunk_rates(lr, decay, mom, any(delta_layers), k.dtype)
    newW, newS = [], ([] if runS is not None else None)
    for i, (h, g) in enumerate(pairs):
        S0 = None if runS is None else runS[i]
        lr_i = normalised_lr(lr, h) if normalize else lr
        # the forward's h @ W is the delta rule's h @ W0 where it started from the same W
        HW0 = products[i] if runW[i] is Ws[i] else None
        W, S = chunk_update(runW[i], S0, h, g, lr_i, decay, mom, delta_layers[i], rates, HW0)
        newW.append(W)
        if newS is not None:
            newS.append(S)
    return newW, newS


def memory_chunk(spec, Ws, Ss, q, k, v, lr, decay, mom, delta_layers, objective, normalize, rates):
    """A whole chunk (the fused scan's step, `NeuralMemory.scan`): the read y = M(q) at the
    chunk-start weights Ws, then the chunk learned from them with its precomputed `rates`.
    Returns (y, W, S)."""
    y, _ = mlp_forward(spec, Ws, q)
    W, S = memory_write(
        spec, Ws, Ws, Ss, k, v, lr, decay, mom, delta_layers, objective, normalize, rates
    )
    return y, W, S


# The per-segment body of the chunked path and the fused scan's per-chunk step;
# `compile.compile_chunk_kernels` swaps in compiled versions.
KERNELS = chunk_kernels(__name__, {"write": memory_write, "chunk": memory_chunk})


def lmm_step(
    spec: MemorySpec,
    Ws: list[torch.Tensor],
    runW: list[torch.Tensor],
    runS: list[torch.Tensor] | None,
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    lr: torch.Tensor,
    decay: torch.Tensor | None,
    mom: torch.Tensor | None,
    delta_layers: tuple[bool, ...],
    objective: str = "l2",
    normalize: bool = False,
):
    """One token of the reference: read the visible weights `Ws` (q, k, v: (B, H, 1, d)), and
    advance the running copy (runW, runS) one step with the gradient at `Ws` (gates (B, H)).
    Returns (y (B, H, 1, d_out), runW, runS); the running copy becomes visible at the chunk's
    end (`NeuralMemory.update`)."""
    y, _ = mlp_forward(spec, Ws, q)
    runW, runS = list(runW), (list(runS) if runS is not None else None)
    for i, (h, g) in enumerate(LOSS_PAIRS[objective](spec, Ws, k, v)):
        lr_i = normalised_lr(lr, h[:, :, 0]) if normalize else lr
        runW[i], S = step_update(
            runW[i], None if runS is None else runS[i], h[:, :, 0], g[:, :, 0],
            lr_i, decay, mom, delta_layers[i],
        )  # fmt: skip
        if runS is not None:
            runS[i] = S
    return y, runW, runS


def _at(x: torch.Tensor | None, t: int) -> torch.Tensor | None:
    return None if x is None else x[:, :, t]


def _scaled(gate: torch.Tensor, top: float) -> torch.Tensor:
    return gate if top == 1.0 else top * gate


class NeuralMemory(nn.Module):
    """Titans LMM layer, streaming (`stream`): forward(x (B, n, C), state) -> (y, state) for one
    segment; update group "memory" every `chunk` tokens.

    depth: memory MLP depth (1 = matrix memory); expansion: hidden width / head_dim.
    momentum / forget: enable eta_t / alpha_t; a data-dependent gate is max * sigmoid(.) with
    max lr_max / mom_max / alpha_max, and starts at gate_start (default: lr_max / 2, 0.73,
    0.018). delta: "none" | "first" | "all" -- which memory layers get the delta-rule/DGD
    term (the first layer is the one whose input is the L2-normalised key). gates: "data"
    (per token) or "const" (lr_const, mom_const, alpha_const), or one of those per gate as a
    triple (theta, eta, alpha) -- a spec may fix the learning rate (e.g. to 0) while its
    momentum and forgetting stay data-dependent. objective: "l2" (Titans) or "dot" (-<M(k), v>:
    with depth 1, gd and lr 1, linear attention, NL §2.1). normalize: normalised-LMS inner
    steps (`delta.normalised_lr`). clip: norm bound on each chunk's change of a
    weight matrix. learn_init=False: M_0 = 0 (matrix memories). qk_norm=False: q and k
    are not L2-normalised. flush=False: a partial chunk at the end of a sequence is dropped.
    impl: "chunked" | "naive" (one reference step per token).
    """

    # its update group (the spec kinds running on it name it; tests/codegen/test_kind_contract.py)
    MEMORY = "memory"
    GROUPS = (MEMORY,)

    def __init__(
        self,
        dim: int,
        n_heads: int = 4,
        head_dim: int | None = None,
        depth: int = 2,
        expansion: float = 2.0,
        residual: bool = False,
        chunk: int = 16,
        momentum: bool = True,
        forget: bool = True,
        delta: str = "none",
        gates: str | tuple[str, str, str] = "data",
        lr_max: float = 0.1,
        lr_const: float = 0.05,
        mom_const: float = 0.9,
        alpha_const: float = 0.01,
        mom_max: float = 1.0,
        alpha_max: float = 1.0,
        gate_start: tuple[float | None, float | None, float | None] = (None, None, None),
        conv: bool = True,
        conv_kernel: int = 4,
        out_gate: bool = True,
        stop_grad: bool = False,
        objective: str = "l2",
        normalize: bool = False,
        clip: float | None = None,
        learn_init: bool = True,
        flush: bool = True,
        qk_norm: bool = True,
        impl: str = "chunked",
    ):
        super().__init__()
        assert objective in LOSS_PAIRS, f"objective {objective!r}"
        self.objective, self.normalize, self.clip = objective, normalize, clip
        self.flush = flush  # False: a last partial chunk does not update (`partial_chunk: drop`)
        self.qk_norm = qk_norm
        self.H = n_heads
        self.D = head_dim or dim // n_heads
        hid = max(1, int(self.D * expansion))
        dims = (self.D,) + (hid,) * (depth - 1) + (self.D,)
        self.spec = MemorySpec(dims=dims, residual=residual)
        self.chunk, self.momentum, self.forget, self.gates = chunk, momentum, forget, gates
        self.lr_max, self.lr_const, self.mom_const, self.alpha_const = (
            lr_max, lr_const, mom_const, alpha_const,
        )  # fmt: skip
        self.mom_max, self.alpha_max = mom_max, alpha_max
        assert delta in ("none", "first", "all")
        self.delta_layers = tuple(
            delta == "all" or (delta == "first" and i == 0) for i in range(depth)
        )
        self.stop_grad, self.impl = stop_grad, impl
        self.periods = {self.MEMORY: chunk}
        HD = self.H * self.D
        self.to_qkv = nn.Linear(dim, 3 * HD, bias=False)
        self.conv = CausalConv1d(3 * HD, conv_kernel) if conv else None
        self.gate_kinds = (gates,) * 3 if isinstance(gates, str) else tuple(gates)
        assert len(self.gate_kinds) == 3 and set(self.gate_kinds) <= {"data", "const"}
        if "data" in self.gate_kinds:
            self.to_gates = nn.Linear(dim, 3 * self.H)  # theta, eta, alpha logits
            nn.init.normal_(self.to_gates.weight, std=0.02)
            # start: theta ~ 0.5 lr_max, eta ~ 0.73, alpha ~ 0.018, unless gate_start says
            logits = [0.0, 1.0, -4.0]
            for j, (start, top) in enumerate(zip(gate_start, (lr_max, mom_max, alpha_max))):
                if start is not None:
                    assert 0 < start < top, f"gate start {start} outside (0, {top})"
                    logits[j] = math.log(start / (top - start))  # sigmoid(logit) * top = start
            with torch.no_grad():
                self.to_gates.bias.copy_(torch.tensor([z for z in logits for _ in range(self.H)]))
        self.learn_init = learn_init
        if learn_init:
            self.init_W = nn.ParameterList(
                [nn.Parameter(W) for W in init_memory_weights(self.spec, self.H)]
            )
        else:  # M_0 = 0, not learned: linear attention / DeltaNet as written
            # (a zero MLP has zero gradients and never leaves zero: matrix memories only)
            assert depth == 1, "learn_init=False needs a matrix memory (depth 1)"
            self.register_buffer("init_zero", torch.zeros(self.H, self.D, self.D), persistent=False)
        self.out_norm = RMSNorm(HD)
        self.to_gate = nn.Linear(dim, HD, bias=False) if out_gate else None
        self.proj = nn.Linear(HD, dim, bias=False)

    def init_weights(self) -> list[torch.Tensor]:
        """The initial state per layer: meta-learned, or zero (`learn_init=False`)."""
        return list(self.init_W) if self.learn_init else [self.init_zero]

    def init_state(self, batch: int) -> dict:
        """The state at token 0: the initial weights expanded over the batch ("W<l>", visible;
        "S<l>" the momentum at the chunk start, zero), their running copy ("run"), and the
        convolution's cache."""
        inits = self.init_weights()
        vis = {
            f"W{i}": W.unsqueeze(0).expand(batch, *W.shape).contiguous()
            for i, W in enumerate(inits)
        }
        if self.momentum:
            vis.update({f"S{i}": zeros(W, batch, *W.shape) for i, W in enumerate(inits)})
        st = {**vis, "run": dict(vis)}
        if self.conv is not None:
            st["conv"] = self.conv.init_state(batch)
        return st

    def project(self, x: torch.Tensor, conv_state: dict | None = None):
        """x (B, T, C) -> q, k, v (B, H, T, D), gates (B, H, T) each, new conv state."""
        B, T, _ = x.shape
        qkv = self.to_qkv(x)
        if self.conv is not None:
            qkv, conv_state = self.conv(qkv, conv_state)
        qkv = F.silu(qkv).view(B, T, 3, self.H, self.D).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, T, D)
        if self.qk_norm:  # unit keys: the delta rule's (I - b k k^T) stays a contraction
            q, k = l2norm(q), l2norm(k)
        lr, mom, decay = self.gate_values(x)
        return q, k, v, lr, decay, mom, conv_state

    def gate_values(self, x: torch.Tensor):
        """theta (lr), eta (mom), 1 - alpha (decay), each (B, H, T); None when disabled."""
        B, T, _ = x.shape
        g = None
        if "data" in self.gate_kinds:
            g = self.to_gates(x).view(B, T, 3, self.H).permute(2, 0, 3, 1)  # (3, B, H, T)
        lr_k, mom_k, alpha_k = self.gate_kinds
        lr = (
            self.lr_max * torch.sigmoid(g[0])
            if lr_k == "data"
            else x.new_full((B, self.H, T), self.lr_const)
        )
        mom = decay = None
        if self.momentum:
            mom = (
                _scaled(torch.sigmoid(g[1]), self.mom_max)
                if mom_k == "data"
                else x.new_full((B, self.H, T), self.mom_const)
            )
        if self.forget:
            alpha = (
                _scaled(torch.sigmoid(g[2]), self.alpha_max)
                if alpha_k == "data"
                else x.new_full((B, self.H, T), self.alpha_const)
            )
            decay = 1 - alpha
        return lr, mom, decay

    def output(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """y (B, H, T, D) -> (B, T, C): norm, gate, output projection."""
        B, H, T, D = y.shape
        y = self.out_norm(y.transpose(1, 2).reshape(B, T, H * D))
        if self.to_gate is not None:
            y = y * F.silu(self.to_gate(x))
        return self.proj(y)

    span_dim = 2  # `segment` returns (B, H, n, D): a span's outputs join on dim 2

    def prepare(self, x: torch.Tensor, state: dict, lengths: list[int]):
        """The per-token part of a span x (B, n, C): q, k, v and the gates of all its tokens
        (one projection and convolution), split into segments of `lengths` tokens."""
        q, k, v, lr, decay, mom, conv = self.project(x, state.get("conv"))
        parts = [_split(z, lengths) for z in (q, k, v, lr, decay, mom)]
        new = dict(state)
        if conv is not None:
            new["conv"] = conv
        return list(zip(*parts, strict=True)), new

    def segment(self, q, k, v, lr, decay, mom, state: dict):
        """One segment (no boundary inside; q, k, v (B, H, n, D), gates (B, H, n)): y = M(q)
        with the visible weights (read before write); the segment's keys and values advance
        the running copy. Returns (y (B, H, n, D), state)."""
        d = self.spec.depth
        Ws = weights_of(state, d)
        runW = weights_of(state["run"], d)
        runS = weights_of(state["run"], d, "S") if self.momentum else None
        if self.impl == "naive":  # the reference: one step per token
            ys = []
            for t in range(q.shape[2]):
                y, runW, runS = lmm_step(
                    self.spec, Ws, runW, runS, q[:, :, t : t + 1], k[:, :, t : t + 1],
                    v[:, :, t : t + 1], lr[:, :, t], _at(decay, t), _at(mom, t),
                    self.delta_layers, self.objective, self.normalize,
                )  # fmt: skip
                ys.append(y)
            y = torch.cat(ys, 2)
        else:
            y, _ = mlp_forward(self.spec, Ws, q)
            runW, runS = KERNELS["write"](
                self.spec, Ws, runW, runS, k, v, lr, decay, mom, self.delta_layers,
                self.objective, self.normalize,
            )  # fmt: skip
        return y, {**state, "run": _pack(runW, runS)}

    def forward(self, x: torch.Tensor, state: dict | None = None):
        """One segment x (B, n, C) (no boundary inside): prepare, segment, output."""
        state = state if state is not None else self.init_state(x.shape[0])
        (parts,), state = self.prepare(x, state, [x.shape[1]])
        y, state = self.segment(*parts, state)
        return self.output(y, x), state

    def update(self, state: dict, group: str = "memory") -> dict:
        """The chunk's end: the running copy becomes visible (its change clipped to `clip`;
        detached with `stop_grad`)."""
        d = self.spec.depth
        Ss = weights_of(state["run"], d, "S") if self.momentum else None
        vis = self._visible(weights_of(state, d), weights_of(state["run"], d), Ss)
        return {**state, **vis, "run": dict(vis)}

    def _visible(self, Ws: list, newW: list, newS: list | None) -> dict:
        """What an update makes visible: the new weights (change clipped to `clip`) and
        momenta, detached with `stop_grad`."""
        newW = [clip_change(W0, W, self.clip) for W0, W in zip(Ws, newW, strict=True)]
        vis = _pack(newW, newS)
        if self.stop_grad:
            vis = {key: val.detach() for key, val in vis.items()}
        return vis

    def scan(self, state: dict, t: int, x: torch.Tensor):
        """A span x (B, n, C) that starts after token t of its sequence, through every chunk
        boundary inside it (the fused schedule, `stream.span`; the boundary at the span's end
        is the loop nest's). The gates of the whole span are known before its chunks run, so
        the decay products of all its whole chunks are computed at once; a whole chunk
        (it starts at a boundary, where the running copy is the visible state) reads and
        learns in one step. Same numbers as the literal nest (tests: fused == plain)."""
        if self.impl == "naive":  # the reference keeps the literal per-segment loop
            return None
        n, C, d = x.shape[1], self.chunk, self.spec.depth
        cuts = segments(t, n, [C])
        pieces, state = self.prepare(x, state, [e - s for s, e in cuts])
        whole = [j for j, (s, e) in enumerate(cuts) if e < n and e - s == C]
        rates = {}
        if whole:  # consecutive: the span's middle
            lo, hi = whole[0], whole[-1] + 1
            gates = [  # lr, decay, mom of the whole chunks, (B, H, m, C)
                None if pieces[lo][i] is None else torch.stack([p[i] for p in pieces[lo:hi]], 2)
                for i in (3, 4, 5)
            ]  # fmt: skip
            all_rates = chunk_rates(*gates, any(self.delta_layers), x.dtype)
            rates = dict(zip(whole, unbind_rates(all_rates, 2), strict=True))
        ys = []
        for j, (_, e) in enumerate(cuts):
            if j in rates:
                q, k, v, lr, decay, mom = pieces[j]
                Ws = weights_of(state, d)
                Ss = weights_of(state, d, "S") if self.momentum else None
                y, W, S = KERNELS["chunk"](
                    self.spec, Ws, Ss, q, k, v, lr, decay, mom, self.delta_layers,
                    self.objective, self.normalize, rates[j],
                )  # fmt: skip
                vis = self._visible(Ws, W, S)
                state = {**state, **vis, "run": dict(vis)}
            else:
                y, state = self.segment(*pieces[j], state)
                if e < n and is_due(t + e, C):
                    state = self.update(state)
            ys.append(y)
        y = ys[0] if len(ys) == 1 else torch.cat(ys, 2)
        return self.output(y, x), state

    def drop(self, state: dict, group: str = "memory") -> dict:
        """A partial chunk at the end of a sequence that does not update
        (`partial_chunk: drop`): the running copy goes back to the chunk start."""
        vis = {key: val for key, val in state.items() if key not in ("run", "conv")}
        return {**state, "run": vis}


def _split(x: torch.Tensor | None, lengths: list[int]) -> list:
    """x (B, H, n, ...) cut along its tokens (dim 2); None stays None. One `split`, whose
    backward is a concatenation (a slice per segment would zero-fill the whole span each)."""
    if x is None:
        return [None] * len(lengths)
    return list(torch.split(x, lengths, dim=2))


def _pack(Ws, Ss) -> dict:
    st = {f"W{i}": W for i, W in enumerate(Ws)}
    if Ss is not None:
        st.update({f"S{i}": S for i, S in enumerate(Ss)})
    return st
