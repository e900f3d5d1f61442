"""Optimizer rules written as memory updates (NL arXiv §4): one pure function per rule.

Each rule maps `(state, param, grad) -> (new_state, update)`: `state` is a dict of tensors (the
optimizer's memories for this parameter; `{}` before the first step), `new_state` is a fresh
dict (the inputs are never modified) and the new parameter is `param + update`. The docstring of
each rule names its inner objective: the loss its memory takes one gradient step on per outer
step. These functions are the readable reference; the optimizer classes in this package call
them per tensor, and the AdamW/SGD classes also have a `torch._foreach_*` fast path that the
tests hold equal to them.

Convention: a momentum `b` stores *gradients* (not lr-scaled steps), as torch.optim does, so a
learning-rate schedule scales the read-out, not the memory. Step counts are Python ints.
"""

from __future__ import annotations

import math

import torch

from nlc_runtime.optim.newton_schulz import QUINTIC, as_matrix, muon_scale, newton_schulz

State = dict[str, torch.Tensor | int]


def _zeros(state: State, key: str, like: torch.Tensor) -> torch.Tensor:
    value = state.get(key)
    return torch.zeros_like(like) if value is None else value  # type: ignore[return-value]


def sgd_momentum(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.9,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> tuple[State, torch.Tensor]:
    """SGD with momentum; the momentum b is a memory of gradients.

    Inner objective of b at step t: L̃(b) = −⟨b, g_t⟩ + (1 − μ)/2 ‖b‖²; one gradient step of
    size 1 from b_{t−1} gives b_t = μ b_{t−1} + g_t (NL arXiv Eqs. 33–34: μ = 1 is the pure
    dot-product memory, μ < 1 adds the ℓ2 retention). Read-out: W ← W − lr·b_t (Nesterov reads
    g_t + μ b_t instead). L2 weight decay enters the gradient, as in torch.optim.SGD.
    """
    if weight_decay:
        grad = grad + weight_decay * param
    if momentum == 0:
        return {}, -lr * grad
    b = momentum * _zeros(state, "momentum", param) + grad
    read = grad + momentum * b if nesterov else b
    return {"momentum": b}, -lr * read


def adam(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled: bool = True,
    bias_correction: bool = True,
) -> tuple[State, torch.Tensor]:
    """Adam / AdamW: two memories of the same level (=_f), m of gradients and v of their squares.

    Inner objectives (element-wise, NL arXiv App. B): L̃(m) = ½‖m − g_t‖² and L̃(v) = ½‖v − g_t²‖²,
    each taking one gradient step of size (1 − β) from its previous value:
    m_t = m_{t−1} − (1 − β1)(m_{t−1} − g_t), v_t likewise with β2 and g_t². The memories start at
    0, so early values are biased toward 0; `bias_correction` divides by (1 − β^t). Read-out:
    W ← W − lr·m̂/(√v̂ + ε). `decoupled` (AdamW) shrinks W by (1 − lr·λ) before the step;
    otherwise λ·W joins the gradient (Adam's L2 form).
    """
    beta1, beta2 = betas
    step = int(state.get("step", 0)) + 1
    if weight_decay and not decoupled:
        grad = grad + weight_decay * param
    m = torch.lerp(_zeros(state, "exp_avg", param), grad, 1 - beta1)
    v = beta2 * _zeros(state, "exp_avg_sq", param) + (1 - beta2) * grad * grad
    bc1 = 1 - beta1**step if bias_correction else 1.0
    bc2 = 1 - beta2**step if bias_correction else 1.0
    update = -(lr / bc1) * m / (v.sqrt() / math.sqrt(bc2) + eps)
    if weight_decay and decoupled:
        update = update - lr * weight_decay * param
    return {"step": step, "exp_avg": m, "exp_avg_sq": v}, update


def delta_momentum(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.9,
    delta: float = 0.5,
    weight_decay: float = 0.0,
) -> tuple[State, torch.Tensor]:
    """Delta momentum: the momentum's memory trained with an ℓ2 (delta-rule) objective.

    With Ĝ = g_t/‖g_t‖ (as a row for vectors, the gradient matrix otherwise), the inner
    objective is L̃(b) = −⟨b, g_t⟩ + (1 − μ)/2 ‖b‖² + δ/2 ‖b Ĝ^T‖²; one step of size 1 gives
    b_t = b_{t−1}(μ I − δ Ĝ^T Ĝ) + g_t (NeurIPS Eq. 22 with P = I). The extra term erases what
    the memory holds along the current gradient's directions before writing it, so stale
    directions do not pile up. Normalising the key keeps (μ I − δ Ĝ^T Ĝ) a contraction for
    0 ≤ δ ≤ μ. Read-out W ← W − lr·b_t (decoupled weight decay λ).
    """
    b = _zeros(state, "momentum", param)
    if b.dim() >= 2:
        key = as_matrix(grad)
        key = key / (key.norm() + 1e-12)
        bm = as_matrix(b)
        erased = ((bm @ key.mT) @ key).reshape(b.shape)  # b Ĝ^T Ĝ, computed small side first
    else:
        key = grad.flatten() / (grad.norm() + 1e-12)
        erased = (b.flatten() @ key * key).reshape(b.shape)
    b = momentum * b - delta * erased + grad
    update = -lr * b
    if weight_decay:
        update = update - lr * weight_decay * param
    return {"momentum": b}, update


def preconditioned_momentum(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[State, torch.Tensor]:
    """Preconditioned momentum (NL arXiv Eq. 47): the momentum stores P_t g_t, not g_t.

    P_t = diag(1/(√v̂_t + ε)) comes from a second memory v of squared gradients (inner objective
    ½‖v − g_t²‖², step 1 − β2, bias-corrected), updated first because b's write needs its new
    value (v ≻ b ≻ W). The momentum's objective is −⟨b, P_t g_t⟩ + (1 − μ)/2 ‖b‖², so
    b_t = μ b_{t−1} + P_t g_t; read-out W ← W − lr·b_t. This is RMSProp with heavy-ball momentum.
    """
    step = int(state.get("step", 0)) + 1
    v = torch.lerp(_zeros(state, "exp_avg_sq", param), grad * grad, 1 - beta2)
    precond = 1.0 / (v.sqrt() / math.sqrt(1 - beta2**step) + eps)
    b = momentum * _zeros(state, "momentum", param) + precond * grad
    update = -lr * b
    if weight_decay:
        update = update - lr * weight_decay * param
    return {"step": step, "exp_avg_sq": v, "momentum": b}, update


def dmgd_init(hidden: int = 8, seed: int = 0, dtype=torch.float32, device=None) -> State:
    """The momentum network's initial parameters: its residual read-out W2 starts at 0, so a
    fresh DMGD is exactly heavy-ball momentum; W1 is a fixed random draw (seeded: resumable)."""
    gen = torch.Generator().manual_seed(seed)
    w1 = torch.randn(hidden, generator=gen, dtype=torch.float64).to(dtype)
    return {
        "net_w1": w1.to(device),
        "net_c1": torch.zeros(hidden, dtype=dtype, device=device),
        "net_w2": torch.zeros(hidden, dtype=dtype, device=device),
    }


def _dmgd_net(state: State, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Residual of the momentum network on per-coordinate inputs x: (output, hidden act)."""
    act = torch.tanh(x.reshape(-1, 1) * state["net_w1"] + state["net_c1"])  # (n, hidden)
    return (act @ state["net_w2"]).reshape(x.shape), act


def dmgd(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.9,
    net_lr: float = 0.1,
    net_retention: float = 1.0,
    hidden: int = 8,
    weight_decay: float = 0.0,
) -> tuple[State, torch.Tensor]:
    """Deep momentum GD (NeurIPS Eq. 23): the momentum's retention is an MLP memory.

    Heavy-ball momentum retains μ·b; DMGD retains φ_θ(b) = μ·b + s·r_θ(b/s), with s = rms(b)
    and r_θ a one-hidden-layer tanh network applied to every coordinate (shared by the tensor's
    coordinates). The network is the memory: before each write it takes one gradient step (size
    `net_lr`, retention α = `net_retention` on its parameters) on the ℓ2 objective
        L̃(θ) = ½ mean_j (μ b̂_j + r_θ(b̂_j) − ĝ_j)²,   b̂ = b_{t−1}/s, ĝ = g_t/rms(g_t),
    i.e. what it keeps of the past should predict the incoming gradient: coordinates whose
    gradient keeps its sign are retained more, those that flip are forgotten. Then
    b_t = φ_θ(b_{t−1}) + g_t and W ← W − lr·b_t. The state also carries `net_loss`, L̃ before the
    step (the check that the network trains).
    """
    net = {k: state[k] for k in ("net_w1", "net_c1", "net_w2")} if "net_w1" in state else None
    if net is None:
        net = dmgd_init(hidden, dtype=param.dtype, device=param.device)
    b = _zeros(state, "momentum", param)
    scale = b.pow(2).mean().sqrt()
    b_hat = b / (scale + 1e-12)
    g_hat = grad / (grad.pow(2).mean().sqrt() + 1e-12)
    out, act = _dmgd_net(net, b_hat)
    err = (momentum * b_hat + out - g_hat).flatten()  # (n,)
    n = err.numel()
    # analytic gradient of ½ mean(err²) through the tanh layer
    d_w2 = act.mT @ err / n
    d_pre = (err[:, None] * net["net_w2"] / n) * (1 - act * act)  # (n, hidden)
    d_w1 = d_pre.mT @ b_hat.flatten()
    d_c1 = d_pre.sum(0)
    net = {
        "net_w1": net_retention * net["net_w1"] - net_lr * d_w1,
        "net_c1": net_retention * net["net_c1"] - net_lr * d_c1,
        "net_w2": net_retention * net["net_w2"] - net_lr * d_w2,
    }
    out, _ = _dmgd_net(net, b_hat)
    b = momentum * b + scale * out + grad
    update = -lr * b
    if weight_decay:
        update = update - lr * weight_decay * param
    net_loss = 0.5 * err.pow(2).mean()
    return {"momentum": b, "net_loss": net_loss.reshape(()), **net}, update


def muon(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_steps: int = 5,
    weight_decay: float = 0.0,
    ns_dtype: torch.dtype | None = None,
) -> tuple[State, torch.Tensor]:
    """Muon (NL arXiv Eqs. 42, 52): a linear momentum memory read out through Newton–Schulz.

    The memory is a momentum of gradients with objective ½‖b − g_t‖², one step of size 1 − μ
    (the EMA b_t = μ b_{t−1} + (1 − μ) g_t; Newton–Schulz is scale-free, so this equals SGD's
    momentum read out); the read-out σ = NewtonSchulz_k orthogonalises it — the
    preconditioner minimising ‖P(g)^T P(g) − I‖² (Eq. 43). Nesterov reads lerp(g, b, μ).
    W ← (1 − lr·λ) W − lr·max(1, rows/cols)^½ · NS(read). For ≥2-D tensors only.
    """
    b = torch.lerp(_zeros(state, "momentum", param), grad, 1 - momentum)
    read = torch.lerp(grad, b, momentum) if nesterov else b
    ortho = newton_schulz(as_matrix(read), ns_steps, QUINTIC, dtype=ns_dtype).reshape(param.shape)
    update = -lr * muon_scale(param.shape) * ortho
    if weight_decay:
        update = update - lr * weight_decay * param
    return {"momentum": b}, update


def m3(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    slow_due: bool,
    beta_fast: float = 0.95,
    beta_slow: float = 0.9,
    beta2: float = 0.999,
    alpha: float = 1.0,
    eps: float = 1e-8,
    ns_steps: int = 5,
    rms: float | None = 0.2,
    weight_decay: float = 0.0,
    ns_dtype: torch.dtype | None = None,
) -> tuple[State, torch.Tensor]:
    """M3, multi-scale momentum Muon (NL arXiv §7.2, Algorithm 1): Adam + Muon + a CMS of two
    momentum levels. For ≥2-D tensors only.

    Memories: the fast momentum M1 (objective as SGD momentum, b ← β_fast·b + g, every step);
    the second moment V (Adam's ½‖v − g²‖², step 1 − β2, bias-corrected, every step); the slow
    momentum M2, written once per chunk of f steps from the chunk's summed gradients
    (M2 ← β_slow·M2 + Σ_chunk g, when `slow_due` — the caller's clock says a chunk ends), whose
    orthogonalised read-out O2 = NS(M2) is computed once per chunk and held. The update is
        U = (NS(M1) + α·O2) / (√V̂ + ε),   W ← (1 − lr·λ) W − lr·U.
    nlc's choices where the paper leaves them open: the memories decay (EMA-style) instead of
    summing forever, and with `rms` set U is rescaled to that RMS (AdamW's typical update RMS is
    ≈ 0.2), so M3 takes AdamW's learning rates; `rms=None` keeps U as printed. The slow write
    happens after the step (faster states first at a shared boundary), so O2 from the chunk
    just ended is used by the next f steps, as in Algorithm 1.
    """
    step = int(state.get("step", 0)) + 1
    m1 = beta_fast * _zeros(state, "fast", param) + grad
    v = torch.lerp(_zeros(state, "exp_avg_sq", param), grad * grad, 1 - beta2)
    chunk = _zeros(state, "chunk_grad", param) + grad
    m2 = _zeros(state, "slow", param)
    o2 = _zeros(state, "slow_out", param)
    o1 = newton_schulz(as_matrix(m1), ns_steps, QUINTIC, dtype=ns_dtype).reshape(param.shape)
    u = (o1 + alpha * o2) / (v.sqrt() / math.sqrt(1 - beta2**step) + eps)
    if rms is not None:
        u = u * (rms / (u.pow(2).mean().sqrt() + 1e-12))
    update = -lr * u
    if weight_decay:
        update = update - lr * weight_decay * param
    if slow_due:
        m2 = beta_slow * m2 + chunk
        o2 = newton_schulz(as_matrix(m2), ns_steps, QUINTIC, dtype=ns_dtype).reshape(param.shape)
        chunk = torch.zeros_like(chunk)
    new = {"step": step, "fast": m1, "exp_avg_sq": v, "chunk_grad": chunk, "slow": m2}
    new["slow_out"] = o2
    return new, update


def dgd(
    state: State,
    param: torch.Tensor,
    grad: torch.Tensor,
    *,
    lr: float,
    inputs: torch.Tensor | None = None,
    delta: float | None = None,
    weight_decay: float = 0.0,
) -> tuple[State, torch.Tensor]:
    """Delta gradient descent for a matrix weight W (out, in) of y = W x (NL arXiv Eqs. 56–57).

    Inner objective of the layer: ½‖W x − u‖² + 1/(2η)‖W − W_t‖² with u the layer's target,
    instead of backprop's dot-product ⟨W x, δ⟩. Its step is W ← W(I − η' x̂ x̂^T) − η ∇W: plain
    GD plus a forgetting term along the inputs just seen. `inputs` is C = mean x̂ x̂^T over the
    batch's unit-norm inputs (in, in), collected by `DGD.track`; η' = `delta`, by default
    lr/(1 + lr) (Sherman–Morrison with ‖x̂‖ = 1). Without inputs (not a tracked linear weight)
    the rule is plain SGD.
    """
    update = -lr * grad
    if inputs is not None and param.dim() == 2:
        eta = lr / (1 + lr) if delta is None else delta
        update = update - eta * (param @ inputs)
    if weight_decay:
        update = update - lr * weight_decay * param
    return {}, update
