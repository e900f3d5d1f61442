"""Self-modifying Titans (Nested Learning arXiv §8.1-8.2, Eqs. 83-93): per-token reference and
chunk-parallel version, plus the `SelfModifyingTitans` module.

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
updates (DESIGN §1: faster first) cannot change the result.

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

from .chunking import is_boundary, segment_spans, split_spans
from .conv import CausalConv1d
from .delta import chunk_rates, chunk_update, clip_changes, normalised_lr, step_update
from .mlp import MemorySpec, l2_loss_pairs, mlp_forward
from .norms import RMSNorm, l2norm
from .state import weights_of

OTHERS = ("k", "v", "q", "eta", "alpha")


def _names(adaptive_q: bool) -> tuple[str, ...]:
    return tuple(n for n in OTHERS if adaptive_q or n != "q") + ("mem",)


def _Ws(spec: MemorySpec, st: dict) -> list[torch.Tensor]:
    return weights_of(st, spec.depth, "W")


def _Ss(spec: MemorySpec, st: dict) -> list[torch.Tensor] | None:
    return weights_of(st, spec.depth, "S") if "S0" in st else None


def _generate(spec, state, outer, x, q_static):
    """k, v, q, eta, alpha for tokens x (B, H, n, D) from the current memories."""
    k = l2norm(mlp_forward(spec, _Ws(spec, state["k"]), x)[0])
    v = mlp_forward(spec, _Ws(spec, state["v"]), x)[0]
    if q_static is None:
        q = l2norm(mlp_forward(spec, _Ws(spec, state["q"]), x)[0])
    else:
        q = q_static
    e = mlp_forward(spec, _Ws(spec, state["eta"]), x)[0]  # (B, H, n, D)
    a = mlp_forward(spec, _Ws(spec, state["alpha"]), x)[0]
    eta = outer["lr_max"] * torch.sigmoid((e * outer["eta_w"][:, None]).sum(-1) + outer["eta_b"])
    alpha = torch.sigmoid((a * outer["alpha_w"][:, None]).sum(-1) + outer["alpha_b"][:, None])
    return k, v, q, eta, alpha


def _chunk_update_memory(spec, st, k, v, eta, alpha, mu, dgd, normalize=False):
    Ws, Ss = _Ws(spec, st), _Ss(spec, st)
    vhat = mlp_forward(spec, Ws, v)[0]  # self-generated values at the chunk-start state
    rates = chunk_rates(eta, alpha, mu, any(dgd), k.dtype)  # shared by the layers
    out = {}
    for i, (h, g) in enumerate(l2_loss_pairs(spec, Ws, k, vhat)):
        S0 = None if Ss is None else Ss[i]
        lr = normalised_lr(eta, h) if normalize else eta
        W, S = chunk_update(Ws[i], S0, h, g, lr, alpha, mu, dgd[i], rates)
        out[f"W{i}"] = W
        if S is not None:
            out[f"S{i}"] = S
    return out


def _step_memory(spec, vis, run, k, v, eta, alpha, mu, dgd, normalize=False):
    """One token: advance the running state `run` with gradients at the visible state `vis`."""
    Ws = _Ws(spec, vis)
    vhat = mlp_forward(spec, Ws, v)[0]
    out = {}
    for i, (h, g) in enumerate(l2_loss_pairs(spec, Ws, k, vhat)):
        S = run.get(f"S{i}")
        lr = normalised_lr(eta, h[:, :, 0]) if normalize else eta
        W, S = step_update(run[f"W{i}"], S, h[:, :, 0], g[:, :, 0], lr, alpha, mu, dgd[i])
        out[f"W{i}"] = W
        if S is not None:
            out[f"S{i}"] = S
    return out


def _stack(state: dict, names: tuple[str, ...]) -> dict:
    """{name: {"W0", ...}} -> {"W0": (M, B, H, ...), ...}: the projection memories share
    their inputs and rates, so the chunked path runs them as one batch of M memories (one
    kernel per op instead of M; on a GPU the chunk loop is launch-bound)."""
    return {key: torch.stack([state[n][key] for n in names]) for key in state[names[0]]}


def _unstack(stacked: dict, names: tuple[str, ...]) -> dict:
    return {n: {key: w[i] for key, w in stacked.items()} for i, n in enumerate(names)}


def _generate_read(spec, proj, mem, outer, x, q_static):
    """`_generate` from the stacked projection memories `proj` (k, v, (q), eta, alpha in that
    order), then the main memory's read y = M_mem(q). Returns (y, k, v, eta, alpha)."""
    out = mlp_forward(spec, _Ws(spec, proj), x)[0]  # (M, B, H, n, D)
    k, v, e, a = l2norm(out[0]), out[1], out[-2], out[-1]
    q = l2norm(out[2]) if q_static is None else q_static
    eta = outer["lr_max"] * torch.sigmoid((e * outer["eta_w"][:, None]).sum(-1) + outer["eta_b"])
    alpha = torch.sigmoid((a * outer["alpha_w"][:, None]).sum(-1) + outer["alpha_b"][:, None])
    y = mlp_forward(spec, _Ws(spec, mem), q)[0]
    return y, k, v, eta, alpha


# Per-segment bodies of the chunked path (see compile.compile_chunk_kernels).
KERNELS = {"generate": _generate_read, "update": _chunk_update_memory}


def _detach(st: dict) -> dict:
    return {k: v.detach() for k, v in st.items()}


def selfmod_chunked(
    spec: MemorySpec,
    x: torch.Tensor,
    state: dict,
    outer: dict,
    *,
    chunk_mem: int,
    chunk_other: int,
    q_static: torch.Tensor | None = None,
    mu: float | None = None,
    dgd: tuple[bool, ...] = (True, False),
    flush: bool = True,
    stop_grad: bool = False,
    normalize: bool = False,
    clip: float | None = None,
) -> tuple[torch.Tensor, dict]:
    """Self-modifying Titans, chunk-parallel. x: (B, H, T, D) -> (y (B, H, T, D), new_state).

    state: {name: {"W0", "W1", ("S0", "S1")}} for name in k, v, (q), eta, alpha, mem;
    outer: {"eta_w": (H, D), "eta_b": (H,), "alpha_w": (H, D), "alpha_b": (H,), "lr_max": float}.
    The sequence is cut at every boundary of either period; within a segment no memory changes,
    so it is computed as one batch; each memory updates at its own boundaries from the tokens of
    its chunk (gradients at its chunk-start state, in closed form)."""
    B, H, T, D = x.shape
    names = tuple(state.keys())
    proj_names = tuple(n for n in names if n != "mem")
    groups = {"other": _stack(state, proj_names), "mem": state["mem"]}
    ys = []
    pending = {"other": [], "mem": []}  # per group: (k, v, eta, alpha) of its unfinished chunk
    spans = segment_spans(T, [chunk_mem, chunk_other])
    xs, qss = split_spans(x, spans, 2), split_spans(q_static, spans, 2)
    for j, (_s, e) in enumerate(spans):
        # read before write: y uses the main memory's state from before this segment's updates
        y, k, v, eta, alpha = KERNELS["generate"](
            spec, groups["other"], groups["mem"], outer, xs[j], qss[j]
        )
        ys.append(y)
        for group, C in (("other", chunk_other), ("mem", chunk_mem)):
            pending[group].append((k, v, eta, alpha))
            if not is_boundary(e, T, C, flush):
                continue
            kk, vv, ee, aa = (_cat(z) for z in zip(*pending[group], strict=True))
            pending[group] = []
            mm = None if mu is None else torch.full_like(ee, mu)
            st = KERNELS["update"](spec, groups[group], kk, vv, ee, aa, mm, dgd, normalize)
            st = clip_changes(groups[group], st, clip)
            groups[group] = _detach(st) if stop_grad else st
    out = {**_unstack(groups["other"], proj_names), "mem": groups["mem"]}
    return torch.cat(ys, 2), {n: out[n] for n in names}


def _cat(parts: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, 2)


def selfmod_naive(
    spec: MemorySpec,
    x: torch.Tensor,
    state: dict,
    outer: dict,
    *,
    chunk_mem: int,
    chunk_other: int,
    q_static: torch.Tensor | None = None,
    mu: float | None = None,
    dgd: tuple[bool, ...] = (True, False),
    flush: bool = True,
    stop_grad: bool = False,
    normalize: bool = False,
    clip: float | None = None,
) -> tuple[torch.Tensor, dict]:
    """Self-modifying Titans, token by token (the reference); same signature as
    `selfmod_chunked`. Each memory keeps a visible state (fixed through its chunk) and a
    running state that takes one DGD step per token and becomes visible at the chunk's end."""
    B, H, T, D = x.shape
    names = tuple(state.keys())
    vis = dict(state)
    run = dict(state)
    ys = []
    for t in range(T):
        qs = None if q_static is None else q_static[:, :, t : t + 1]
        y, run = selfmod_step(spec, vis, run, outer, x[:, :, t : t + 1], qs, mu, dgd, normalize)
        ys.append(y)
        for n in names:
            C = chunk_mem if n == "mem" else chunk_other
            if is_boundary(t + 1, T, C, flush):
                new = clip_changes(vis[n], run[n], clip)
                vis[n] = _detach(new) if stop_grad else new
                run[n] = vis[n]
    return torch.cat(ys, 2), vis


def selfmod_step(spec, vis: dict, run: dict, outer: dict, x, q_static, mu, dgd, normalize=False):
    """One token of the reference: generate k, v, q, eta, alpha and read the main memory from
    the visible states `vis` (x: (B, H, 1, D)), advance every running state one DGD step.
    Returns (y (B, H, 1, D), new running states); boundaries are the caller's."""
    k, v, q, eta, alpha = _generate(spec, vis, outer, x, q_static)
    y = mlp_forward(spec, _Ws(spec, vis["mem"]), q)[0]
    mm = None if mu is None else torch.full_like(eta[:, :, 0], mu)
    run = {
        n: _step_memory(
            spec, vis[n], run[n], k, v, eta[:, :, 0], alpha[:, :, 0], mm, dgd, normalize
        )
        for n in run
    }
    return y, run


SELFMOD_IMPLS = {"chunked": selfmod_chunked, "naive": selfmod_naive}


def _logit(p: float) -> float:
    assert 0 < p < 1, f"a gate's start {p} must lie in (0, 1) of its range"
    return math.log(p / (1 - p))


class SelfModifyingTitans(nn.Module):
    """Self-modifying Titans layer: x (B, T, C) -> (y (B, T, C), new_state).

    expansion: hidden width E / head_dim of each 2-layer residual memory. momentum: constant mu
    or None. dgd: "first" | "all" | "none" (which memory layers get the DGD preconditioner).
    """

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

    def initial_state(self, batch: int) -> dict:
        st = {}
        for n in self.names:
            m = {}
            for i in range(2):
                W = self.init[f"{n}_W{i}"]
                m[f"W{i}"] = W.unsqueeze(0).expand(batch, *W.shape).contiguous()
                if self.momentum is not None:
                    m[f"S{i}"] = W.new_zeros(batch, *W.shape)
            st[n] = m
        return st

    def outer(self) -> dict:
        return {
            "eta_w": self.eta_w, "eta_b": self.eta_b[:, None], "alpha_w": self.alpha_w,
            "alpha_b": self.alpha_b, "lr_max": self.lr_max,
        }  # fmt: skip

    def forward(self, x: torch.Tensor, state: dict | None = None):
        B, T, _ = x.shape
        if state is None:
            state = self.initial_state(B)
        u, _ = self.conv(self.in_proj(x))
        u = u.view(B, T, self.H, self.D).transpose(1, 2)  # (B, H, T, D)
        q = None
        if self.q_proj is not None:
            q = l2norm(self.q_proj(x).view(B, T, self.H, self.D).transpose(1, 2))
        y, state = SELFMOD_IMPLS[self.impl](
            self.spec, u, state, self.outer(),
            chunk_mem=self.chunk_mem, chunk_other=self.chunk_other, q_static=q,
            mu=self.momentum, dgd=self.dgd, stop_grad=self.stop_grad, normalize=self.normalize,
            clip=self.clip, flush=self.flush,
        )  # fmt: skip
        y = self.out_norm(y.transpose(1, 2).reshape(B, T, self.H * self.D))
        return self.proj(y), state
