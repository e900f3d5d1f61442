"""Continuum Memory System (Nested Learning arXiv §7.1, Eqs. 70-74): a chain of MLP blocks with
periods C_1 < ... < C_k, each updated in context every C_l tokens (Eq. 71):

    theta_l <- theta_l - lr_l * sum_{t in chunk} grad_theta <delta_t, f_theta(n_t)>

with every gradient taken at the chunk-start theta_l (DESIGN.md §1), the last partial chunk
flushed. delta_t is the *signal* at the level's output:

- signal="lm_grad" (default; the public reproductions' reading of the paper): delta_t is the
  language-model gradient at the level's output. The caller passes `teach` = dL/dy at the CMS
  output for the tokens of this call, *detached* (a teach signal, not differentiated through);
  the runtime back-propagates it through the later levels in closed form to every level's
  output. Getting dL/dy of a chunk before the next chunk runs is a model-level loop: run a chunk
  read-only (teach=None), take dL/dy of its loss, then call again with teach and `pos` (see
  `lm_grad_rollout`). Without `teach`, an lm_grad CMS does not update (read-only).
- signal="local": fully inside the block. Level l is an associative memory of its normalised
  input n_t with value v_t = n_t W_v^l (W_v^l an outer, meta-learned projection):
  l_t = 1/2 ||f(n_t) - v_t||^2, so delta_t = f(n_t) - v_t.

Layout and choices (runtime/README.md):
- Levels sit in the residual stream with a pre-norm each (a Transformer MLP sublayer is the
  k = 1 case, as the paper says): f_l(n) = act(n W_1) W_2, n = RMSNorm_l(h).
  sequential (Eq. 73): h_l = h_{l-1} + f_l(norm_l(h_{l-1})), y = h_k.
  nested (Eq. 72): as sequential, and level l is re-initialised to its (meta-learned) initial
  state at every boundary of level l+1 -- its context is one chunk of the next slower level;
  the initial states are outer parameters learned by backprop (a simplification of Eq. 72,
  where level l+1 would learn them).
  independent (Eq. 74): y = x + sum_l w_l f_l(norm(x)), w learnable (Agg = weighted sum).
- A period of None means the level never updates in context (an ordinary MLP: level `outer`).
- Streaming: the state carries, per level, the gradient summed over the tokens of its current
  (unfinished) chunk, so a caller may feed a sequence in pieces (`pos` = index of the first
  token, `flush` only on the last piece) and get the same result as in one call.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .chunking import segment_spans, split_spans
from .mlp import MemorySpec, mlp_backward, mlp_forward
from .norms import RMSNorm, rms_norm, rms_norm_input_grad


def _bnd(pos: int, e: int, T: int, C: int | None, flush: bool) -> bool:
    if C is None:
        return False
    return (pos + e) % C == 0 or (flush and e == T)


def _level_pairs(spec, Ws, n, g_out):
    """Output and (h_{l-1}, g_l) pairs of f(n) with output gradient g_out (closed form)."""
    out, cache = mlp_forward(spec, Ws, n)
    pairs, dn = mlp_backward(spec, Ws, cache, g_out)
    return out, pairs, dn


def _forward_levels(cfg, params, Ws, x, teach):
    """All levels on a span of tokens with fixed weights.

    x: (B, 1, n, C); Ws[l]: [(B, 1, C, E), (B, 1, E, C)]; teach: dL/dy (B, 1, n, C) or None.
    Returns y and, per level, the (h, g) pairs of its update signal (None if no signal)."""
    spec, variant, signal = cfg["spec"], cfg["variant"], cfg["signal"]
    k = len(Ws)
    norms_w, Wv, agg = params["norm_w"], params["W_v"], params["agg"]
    sig = [None] * k
    if variant == "independent":
        n = rms_norm(x, norms_w[0])
        outs = []
        for i in range(k):
            f, cache = mlp_forward(spec[i], Ws[i], n)
            outs.append((f, cache))
        y = x + sum(agg[i] * outs[i][0] for i in range(k))
        for i in range(k):
            f, cache = outs[i]
            if signal == "local":
                g = f - n @ Wv[i]
            elif teach is not None:
                g = agg[i] * teach
            else:
                continue
            sig[i] = mlp_backward(spec[i], Ws[i], cache, g)[0]
        return y, sig
    hs, ns, caches = [x], [], []
    h = x
    for i in range(k):
        n = rms_norm(h, norms_w[i])
        f, cache = mlp_forward(spec[i], Ws[i], n)
        ns.append(n), caches.append(cache)
        h = h + f
        hs.append(h)
        if signal == "local":
            sig[i] = mlp_backward(spec[i], Ws[i], cache, f - n @ Wv[i])[0]
    if signal == "lm_grad" and teach is not None:
        d = teach  # dL/dh_k
        for i in range(k - 1, -1, -1):  # dL/d f_i = dL/dh_i
            pairs, dn = mlp_backward(spec[i], Ws[i], caches[i], d)
            sig[i] = pairs
            if i > 0:
                d = d + rms_norm_input_grad(hs[i], norms_w[i], dn)
    return h, sig


# Per-segment body of the chunked path (see compile.compile_chunk_kernels).
KERNELS = {"levels": _forward_levels}


def _grad_sum(pairs):
    return [h.transpose(-1, -2) @ g for h, g in pairs]


def _apply(Ws, G, lr):
    return [W - lr * g for W, g in zip(Ws, G, strict=True)]


def _step_level(Ws, Gs, Ss, lr, mu):
    """A level's update at its boundary from the chunk's summed gradient G: W - lr G, or with
    momentum (mu not None) S <- mu S + G, W - lr S. Returns (new W, new S or None)."""
    if mu is None:
        return _apply(Ws, Gs, lr), None
    Ss = [mu * S + G for S, G in zip(Ss, Gs, strict=True)]
    return _apply(Ws, Ss, lr), Ss


def _unpack(state, k):
    """Per level: [W0, W1], [G0, G1], and [S0, S1] (momentum levels) or None."""
    levels = [state[f"L{i}"] for i in range(k)]
    Ws = [[lv["W0"], lv["W1"]] for lv in levels]
    Gs = [[lv["G0"], lv["G1"]] for lv in levels]
    Ss = [[lv["S0"], lv["S1"]] if "S0" in lv else None for lv in levels]
    return Ws, Gs, Ss


def _pack(Ws, Gs, Ss):
    out = {}
    for i, (W, G, S) in enumerate(zip(Ws, Gs, Ss, strict=True)):
        out[f"L{i}"] = {"W0": W[0], "W1": W[1], "G0": G[0], "G1": G[1]}
        if S is not None:
            out[f"L{i}"].update(S0=S[0], S1=S[1])
    return out


def _zero_like(Ws):
    return [torch.zeros_like(W) for W in Ws]


def cms_chunked(cfg, params, x, state, *, teach=None, pos=0, flush=True):
    """CMS, segment-parallel: x (B, T, C) -> (y (B, T, C), new_state).

    cfg: {"spec": [MemorySpec], "periods": [int | None], "lrs": [float], "momentum":
    [float | None], "variant", "signal"}.
    params: {"norm_w": [(C,)], "W_v": [(C, C)] (local signal), "agg": (k,), "init": [[W1, W2]]}.
    state: {"L<l>": {"W0", "W1", "G0", "G1", ("S0", "S1")}} -- G* is the gradient summed over
    the current unfinished chunk, S* a momentum level's momentum. The sequence is cut at every
    boundary of any level; within a segment no weight changes, so the segment is one batch."""
    periods, lrs, variant = cfg["periods"], cfg["lrs"], cfg["variant"]
    k = len(periods)
    T = x.shape[1]
    Ws, Gs, Ss = _unpack(state, k)
    xh = x.unsqueeze(1)  # (B, 1, T, C): one "head" so the memory-MLP helpers apply
    th = None if teach is None else teach.unsqueeze(1)
    update = cfg["signal"] == "local" or teach is not None
    cuts = [C for C in periods if C is not None]
    # boundaries in absolute time: shift by pos so segments never straddle one
    ys = []
    spans = _spans(T, cuts, pos)
    xs, ts = split_spans(xh, spans, 2), split_spans(th, spans, 2)
    for j, (_s, e) in enumerate(spans):
        y, sig = KERNELS["levels"](cfg, params, Ws, xs[j], ts[j])
        ys.append(y)
        if not update:
            continue
        for i in range(k):
            if sig[i] is not None and periods[i] is not None:
                Gs[i] = [G + g for G, g in zip(Gs[i], _grad_sum(sig[i]), strict=True)]
        for i in range(k):
            if _bnd(pos, e, T, periods[i], flush):
                Ws[i], Ss[i] = _step_level(Ws[i], Gs[i], Ss[i], lrs[i], cfg["momentum"][i])
                Gs[i] = _zero_like(Gs[i])
        if variant == "nested":
            for i in range(k - 1):
                if _bnd(pos, e, T, periods[i + 1], flush):
                    Ws[i] = _init(params, i, x.shape[0])
                    Gs[i] = _zero_like(Gs[i])
                    Ss[i] = None if Ss[i] is None else _zero_like(Ss[i])
    out = _pack(Ws, Gs, Ss)
    return torch.cat(ys, 2).squeeze(1), out


def _spans(T, cuts, pos):
    if pos == 0:
        return segment_spans(T, cuts)
    # segment_spans on the absolute clock, then shifted back to this call's token indices
    spans = segment_spans(pos + T, cuts)
    return [(max(s, pos) - pos, e - pos) for s, e in spans if e > pos]


def _init(params, i, B):
    return [
        W.unsqueeze(0).unsqueeze(0).expand(B, 1, *W.shape).contiguous() for W in params["init"][i]
    ]


def cms_naive(cfg, params, x, state, *, teach=None, pos=0, flush=True):
    """CMS, token by token (the reference); same signature as `cms_chunked`."""
    periods, lrs, variant = cfg["periods"], cfg["lrs"], cfg["variant"]
    k = len(periods)
    T = x.shape[1]
    Ws, Gs, Ss = _unpack(state, k)
    xh = x.unsqueeze(1)
    th = None if teach is None else teach.unsqueeze(1)
    update = cfg["signal"] == "local" or teach is not None
    ys = []
    for t in range(T):
        y, sig = _forward_levels(
            cfg, params, Ws, xh[:, :, t : t + 1], None if th is None else th[:, :, t : t + 1]
        )
        ys.append(y)
        if not update:
            continue
        for i in range(k):
            if sig[i] is not None and periods[i] is not None:
                # one token: its gradient h^T g is an outer product
                Gs[i] = [
                    G + h[:, :, 0, :, None] * g[:, :, 0, None, :]
                    for G, (h, g) in zip(Gs[i], sig[i], strict=True)
                ]
            if _bnd(pos, t + 1, T, periods[i], flush):
                Ws[i], Ss[i] = _step_level(Ws[i], Gs[i], Ss[i], lrs[i], cfg["momentum"][i])
                Gs[i] = _zero_like(Gs[i])
        if variant == "nested":
            for i in range(k - 1):
                if _bnd(pos, t + 1, T, periods[i + 1], flush):
                    Ws[i] = _init(params, i, x.shape[0])
                    Gs[i] = _zero_like(Gs[i])
                    Ss[i] = None if Ss[i] is None else _zero_like(Ss[i])
    out = _pack(Ws, Gs, Ss)
    return torch.cat(ys, 2).squeeze(1), out


CMS_IMPLS = {"chunked": cms_chunked, "naive": cms_naive}


class CMS(nn.Module):
    """Continuum Memory System on the residual stream: x (B, T, C) -> (y (B, T, C), new_state).

    periods: chunk size per level, fastest first (None = never updated in context);
    hidden: MLP width per level (int or list); lrs: inner learning rate per level;
    variant: "sequential" | "nested" | "independent"; signal: "lm_grad" | "local";
    momentum: per level, the momentum mu of optimizer "momentum" (None: plain gd);
    persist: the levels whose state carries over to the next sequence (`carried_state`); a state
    without some levels starts those at their initial state.
    """

    def __init__(
        self,
        dim: int,
        periods: list[int | None] = (16, 64, 256),
        hidden: int | list[int] = 4,
        lrs: float | list[float] = 1e-2,
        variant: str = "sequential",
        signal: str = "lm_grad",
        act: str = "silu",
        momentum: list[float | None] | None = None,
        persist: tuple[int, ...] = (),
        impl: str = "chunked",
    ):
        super().__init__()
        periods = list(periods)
        k = len(periods)
        self.persist = tuple(persist)
        assert variant in ("sequential", "nested", "independent")
        assert signal in ("lm_grad", "local")
        hidden = hidden if isinstance(hidden, list) else [hidden * dim] * k
        lrs = lrs if isinstance(lrs, list) else [lrs] * k
        self.cfg = {
            "spec": [MemorySpec(dims=(dim, hd, dim), act=act) for hd in hidden],
            "periods": periods, "lrs": lrs, "variant": variant, "signal": signal,
            "momentum": list(momentum) if momentum is not None else [None] * k,
        }  # fmt: skip
        self.impl, self.k = impl, k
        n_norms = 1 if variant == "independent" else k
        self.norms = nn.ModuleList([RMSNorm(dim) for _ in range(n_norms)])
        self.W1 = nn.ParameterList(
            [nn.Parameter(torch.randn(dim, hd) * dim**-0.5) for hd in hidden]
        )
        self.W2 = nn.ParameterList(
            [nn.Parameter(torch.randn(hd, dim) * 0.5 * hd**-0.5) for hd in hidden]
        )
        self.agg = nn.Parameter(torch.ones(k)) if variant == "independent" else None
        self.W_v = (
            nn.ParameterList([nn.Parameter(torch.randn(dim, dim) * dim**-0.5) for _ in range(k)])
            if signal == "local"
            else None
        )

    def params(self) -> dict:
        return {
            "norm_w": [n.weight for n in self.norms],
            "W_v": None if self.W_v is None else list(self.W_v),
            "agg": self.agg,
            "init": [[self.W1[i], self.W2[i]] for i in range(self.k)],
        }

    def initial_state(self, batch: int) -> dict:
        st = {}
        for i in range(self.k):
            W0, W1 = (
                W.unsqueeze(0).unsqueeze(0).expand(batch, 1, *W.shape).contiguous()
                for W in (self.W1[i], self.W2[i])
            )
            st[f"L{i}"] = {
                "W0": W0,
                "W1": W1,
                "G0": torch.zeros_like(W0),
                "G1": torch.zeros_like(W1),
            }
            if self.cfg["momentum"][i] is not None:
                st[f"L{i}"].update(S0=torch.zeros_like(W0), S1=torch.zeros_like(W1))
        return st

    def carried_state(self, state: dict) -> dict:
        """The levels of a returned state that carry over to the next sequence."""
        return {f"L{i}": state[f"L{i}"] for i in self.persist}

    def forward(self, x, state=None, teach=None, pos: int = 0, flush: bool = True):
        if state is None:
            state = self.initial_state(x.shape[0])
        elif len(state) < self.k:  # carried levels only: the rest start afresh
            state = {**self.initial_state(x.shape[0]), **state}
        return CMS_IMPLS[self.impl](
            self.cfg, self.params(), x, state, teach=teach, pos=pos, flush=flush
        )


def lm_grad_rollout(cms: CMS, x: torch.Tensor, loss_fn, piece: int, state=None):
    """Model-level driver for signal="lm_grad" (eager): feeds x (B, T, C) through `cms` in
    pieces of `piece` tokens (piece should divide the periods), each piece read-only first, then
    with teach = d(loss_fn(y_piece, s, e))/dy_piece, detached. Returns (y, total loss, state).
    The outer gradient flows through every update into the initial states and into x."""
    T = x.shape[1]
    ys, total = [], 0.0
    for s in range(0, T, piece):
        e = min(s + piece, T)
        y, _ = cms(x[:, s:e], state, pos=s, flush=e == T)
        loss = loss_fn(y, s, e)
        (teach,) = torch.autograd.grad(loss, y, retain_graph=True)
        _, state = cms(x[:, s:e], state, teach=teach.detach(), pos=s, flush=e == T)
        ys.append(y)
        total = total + loss
    return torch.cat(ys, 1), total, state
