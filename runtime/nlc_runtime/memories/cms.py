"""Continuum Memory System (Nested Learning arXiv §7.1, Eqs. 70-74): a chain of MLP blocks with
periods C_1 < ... < C_k, each updated in context every C_l tokens (Eq. 71):

    theta_l <- theta_l - lr_l * sum_{t in chunk} grad_theta <delta_t, f_theta(n_t)>

with every gradient taken at the chunk-start theta_l (docs/design.md), the last partial chunk
flushed, and each token's term of each layer scaled by min(1, d / ||h_t||^2) for the layer's
input h_t of width d (`_bounded`: a step that stays stable as outer training grows the inputs).
delta_t is the *signal* at the level's output:

- signal="lm_grad" (the spec's `lm`; the public reproductions' reading of the paper): delta_t
  is the language-model gradient at the level's output. The model's loop nest takes it
  (`lm_signal`): at the end of each LM piece it differentiates the piece's loss to the CMS
  output, detached (a teach signal, not differentiated through), and calls `learn`, which
  back-propagates it through the later levels in closed form to every level's output. A
  segment's forward only reads; it returns its input and output in the state ("x", "y") for
  the model to collect.
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
- A period of None means the level never updates in context (an ordinary MLP: level `outer`);
  a level listed in `frozen` is such a level whose weights are not trained either (period
  `frozen`): its W1, W2 and pre-norm have requires_grad False, so the outer optimizer never
  sees them. The `independent` variant's shared norm and weighted sum freeze only with every
  level (while some level trains they belong to the block, not to one level).
- Streaming (`stream`): the state carries, per level, the gradient summed over the tokens of its
  current (unfinished) chunk ("G<l>"); the emitted model owns the clock and calls
  `update(state, "L<i>")` at level i's boundaries.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from nlc_runtime.exec.kernels import chunk_kernels
from nlc_runtime.exec.state import zeros
from nlc_runtime.layers.norms import RMSNorm, rms_norm, rms_norm_input_grad
from nlc_runtime.memories.mlp import MemorySpec, mlp_backward, mlp_forward


def _level_pairs(spec, Ws, n, g_out):
    """Output and (h_{l-1}, g_l) pairs of f(n) with output gradient g_out (closed form)."""
    out, cache = mlp_forward(spec, Ws, n)
    pairs, dn = mlp_backward(spec, Ws, cache, g_out)
    return out, pairs, dn


def _bounded(pairs):
    """Each token's gradient term h_t^T g_t of each layer scaled by min(1, d / ||h_t||^2), d
    the layer's input width. On inputs of the size the level starts with (normalised inputs,
    ||n||^2 ~ d) the step is unchanged; when outer training grows a layer's inputs (a hidden
    layer's activations), the step shrinks with them, so lr * period * d <= 2 (the bound
    `nlc check` enforces on the spec) keeps the in-context step stable for the whole run,
    not only at initialisation. Without it HOPE's CMS outputs grew into the thousands on
    Python source and the run went NaN at step 58 (bench/bench_stability.py)."""
    out = []
    for h, g in pairs:
        scale = (h.shape[-1] / h.square().sum(-1, keepdim=True).clamp_min(1e-12)).clamp(max=1.0)
        out.append((h, g * scale))
    return out


def _forward_levels(cfg, params, Ws, x, teach):
    """All levels on a span of tokens with fixed weights.

    x: (B, 1, n, C); Ws[l]: [(B, 1, C, E), (B, 1, E, C)]; teach: dL/dy (B, 1, n, C) or None.
    Returns y and, per level, the (h, g) pairs of its update signal (None if no signal)."""
    spec, variant, signal = cfg["spec"], cfg["variant"], cfg["signal"]
    k = len(Ws)
    learns = [p is not None for p in cfg["periods"]]  # an outer level needs no signal
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
            if not learns[i]:
                continue
            if signal == "local":
                g = f - n @ Wv[i]
            elif teach is not None:
                g = agg[i] * teach
            else:
                continue
            sig[i] = _bounded(mlp_backward(spec[i], Ws[i], cache, g, need_dx=False)[0])
        return y, sig
    hs, ns, caches = [x], [], []
    h = x
    for i in range(k):
        n = rms_norm(h, norms_w[i])
        f, cache = mlp_forward(spec[i], Ws[i], n)
        ns.append(n), caches.append(cache)
        h = h + f
        hs.append(h)
        if signal == "local" and learns[i]:
            sig[i] = _bounded(mlp_backward(spec[i], Ws[i], cache, f - n @ Wv[i], need_dx=False)[0])
    if signal == "lm_grad" and teach is not None:
        d = teach  # dL/dh_k
        for i in range(k - 1, -1, -1):  # dL/d f_i = dL/dh_i
            pairs, dn = mlp_backward(spec[i], Ws[i], caches[i], d)
            sig[i] = _bounded(pairs)
            if i > 0:
                d = d + rms_norm_input_grad(hs[i], norms_w[i], dn)
    return h, sig


# Per-segment body of the chunked path (see compile.compile_chunk_kernels).
KERNELS = chunk_kernels(__name__, {"levels": _forward_levels})


def _grad_sum(pairs):
    return [h.transpose(-1, -2) @ g for h, g in pairs]


def _outer_sum(pairs):
    """One token's gradient h^T g of each layer: an outer product (the reference)."""
    return [h[:, :, 0, :, None] * g[:, :, 0, None, :] for h, g in pairs]


def _accumulate(level: dict, grads: list[torch.Tensor]) -> dict:
    return {**level, "G0": level["G0"] + grads[0], "G1": level["G1"] + grads[1]}


class CMS(nn.Module):
    """Continuum Memory System on the residual stream, streaming (`stream`): forward(x (B, n, C),
    state) -> (y, state) for one segment; update group "L<i>" every periods[i] tokens.

    periods: chunk size per level, fastest first (None = never updated in context);
    hidden: MLP width per level (int or list); lrs: inner learning rate per level;
    variant: "sequential" | "nested" | "independent"; signal: "lm_grad" | "local";
    momentum: per level, the momentum mu of optimizer "momentum" (None: plain gd);
    persist: the levels whose state carries over to the next sequence (`carried_state`); a state
    without some levels starts those at their initial state;
    frozen: the levels (of period None) whose parameters are never trained (requires_grad False).
    """

    flush = True

    @staticmethod
    def level_group(i: int) -> str:
        """The update group of level i (the spec kind names it; test_kind_contract.py checks)."""
        return f"L{i}"

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
        frozen: tuple[int, ...] = (),
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
        self.periods = {self.level_group(i): p for i, p in enumerate(periods) if p is not None}
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
        # signal local: the target map of each level that learns in context (keyed by level
        # index; a level of period None has no objective, so no target)
        self.W_v = (
            nn.ParameterDict(
                {
                    str(i): nn.Parameter(torch.randn(dim, dim) * dim**-0.5)
                    for i, p in enumerate(periods)
                    if p is not None
                }
            )
            if signal == "local"
            else None
        )
        self.frozen = tuple(frozen)
        self._freeze(self.frozen)

    def _freeze(self, levels: tuple[int, ...]) -> None:
        """The parameters of `levels` never get a gradient (and so no optimizer state)."""
        periods = self.cfg["periods"]
        for i in levels:
            if not 0 <= i < self.k or periods[i] is not None:
                raise ValueError(f"level {i} cannot be frozen: it learns in context or is absent")
        params = [p for i in levels for p in (self.W1[i], self.W2[i])]
        if self.cfg["variant"] != "independent":
            params += [p for i in levels for p in self.norms[i].parameters()]
        elif set(levels) == set(range(self.k)):  # the shared norm and weights: every level's
            params += [*self.norms.parameters(), self.agg]
        for p in params:
            p.requires_grad_(False)

    @property
    def lm_signal(self) -> bool:
        """Learns from the LM loss (`learn`, called by the model's loop nest)."""
        return self.cfg["signal"] == "lm_grad" and bool(self.periods)

    def params(self) -> dict:
        return {
            "norm_w": [n.weight for n in self.norms],
            "W_v": None if self.W_v is None else [self.W_v.get(str(i)) for i in range(self.k)],
            "agg": self.agg,
            "init": [[self.W1[i], self.W2[i]] for i in range(self.k)],
        }

    def freeze_steps(self) -> None:
        """Every level's in-context step from now on at lr 0: the levels keep the weights each
        sequence starts with. An evaluation ablation (`nlc eval --frozen-cms`): the same
        trained weights with and without learning in context."""
        self.cfg["lrs"] = [0.0] * self.k

    def _restarts(self, i: int) -> bool:
        """`nested`: level i restarts at every boundary of level i + 1 (a level that never
        updates in context has no state to restart)."""
        periods = self.cfg["periods"]
        nested = self.cfg["variant"] == "nested" and i + 1 < self.k
        return nested and periods[i] is not None and periods[i + 1] is not None

    def _init_level(self, i: int, batch: int) -> dict:
        W0, W1 = (
            W.unsqueeze(0).unsqueeze(0).expand(batch, 1, *W.shape).contiguous()
            for W in (self.W1[i], self.W2[i])
        )
        level = {"W0": W0, "W1": W1, "G0": zeros(W0), "G1": zeros(W1)}
        if self.cfg["momentum"][i] is not None:
            level.update(S0=zeros(W0), S1=zeros(W1))
        if self._restarts(i):  # the values it restarts from, kept so `update` reads no weight
            level.update(I0=W0, I1=W1)
        return level

    def init_state(self, batch: int) -> dict:
        """The state at token 0: per in-context level its weights (B, 1, ...) at their
        meta-learned initial values, the chunk's summed gradient G (zero), with momentum S
        (zero), and for a level that restarts (`nested`) its initial values I. A level that
        never updates in context (`outer`) has no state: it reads its parameters, shared by
        the batch (one matmul, no per-sequence copy)."""
        return {
            f"L{i}": self._init_level(i, batch)
            for i, period in enumerate(self.cfg["periods"])
            if period is not None
        }

    def carried_state(self, state: dict) -> dict:
        """The levels of a returned state that carry over to the next sequence."""
        return {f"L{i}": state[f"L{i}"] for i in self.persist}

    def _weights(self, state: dict) -> list[list[torch.Tensor]]:
        return [
            [self.W1[i], self.W2[i]]
            if period is None
            else [state[f"L{i}"]["W0"], state[f"L{i}"]["W1"]]
            for i, period in enumerate(self.cfg["periods"])
        ]

    def forward(self, x: torch.Tensor, state: dict | None = None):
        """One segment x (B, n, C) with every level's weights as of the segment's start. Signal
        local: each in-context level adds the segment's gradient to its chunk sum. Signal
        lm_grad: only reads, and returns x and y in the state for the model's `learn`."""
        state = state if state is not None else self.init_state(x.shape[0])
        Ws = self._weights(state)
        xh = x.unsqueeze(1)  # (B, 1, n, C): one "head" so the memory-MLP helpers apply
        local = self.cfg["signal"] == "local"
        if self.impl == "naive" and local:  # the reference: token by token
            new = dict(state)
            ys = []
            for t in range(x.shape[1]):
                y, sig = _forward_levels(self.cfg, self.params(), Ws, xh[:, :, t : t + 1], None)
                ys.append(y)
                new = self._add(new, sig, _outer_sum)
            y = torch.cat(ys, 2)
        else:
            y, sig = KERNELS["levels"](self.cfg, self.params(), Ws, xh, None)
            new = self._add(dict(state), sig, _grad_sum) if local else dict(state)
        y = y.squeeze(1)
        if self.lm_signal:  # (a CMS with no in-context level never learns: nothing to keep)
            new.update(x=x, y=y)
        return y, new

    def _add(self, state: dict, sig: list, total) -> dict:
        for i, pairs in enumerate(sig):
            if pairs is not None and self.cfg["periods"][i] is not None:
                state[f"L{i}"] = _accumulate(state[f"L{i}"], total(pairs))
        return state

    def learn(self, state: dict, taps: list[tuple[torch.Tensor, torch.Tensor]]) -> dict:
        """Signal lm_grad: the levels add the gradients of a piece's tokens, given per segment
        its input x (B, n, C) and the teach signal dL/dy (B, n, C) at the CMS output. The
        weights are those the piece was read with (no level of this CMS changes inside an LM
        piece), so the closed form runs once over the whole piece."""
        if not taps:
            return state
        x = torch.cat([xs for xs, _ in taps], 1).unsqueeze(1)
        teach = torch.cat([g for _, g in taps], 1).unsqueeze(1)
        Ws, params = self._weights(state), self.params()
        new = dict(state)
        if self.impl == "naive":
            for t in range(x.shape[2]):
                tok = slice(t, t + 1)
                _, sig = _forward_levels(self.cfg, params, Ws, x[:, :, tok], teach[:, :, tok])
                new = self._add(new, sig, _outer_sum)
            return new
        _, sig = KERNELS["levels"](self.cfg, params, Ws, x, teach)
        return self._add(new, sig, _grad_sum)

    def update(self, state: dict, group: str) -> dict:
        """Level i's boundary (group "L<i>"): W <- W - lr G (or with momentum S <- mu S + G,
        W <- W - lr S), G back to zero; `nested`: level i - 1 restarts from its initial state
        (its context is one chunk of level i)."""
        i = int(group[1:])
        level = state[f"L{i}"]
        lr, mu = self.cfg["lrs"][i], self.cfg["momentum"][i]
        step = [level["G0"], level["G1"]]
        new = {**level, "G0": zeros(level["G0"]), "G1": zeros(level["G1"])}
        if mu is not None:
            step = [mu * level["S0"] + step[0], mu * level["S1"] + step[1]]
            new.update(S0=step[0], S1=step[1])
        new.update(W0=level["W0"] - lr * step[0], W1=level["W1"] - lr * step[1])
        out = {**state, f"L{i}": new}
        if i > 0 and self._restarts(i - 1):
            low = state[f"L{i - 1}"]
            zero = {key: zeros(val) for key, val in low.items() if key[0] in "GS"}
            out[f"L{i - 1}"] = {**low, **zero, "W0": low["I0"], "W1": low["I1"]}
        return out
