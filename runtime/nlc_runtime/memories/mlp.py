"""The memory MLP of Titans / HOPE as a pure function of explicit weights, with its closed-form
backward.

A test-time memory is an MLP whose weights are *state*: one weight set per (batch, head),
updated in context. The inner loss is L2 regression (Titans Eq. 12, HOPE Eq. 93)

    l(M; k, v) = 1/2 ||M(k) - v||^2

(we use the 1/2 so that grad_M(k) l = M(k) - v; Titans' ||.||^2 is the same with the inner
learning rate doubled). Its gradient is written in closed form here -- the analytic backward of
the MLP -- because torch.autograd.grad inside a forward breaks torch.compile graphs and does
not support the double backward the outer (meta-)gradient needs. Tests check it against
torch.func.grad.

Layout (row vectors, as in nn.Linear without transposes): weights W_l of shape
(B, H, d_{l-1}, d_l); tokens (B, H, n, d). Layer l computes z_l = h_{l-1} @ W_l and
h_l = act(z_l) for all but the last layer. A `residual` memory adds its input to the output:
M(x) = x + MLP(x) -- the 2-layer residual memory of self-modifying Titans (Eq. 89) is
`MemorySpec(dims=(D, E, D), residual=True)`. Depth 1 (dims=(D_in, D_out)) is the matrix memory.

The gradient of a weighted sum of token losses, sum_t w_t l_t, w.r.t. W_l is
h_{l-1}^T diag(w) g_l with g_l = dl_t/dz_l: every in-context update below only needs the
per-layer pairs (h_{l-1}, g_l), which `mlp_backward` returns.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from nlc_runtime.memories.products import mm


@dataclass(frozen=True)
class MemorySpec:
    """Shape of a memory MLP: dims = (d_in, hidden..., d_out); depth = len(dims) - 1."""

    dims: tuple[int, ...]
    residual: bool = False
    act: str = "silu"  # "silu" or "gelu" (exact, as nn.GELU and the Transformer MLP); hidden only

    def __post_init__(self):
        assert len(self.dims) >= 2, "a memory needs at least one layer"
        assert not self.residual or self.dims[0] == self.dims[-1], "residual needs d_in == d_out"
        assert self.act in ("silu", "gelu")

    @property
    def depth(self) -> int:
        return len(self.dims) - 1

    def shapes(self) -> list[tuple[int, int]]:
        return [(self.dims[i], self.dims[i + 1]) for i in range(self.depth)]


def act_fwd(z: torch.Tensor, act: str) -> torch.Tensor:
    return F.silu(z) if act == "silu" else F.gelu(z)


def act_grad(z: torch.Tensor, act: str) -> torch.Tensor:
    """d act(z) / dz, elementwise, in closed form."""
    if act == "silu":
        s = torch.sigmoid(z)
        return s * (1 + z * (1 - s))
    # exact gelu: x Phi(x), so d/dx = Phi(x) + x phi(x) (standard normal cdf and pdf)
    cdf = 0.5 * (1.0 + torch.erf(z * 0.7071067811865476))
    pdf = torch.exp(-0.5 * z * z) * 0.3989422804014327
    return cdf + z * pdf


def mlp_forward(
    spec: MemorySpec, Ws: list[torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """M(x) for per-(batch, head) weights. x: (B, H, n, d_in) -> (B, H, n, d_out).

    Returns the output and the cache [h_0, z_1, h_1, ..., z_L] for `mlp_backward`.
    """
    cache = [x]
    h = x
    for i, W in enumerate(Ws):
        z = mm(h, W)  # (B, H, n, d_i)
        cache.append(z)
        h = act_fwd(z, spec.act) if i < len(Ws) - 1 else z
        if i < len(Ws) - 1:
            cache.append(h)
    out = h + x if spec.residual else h
    return out, cache


def mlp_backward(
    spec: MemorySpec,
    Ws: list[torch.Tensor],
    cache: list[torch.Tensor],
    g_out: torch.Tensor,
    need_dx: bool = True,
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
    """Closed-form backward of `mlp_forward` given g_out = dl/d(output), per token.

    Returns ([(h_{l-1}, g_l) for each layer l], dl/dx), dl/dx None without `need_dx`: a
    memory learning its weights needs the pairs only, and dl/dx costs a product with the first
    layer (11% of HOPE's FLOPs, forward and backward, were that unused product). The per-token
    gradient of layer l is h_{l-1}^T g_l; summed with weights w it is h_{l-1}^T diag(w) g_l.
    """
    L = len(Ws)
    pairs: list[tuple[torch.Tensor, torch.Tensor]] = [None] * L  # type: ignore[list-item]
    g = g_out  # dl/dz_L
    for i in range(L - 1, -1, -1):
        h_in = cache[2 * i]  # h_{i} in 0-based: input of layer i
        pairs[i] = (h_in, g)
        if i == 0 and not need_dx:
            return pairs, None
        g = mm(g, W_t(Ws[i]))  # dl/dh_in
        if i > 0:
            g = g * act_grad(cache[2 * i - 1], spec.act)  # through act(z_{i}) of previous layer
    dx = g + g_out if spec.residual else g
    return pairs, dx


def W_t(W: torch.Tensor) -> torch.Tensor:
    return W.transpose(-1, -2)


def _products(cache: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each layer's product z_l = h_{l-1} @ W_l from a forward's cache [h_0, z_1, h_1, ...]."""
    return cache[1::2]


def l2_loss_pairs(
    spec: MemorySpec,
    Ws: list[torch.Tensor],
    k: torch.Tensor,
    v: torch.Tensor,
    products: bool = False,
):
    """Per-layer (h_{l-1}, g_l) of the per-token loss 1/2||M(k_t) - v_t||^2 (v a fixed target).
    `products`: also each layer's h_{l-1} @ W_l, returned as (pairs, products): the delta
    rule's correction reads it, and the forward has it already (`delta.chunk_update`'s HW0)."""
    out, cache = mlp_forward(spec, Ws, k)
    pairs, _ = mlp_backward(spec, Ws, cache, out - v, need_dx=False)
    return (pairs, _products(cache)) if products else pairs


def self_target_pairs(
    spec: MemorySpec,
    Ws: list[torch.Tensor],
    k: torch.Tensor,
    v: torch.Tensor,
    products: bool = False,
):
    """`l2_loss_pairs` with the memory's own values as targets: the per-token loss
    1/2||M(k_t) - M(v_t)||^2 with M(v_t) fixed (self-modifying Titans' self-generated values).
    Both reads share the weights, so they run as one forward over the 2n tokens [k; v]."""
    n = k.shape[-2]
    out, cache = mlp_forward(spec, Ws, torch.cat([k, v], -2))
    first = [z.narrow(-2, 0, n) for z in cache]  # the k half of every cached activation
    g_out = out.narrow(-2, 0, n) - out.narrow(-2, n, n)
    pairs, _ = mlp_backward(spec, Ws, first, g_out, need_dx=False)
    return (pairs, _products(first)) if products else pairs


def dot_loss_pairs(
    spec: MemorySpec,
    Ws: list[torch.Tensor],
    k: torch.Tensor,
    v: torch.Tensor,
    products: bool = False,
):
    """Per-layer (h_{l-1}, g_l) of the per-token loss -<M(k_t), v_t>, the dot-product objective
    of NL §2.1 (dl/d(output) = -v, whatever M(k) is). A gd step of size lr on it adds
    lr * k v^T to a matrix memory: linear attention's write."""
    _, cache = mlp_forward(spec, Ws, k)
    pairs, _ = mlp_backward(spec, Ws, cache, -v, need_dx=False)
    return (pairs, _products(cache)) if products else pairs


LOSS_PAIRS = {"l2": l2_loss_pairs, "dot": dot_loss_pairs}
"""Inner objectives by the name a spec gives them (`update.objective`)."""


def l2_loss_grad(
    spec: MemorySpec,
    Ws: list[torch.Tensor],
    k: torch.Tensor,
    v: torch.Tensor,
    w: torch.Tensor | None = None,
) -> list[torch.Tensor]:
    """Closed-form grad of sum_t w_t * 1/2||M(k_t) - v_t||^2 w.r.t. each W_l.

    k: (B, H, n, d_in), v: (B, H, n, d_out), w: (B, H, n) or None (all ones).
    Returns one (B, H, d_{l-1}, d_l) tensor per layer.
    """
    grads = []
    for h, g in l2_loss_pairs(spec, Ws, k, v):
        if w is not None:
            g = g * w.unsqueeze(-1)
        grads.append(W_t(h) @ g)
    return grads


def init_memory_weights(
    spec: MemorySpec, n_heads: int, std: float | None = None, zero_last: bool = False
) -> list[torch.Tensor]:
    """Initial values for a memory's meta-learned initial state, one (H, d_in, d_out) per layer."""
    Ws = []
    for i, (a, b) in enumerate(spec.shapes()):
        s = std if std is not None else a**-0.5
        W = torch.randn(n_heads, a, b) * s
        if zero_last and i == spec.depth - 1:
            W = W * 0.1
        Ws.append(W)
    return Ws
