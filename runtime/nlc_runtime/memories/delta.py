"""One weight matrix of an in-context memory: the per-token update (reference) and its closed
form over a whole chunk (fast).

The general rule, per token t of a chunk whose gradients are all taken at the chunk-start
weights W_0 (docs/design.md, Titans Eq. 16-18, HOPE Eq. 90-91), row-vector layout (W: d_in x
d_out, gradient G_t = h_t g_t^T with h_t the layer's input and g_t = dl_t/dz):

    S_t = mu_t S_{t-1} - lr_t G_t                      momentum (Titans Eq. 14);
                                                       without momentum S_t := -lr_t G_t
    W_t = (a_t I - b_t h_t h_t^T) W_{t-1} + S_t        forgetting a_t = 1 - alpha_t
                                                       (Titans Eq. 13) and, with `delta`,
                                                       the DGD / delta-rule term b_t = lr_t
                                                       (NL Eq. 57, HOPE Eq. 88/93)

Matrix memory, column layout M = W^T: M_t = M_{t-1}(a_t I - b_t k_t k_t^T) - lr_t (M_0 k_t - v_t)
k_t^T (HOPE Eq. 93); with chunk size 1, mu = 0 and no `delta` it is the gated delta rule
(Titans App. C): M_t = a_t M_{t-1} - lr_t (M_{t-1} k_t - v_t) k_t^T.

The visible state only changes at the chunk's end: W_c, S_c after the last token.

Chunk closed form (derived in the docstring of `chunk_update`): with the decay matrices
A[t,i] = prod_{j=i+1..t} a_j and Mu[t,i] = prod_{j=i+1..t} mu_j (both (c, c)),
    P = A @ Mu,  gamma = A @ Mu_cum
    S_c = Mu_cum_c S_0 - H^T diag(Mu[c,:] lr) G
    W_c = A_cum_c W_0 + gamma_c S_0 - H^T diag(P[c,:] lr) G + H^T diag(A[c,:]) U
where U (c x d_out) collects the delta-rule corrections u_t = -b_t W_{t-1}^T h_t and solves a
unit lower-triangular (c x c) system. Everything is a batched matmul; the only sequential piece
is the triangular solve (as in chunked DeltaNet).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from nlc_runtime.memories.chunking import decay_matrix, safe_log, shift_down
from nlc_runtime.memories.products import mm


def normalised_lr(lr: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """lr_t / max(1, ||h_t||^2) (h: (..., d), lr: (...)): the normalised-LMS step. On the
    token's own input the step then moves the layer's output by at most lr times the error, so
    a layer whose inputs grow (a memory's hidden activations) cannot diverge for lr < 2; on
    unit-norm inputs (the L2-normalised keys of a first layer) it is the plain step."""
    return lr / h.square().sum(-1).clamp_min(1.0)


def clip_change(W0: torch.Tensor, W: torch.Tensor, clip: float | None) -> torch.Tensor:
    """W0 + (W - W0), the change scaled down to Frobenius norm `clip` per matrix (the last two
    dims) where it is larger: the spec's `optimizer.clip` on one update of a memory -- the whole
    change of a chunk (gradient, momentum and forgetting terms), taken at its boundary."""
    if clip is None:
        return W
    return _ClipChange.apply(W0, W, clip)[0]


class _ClipChange(torch.autograd.Function):
    """`clip_change` with its backward written out. The memory matrices outweigh a chunk's
    tokens many times and a clip runs at every chunk boundary, so what it costs is the number
    of weight-sized passes: 3 forward and 4 backward here, against about 12 for the same
    expression differentiated op by op (on HOPE's projection memories the clip cost 20% of the
    layer's step that way)."""

    generate_vmap_rule = True  # a wavefront runs its blocks under vmap

    @staticmethod
    def forward(W0: torch.Tensor, W: torch.Tensor, clip: float):
        change = W - W0
        norm = torch.linalg.vector_norm(change, dim=(-2, -1), keepdim=True)
        scale = clip / norm.clamp_min(clip)  # 1 where the change is within the bound
        return torch.addcmul(W0, change, scale), change, norm, scale

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, change, norm, scale = output
        ctx.save_for_backward(change, norm, scale)
        ctx.clip = inputs[2]
        ctx.mark_non_differentiable(change, norm, scale)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: torch.Tensor, *_):
        change, norm, scale = ctx.saved_tensors
        # where clipped, scale = clip / ||change|| moves with the change:
        # d(scale * change) = scale * d - scale <change, d> / ||change||^2 * change
        inner = (grad * change).sum((-2, -1), keepdim=True)
        clipped = norm > ctx.clip  # never a zero norm: no 0/0 taken
        coef = torch.where(clipped, -scale * inner / norm.clamp_min(ctx.clip).square(), 0.0)
        g_change = torch.addcmul(grad * scale, change, coef)
        return grad - g_change, g_change, None


def clip_changes(old: dict, new: dict, clip: float | None) -> dict:
    """`clip_change` on the weights ("W<l>") of a memory state dict; momenta pass unclipped."""
    if clip is None:
        return new
    return {k: clip_change(old[k], v, clip) if k.startswith("W") else v for k, v in new.items()}


def step_update(
    W: torch.Tensor,
    S: torch.Tensor | None,
    h: torch.Tensor,
    g: torch.Tensor,
    lr: torch.Tensor,
    a: torch.Tensor | None,
    mu: torch.Tensor | None,
    delta: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One token of the rule above (reference). W, S: (B, H, din, dout); h: (B, H, din);
    g: (B, H, dout); lr, a, mu: (B, H)."""
    G = h.unsqueeze(-1) * g.unsqueeze(-2)  # (B, H, din, dout)
    lr_ = lr[..., None, None]
    if S is not None:
        S = mu[..., None, None] * S - lr_ * G
        X = S
    else:
        X = -lr_ * G
    Wn = W if a is None else a[..., None, None] * W
    if delta:
        hW = (h.unsqueeze(-2) @ W).squeeze(-2)  # (B, H, dout) = h^T W_{t-1}
        Wn = Wn - lr_ * h.unsqueeze(-1) * hW.unsqueeze(-2)
    return Wn + X, S


class ChunkRates(NamedTuple):
    """What `chunk_update` derives from a chunk's rates alone (lr, a, mu: (..., c)); one
    memory's layers share their rates, so its update computes these once (`chunk_rates`), and a
    span whose rates are known before its chunks run computes them for all chunks at once
    (`chunk_rates` on (..., m, c), then `unbind_rates`)."""

    A: torch.Tensor  # (..., c, c): prod_{j=i+1..t} a_j
    A_cum: torch.Tensor  # (..., c): prod_{j<=t} a_j
    Mu: torch.Tensor | None  # (..., c, c), with momentum
    Mu_cum: torch.Tensor | None  # (..., c)
    P: torch.Tensor  # A @ Mu (A without momentum)
    gamma: torch.Tensor | None  # A @ Mu_cum
    delta: tuple | None  # (A_cum_prev, gamma_prev, P shifted down, A shifted down)


def chunk_rates(
    lr: torch.Tensor, a: torch.Tensor | None, mu: torch.Tensor | None, delta: bool, dtype=None
) -> ChunkRates:
    """The decay products of one chunk; `delta`: also the pieces of the DGD/delta-rule solve."""
    dt = dtype or lr.dtype
    if a is not None:
        log_a = safe_log(a)
        cum = torch.cumsum(log_a, -1)
        A, A_cum = decay_matrix(log_a), torch.exp(cum)
    else:
        log_a = cum = torch.zeros(lr.shape, dtype=dt, device=lr.device)
        A, A_cum = decay_matrix(log_a), torch.ones_like(log_a)
    Mu = Mu_cum = gamma = None
    P = A
    if mu is not None:
        log_mu = safe_log(mu)
        Mu, Mu_cum = decay_matrix(log_mu), torch.exp(torch.cumsum(log_mu, -1))
        P = A @ Mu
        gamma = (A @ Mu_cum.unsqueeze(-1)).squeeze(-1)
    pieces = None
    if delta:
        A_cum_prev = torch.exp(cum - log_a)  # prod_{j<t} a_j (an exclusive cumulative product)
        g_prev = None
        if gamma is not None:
            g_prev = F.pad(gamma[..., :-1], (1, 0))
        A_prev = shift_down(A)
        pieces = (A_cum_prev, g_prev, A_prev if P is A else shift_down(P), A_prev)
    return ChunkRates(A, A_cum, Mu, Mu_cum, P, gamma, pieces)


def unbind_rates(rates: ChunkRates, dim: int) -> list[ChunkRates]:
    """Rates of m chunks computed at once (their chunk index at `dim` of every (..., c) and
    (..., c, c) field, counted from the front) as one ChunkRates per chunk: one `unbind` per
    field, whose backward is one `stack`."""

    def split(x):
        if x is None:
            return None
        if isinstance(x, tuple):
            parts = [split(y) for y in x]
            m = next(len(p) for p in parts if p is not None)
            return [tuple(None if p is None else p[j] for p in parts) for j in range(m)]
        return x.unbind(dim)

    fields = [split(x) for x in rates]
    m = next(len(f) for f in fields if f is not None)
    return [ChunkRates(*(None if f is None else f[j] for f in fields)) for j in range(m)]


NEUMANN_MAX = 16
"""Chunks up to this size solve their unit lower-triangular system as a product of Neumann
factors (a few small batched matmuls); larger ones call the triangular solver. On CPU a
batched (4 x 4) `solve_triangular` costs about 20 of those matmuls (170 us against 8 us, 80
systems), and it was 9% of a HOPE training step."""


def unit_lower_solve(N: torch.Tensor, R: torch.Tensor, transpose: bool = False) -> torch.Tensor:
    """X with (I + N) X = R (`transpose`: (I + N)^T X = R), N (..., c, c) strictly
    lower-triangular (zero on and above the diagonal), R (..., c, d). N is nilpotent, so
    (I + N)^-1 = sum_{j<c} (-N)^j = (I - N)(I + N^2)(I + N^4)...: ceil(log2 c) factors, exact
    (no truncation)."""
    c = N.shape[-1]
    if c > NEUMANN_MAX:
        # the solver takes the unit diagonal as given and reads one triangle only
        T = N.mT if transpose else N
        return torch.linalg.solve_triangular(T, R, upper=transpose, unitriangular=True)
    if c == 1:
        return R
    M = -N.mT if transpose else -N
    X = R + mm(M, R)
    span = 2  # X = (I + M + ... + M^(span - 1)) R
    while span < c:
        M = mm(M, M)
        X = X + mm(M, X)
        span *= 2
    return X


def chunk_update(
    W0: torch.Tensor,
    S0: torch.Tensor | None,
    Hm: torch.Tensor,
    Gm: torch.Tensor,
    lr: torch.Tensor,
    a: torch.Tensor | None,
    mu: torch.Tensor | None,
    delta: bool,
    rates: ChunkRates | None = None,
    HW0: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The state after a whole chunk of `step_update`s, in closed form.

    W0, S0: (B, H, din, dout); Hm: (B, H, c, din) layer inputs; Gm: (B, H, c, dout) output
    gradients (both at W0); lr, a, mu: (B, H, c); `rates`: `chunk_rates(lr, a, mu, ...)` when
    the caller already has them (then a and mu are not read; lr may differ per layer); `HW0`:
    Hm @ W0 (B, H, c, dout), when the caller has it (a memory's forward at W0 on these inputs
    computed it: the delta rule's correction reads it, and one product fewer is 10% of the
    self-modifying Titans' matrix FLOPs).
    Returns (W_c, S_c). The matrices and the rates broadcast: W0 (M, B, H, din, dout) with
    Gm (M, B, H, c, dout) updates M memories that share the rates (and, where Hm has no M dim,
    the inputs) in one pass.

    Derivation. Let Y_t = a_t Y_{t-1} + S_t with Y_0 = W_0 (the update without the delta term).
    Unrolling the momentum, S_t = Mu_cum_t S_0 - sum_{i<=t} Mu[t,i] lr_i G_i, hence
    Y_t = A_cum_t W_0 + gamma_t S_0 - sum_{i<=t} P[t,i] lr_i h_i g_i^T with P = A Mu,
    gamma = A Mu_cum. The delta term -b_t h_t (h_t^T W_{t-1}) is rank one in h_t; the ansatz
    W_t = Y_t + sum_{i<=t} A[t,i] h_i u_i^T holds with u_t = -b_t W_{t-1}^T h_t, i.e.
    u_t = -b_t [A_cum_{t-1} W_0^T h_t + gamma_{t-1} S_0^T h_t
                - sum_{i<t} P[t-1,i] lr_i (h_i.h_t) g_i + sum_{i<t} A[t-1,i] (h_i.h_t) u_i],
    a unit lower-triangular system in U = [u_1..u_c].
    """
    r = rates if rates is not None else chunk_rates(lr, a, mu, delta, Hm.dtype)
    if delta and S0 is None and r.Mu is None and not torch.compiler.is_compiling():
        # eager: the same expression below as one autograd node (a compiled kernel lets the
        # compiler differentiate and fuse it instead)
        A_cum_prev, _, _, A_prev = r.delta
        HW0 = mm(Hm, W0) if HW0 is None else HW0
        rows = (r.A[..., -1, :], r.A_cum[..., -1], A_cum_prev, A_prev)
        return _DeltaChunk.apply(W0, Hm, Gm, lr, *rows, HW0)[0], None
    lrG = Gm * lr.unsqueeze(-1)  # (B, H, c, dout)
    Ht = Hm.transpose(-1, -2)  # (B, H, din, c)
    # W_c = A_cum_c W0 (+ gamma_c S0) + H^T Z: the gradient and delta terms are both low rank
    # in the chunk's inputs, so they share one product
    Z = -r.P[..., -1, :].unsqueeze(-1) * lrG  # (B, H, c, dout)
    W = r.A_cum[..., -1, None, None] * W0
    if S0 is not None:
        W = W + r.gamma[..., -1, None, None] * S0
        S = r.Mu_cum[..., -1, None, None] * S0 - mm(Ht, r.Mu[..., -1, :].unsqueeze(-1) * lrG)
    else:
        S = None
    if delta:
        A_cum_prev, g_prev, P_prev, A_prev = r.delta
        K = mm(Hm, Ht)  # (B, H, c, c): h_t . h_i
        HW0 = mm(Hm, W0) if HW0 is None else HW0  # (B, H, c, dout)
        rhs = A_cum_prev.unsqueeze(-1) * HW0
        if S0 is not None:
            rhs = rhs + g_prev.unsqueeze(-1) * mm(Hm, S0)
        rhs = rhs - mm(P_prev * K, lrG)
        b = lr.unsqueeze(-1)  # b_t = lr_t (HOPE Eq. 88 uses one eta_t for both terms)
        # the system is I + T, T = b (A_prev * K) strictly lower (A_prev = A shifted down is
        # zero on and above the diagonal)
        U = unit_lower_solve(b * (A_prev * K), -b * rhs)
        Z = Z + r.A[..., -1, :].unsqueeze(-1) * U  # A[-1, i] = prod_{j>i} a_j
    return W + mm(Ht, Z), S


class _DeltaChunk(torch.autograd.Function):
    """`chunk_update` with the delta rule, no momentum, with its backward written out (eager
    only). Differentiated op by op, the closed form is ~45 small ops forward and ~80 autograd
    nodes backward per matrix, run for every chunk of every memory (HOPE's projection
    memories: 4 tokens): about 80% of its time was the backward pass's per-node cost.

    Inputs: W0 (..., din, dout); Hm (..., c, din); Gm, HW0 = Hm @ W0 (..., c, dout); lr (..., c);
    last = A[c, :] (..., c); A_cum_c (...); the solve's pieces A_cum_prev (..., c) and A_prev
    (..., c, c). With b = lr, P = A (no momentum):
        Z = diag(last) (U - diag(lr) G),  W_c = A_cum_c W0 + H^T Z,
        (I + N) U = -diag(b) rhs,  N = diag(b) (A_prev * K),  K = H H^T,
        rhs = diag(A_cum_prev) HW0 - (A_prev * K) diag(lr) G.
    """

    generate_vmap_rule = True  # a wavefront runs its blocks under vmap

    @staticmethod
    def forward(W0, Hm, Gm, lr, last, A_cum_c, A_cum_prev, A_prev, HW0):
        b = lr.unsqueeze(-1)
        lrG = Gm * b
        K = mm(Hm, Hm.mT)
        ApK = A_prev * K
        rhs = A_cum_prev.unsqueeze(-1) * HW0 - mm(ApK, lrG)
        U = unit_lower_solve(b * ApK, -b * rhs)
        Z = last.unsqueeze(-1) * (U - lrG)
        W = torch.addcmul(mm(Hm.mT, Z), A_cum_c[..., None, None], W0)
        return W, Z, lrG, K, U, rhs

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_non_differentiable(*output[1:])
        ctx.save_for_backward(*inputs, *output[1:])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dW, *_):
        W0, Hm, Gm, lr, last, A_cum_c, A_cum_prev, A_prev, HW0, Z, lrG, K, U, rhs = (
            ctx.saved_tensors
        )
        b = lr.unsqueeze(-1)
        ApK = A_prev * K
        dZ = mm(Hm, dW)  # W_c = A_cum_c W0 + H^T Z
        dHm = mm(Z, dW.mT)
        dU = last.unsqueeze(-1) * dZ  # Z = last (U - lrG)
        d_last = (dZ * (U - lrG)).sum(-1)
        dR = unit_lower_solve(b * ApK, dU, transpose=True)  # (I + N) U = R
        dN = -mm(dR, U.mT)
        drhs = -b * dR  # R = -b rhs
        db = (dN * ApK).sum(-1) - (dR * rhs).sum(-1)  # N = b ApK
        dApK = b * dN - mm(drhs, lrG.mT)  # rhs = A_cum_prev HW0 - ApK lrG
        dlrG = -mm(ApK.mT, drhs) - dU
        dK = dApK * A_prev
        dHm = dHm + mm(dK + dK.mT, Hm)  # K = H H^T
        grads = (
            A_cum_c[..., None, None] * dW,
            dHm,
            dlrG * b,
            db + (dlrG * Gm).sum(-1),
            d_last,
            (dW * W0).sum((-2, -1)),
            (drhs * HW0).sum(-1),
            dApK * K,
            A_cum_prev.unsqueeze(-1) * drhs,
        )
        inputs = (W0, Hm, Gm, lr, last, A_cum_c, A_cum_prev, A_prev, HW0)
        return tuple(
            g.sum_to_size(x.shape) if g.shape != x.shape else g
            for g, x in zip(grads, inputs, strict=True)
        )
