"""The chunk closed form of the momentum / decay / DGD update equals the per-token rule, and a
Titans memory with linear memory, no momentum and the delta rule is the (gated) delta rule
computed independently here (Titans App. C)."""

import itertools

import pytest
import torch
from nlc_runtime.memories.delta import (
    NEUMANN_MAX,
    chunk_rates,
    chunk_update,
    step_update,
    unbind_rates,
    unit_lower_solve,
)
from nlc_runtime.memories.mlp import MemorySpec, l2_loss_pairs, mlp_forward, self_target_pairs
from nlc_runtime.memories.titans import memory_write
from nlc_runtime.testing import assert_rel_close

pytestmark = pytest.mark.usefixtures("f64")


@pytest.mark.parametrize("c", [9, 24])  # the Neumann solve, the triangular solver (> 16)
@pytest.mark.parametrize("momentum,decay,delta", list(itertools.product([False, True], repeat=3)))
def test_chunk_update_equals_steps(momentum, decay, delta, c):
    torch.manual_seed(0)
    B, H, di, do = 2, 3, 5, 4
    W0, S0 = torch.randn(B, H, di, do), torch.randn(B, H, di, do)
    Hm = torch.nn.functional.normalize(torch.randn(B, H, c, di), dim=-1)
    Gm = torch.randn(B, H, c, do)
    lr, a, mu = torch.rand(B, H, c), 0.5 + 0.5 * torch.rand(B, H, c), torch.rand(B, H, c)
    a = a if decay else None
    mu = mu if momentum else None
    S0 = S0 if momentum else None
    W, S = W0, S0
    for t in range(c):
        at = None if a is None else a[:, :, t]
        mt = None if mu is None else mu[:, :, t]
        W, S = step_update(W, S, Hm[:, :, t], Gm[:, :, t], lr[:, :, t], at, mt, delta)
    Wc, Sc = chunk_update(W0, S0, Hm, Gm, lr, a, mu, delta)
    assert_rel_close(Wc, W, 1e-12, "W")
    if momentum:
        assert_rel_close(Sc, S, 1e-12, "S")


def test_zero_gates_give_no_nan():
    """mu = 0 and a = 0 exactly (log = -inf) must give exact zeros, not NaN."""
    B, H, c, d = 1, 1, 4, 3
    W0, S0 = torch.randn(B, H, d, d), torch.randn(B, H, d, d)
    Hm, Gm = torch.randn(B, H, c, d), torch.randn(B, H, c, d)
    z = torch.zeros(B, H, c)
    W, S = chunk_update(W0, S0, Hm, Gm, torch.ones(B, H, c), z, z, True)
    assert torch.isfinite(W).all() and torch.isfinite(S).all()
    # a = 0 forgets everything but the last token: W = h_c u_c^T - lr h_c g_c^T, u_c = -h_c^T W_{c-1}
    Wr, Sr = W0, S0
    for t in range(c):
        Wr, Sr = step_update(Wr, Sr, Hm[:, :, t], Gm[:, :, t], torch.ones(B, H), z[:, :, t],
                             z[:, :, t], True)  # fmt: skip
    assert_rel_close(W, Wr, 1e-12)


def gated_delta_rule(k, v, beta, a, M0):
    """Independent recurrence, column layout: M_t = M_{t-1}(a_t I - beta_t k k^T) + beta_t v k^T.
    k: (B, H, T, dk), v: (B, H, T, dv), M0: (B, H, dv, dk). Returns reads M_{t-1} q... (here
    we return all states)."""
    M = M0
    dk = k.shape[-1]
    eye = torch.eye(dk)
    states = []
    for t in range(k.shape[2]):
        kt, vt = k[:, :, t], v[:, :, t]
        b, at = beta[:, :, t, None, None], a[:, :, t, None, None]
        M = (
            M @ (at * eye - b * kt[..., :, None] * kt[..., None, :])
            + b * vt[..., :, None] * kt[..., None, :]
        )
        states.append(M)
    return states


def lmm(spec, q, k, v, lr, decay, state, chunk, delta_layers=(False,)):
    """The matrix memory through a sequence: reads at the visible weights, the running copy
    advanced by `memory_write` over each chunk, visible at the chunk's end."""
    W = state["W0"]
    ys = []
    for s in range(0, q.shape[2], chunk):
        e = min(s + chunk, q.shape[2])
        ys.append(q[:, :, s:e] @ W)
        gate = None if decay is None else decay[:, :, s:e]
        (W,), _ = memory_write(spec, [W], [W], None, k[:, :, s:e], v[:, :, s:e], lr[:, :, s:e],
                               gate, None, delta_layers)  # fmt: skip
    return torch.cat(ys, 2), {"W0": W}


@pytest.mark.parametrize("gated", [False, True])
def test_titans_linear_memory_is_gated_delta_rule(gated):
    """Titans App. C: linear memory, eta = 0, per-token updates => (gated) DeltaNet."""
    torch.manual_seed(0)
    B, H, T, dk, dv = 2, 2, 10, 4, 3
    spec = MemorySpec(dims=(dk, dv))
    k = torch.nn.functional.normalize(torch.randn(B, H, T, dk), dim=-1)
    q = torch.nn.functional.normalize(torch.randn(B, H, T, dk), dim=-1)
    v = torch.randn(B, H, T, dv)
    beta = torch.rand(B, H, T)
    a = (0.8 + 0.2 * torch.rand(B, H, T)) if gated else torch.ones(B, H, T)
    M0 = torch.randn(B, H, dv, dk)
    # our row layout stores W = M^T (d_in x d_out)
    state = {"W0": M0.transpose(-1, -2)}
    y, st = lmm(spec, q, k, v, beta, a if gated else None, state, chunk=1)
    states = gated_delta_rule(k, v, beta, a, M0)
    prev = [M0] + states[:-1]
    y_ref = torch.stack([(prev[t] @ q[:, :, t, :, None])[..., 0] for t in range(T)], 2)
    assert_rel_close(y, y_ref, 1e-12, "reads")
    assert_rel_close(st["W0"], states[-1].transpose(-1, -2), 1e-12, "final state")
    if not gated:  # DeltaNet: S_t = S_{t-1} + beta (v - S_{t-1} k) k^T
        S = M0
        for t in range(T):
            kt, vt, b = k[:, :, t], v[:, :, t], beta[:, :, t, None, None]
            S = S + b * (vt - (S @ kt[..., None])[..., 0])[..., :, None] * kt[..., None, :]
        assert_rel_close(st["W0"], S.transpose(-1, -2), 1e-12, "DeltaNet")


def test_dgd_matrix_memory_matches_hope_eq93():
    """Matrix memory with the DGD term and chunk size c: HOPE Eq. 93,
    M_t = M_{t-1}(a_t I - eta_t k k^T) - eta_t (M_0 k_t - v_t) k_t^T, M_0 = chunk-start state."""
    torch.manual_seed(1)
    B, H, T, d, c = 1, 2, 12, 4, 4
    spec = MemorySpec(dims=(d, d))
    k = torch.nn.functional.normalize(torch.randn(B, H, T, d), dim=-1)
    v, eta, a = torch.randn(B, H, T, d), 0.5 * torch.rand(B, H, T), 0.9 + 0.1 * torch.rand(B, H, T)
    M = torch.randn(B, H, d, d)
    y, st = lmm(spec, k, k, v, eta, a, {"W0": M.transpose(-1, -2)}, c, delta_layers=(True,))
    eye = torch.eye(d)
    for s in range(0, T, c):
        M0, Mr = M, M
        for t in range(s, s + c):
            kt, e, at = k[:, :, t], eta[:, :, t, None, None], a[:, :, t, None, None]
            err = (M0 @ kt[..., None])[..., 0] - v[:, :, t]
            Mr = (
                Mr @ (at * eye - e * kt[..., :, None] * kt[..., None, :])
                - e * err[..., :, None] * kt[..., None, :]
            )
        M = Mr
    assert_rel_close(st["W0"], M.transpose(-1, -2), 1e-12)


@pytest.mark.parametrize("c", [1, 2, 3, 4, 5, 8, 13, NEUMANN_MAX, NEUMANN_MAX + 1, 33])
def test_unit_lower_solve(c):
    """(I + N) X = R for strictly lower N: the Neumann factors (c <= 16) and the solver."""
    torch.manual_seed(c)
    N = torch.randn(3, c, c).tril(-1) * 0.7
    R = torch.randn(3, c, 5)
    X = unit_lower_solve(N, R)
    assert_rel_close((torch.eye(c) + N) @ X, R, 1e-12)
    Xt = unit_lower_solve(N, R, transpose=True)
    assert_rel_close((torch.eye(c) + N).mT @ Xt, R, 1e-12)


@pytest.mark.parametrize("c", [1, 4, 9, 24])  # one token, Neumann, the triangular solver
@pytest.mark.parametrize("given_product", [False, True])
def test_delta_chunk_gradients_equal_the_per_token_steps(c, given_product):
    """The delta rule's chunk update without momentum (its backward written out,
    `_DeltaChunk`): the gradients of every input equal those of the per-token steps, with M
    memories stacked on W0 and G that share the inputs and rates (broadcast, as HOPE's
    projection memories), and with the forward's product H @ W0 passed in."""
    torch.manual_seed(c)
    M, B, H, di, do = 3, 2, 2, 5, 4
    W0 = torch.randn(M, B, H, di, do, requires_grad=True)
    Hm = torch.nn.functional.normalize(torch.randn(B, H, c, di), dim=-1).requires_grad_()
    Gm = torch.randn(M, B, H, c, do, requires_grad=True)
    lr = (0.5 * torch.rand(B, H, c)).requires_grad_()
    a = (0.5 + 0.5 * torch.rand(B, H, c)).requires_grad_()
    weights = torch.randn(M, B, H, di, do)  # a loss that weighs every entry differently
    inputs = (W0, Hm, Gm, lr, a)

    W = W0
    for t in range(c):
        W = step_update(W, None, Hm[..., t, :], Gm[..., t, :], lr[..., t], a[..., t], None, True)[0]
    ref = torch.autograd.grad((W * weights).sum(), inputs)
    HW0 = Hm @ W0 if given_product else None
    Wc = chunk_update(W0, None, Hm, Gm, lr, a, None, True, HW0=HW0)[0]
    assert Wc.grad_fn.name() == "_DeltaChunkBackward"  # the written-out backward ran
    got = torch.autograd.grad((Wc * weights).sum(), inputs)
    assert_rel_close(Wc, W, 1e-12, "W")
    for name, g, r in zip(("W0", "H", "G", "lr", "a"), got, ref, strict=True):
        assert g.shape == r.shape, name
        assert_rel_close(g, r, 1e-10, name)


@pytest.mark.parametrize("momentum", [False, True])
def test_rates_of_many_chunks_at_once(momentum):
    """chunk_rates over (..., m, c) then unbind_rates: each chunk's own chunk_rates."""
    torch.manual_seed(1)
    m, c = 3, 5
    lr, a, mu = torch.rand(2, 2, m, c), torch.rand(2, 2, m, c), torch.rand(2, 2, m, c)
    mu = mu if momentum else None
    together = unbind_rates(chunk_rates(lr, a, mu, True), 2)
    for j, rates in enumerate(together):
        alone = chunk_rates(lr[:, :, j], a[:, :, j], None if mu is None else mu[:, :, j], True)
        for x, y in zip(rates, alone, strict=True):
            if isinstance(x, tuple):
                for u, v in zip(x, y, strict=True):
                    assert (u is None) == (v is None)
                    if u is not None:
                        assert_rel_close(u, v, 1e-14)
            elif x is not None:
                assert_rel_close(x, y, 1e-14)


def test_self_target_pairs_are_l2_pairs_with_the_memory_values():
    """One forward over [k; v]: the pairs of 1/2||M(k) - M(v)||^2 with M(v) held fixed."""
    torch.manual_seed(2)
    spec = MemorySpec(dims=(4, 6, 4), residual=True)
    Ws = [torch.randn(5, 2, 3, 4, 6), torch.randn(5, 2, 3, 6, 4)]
    k, v = torch.randn(2, 3, 7, 4), torch.randn(2, 3, 7, 4)
    want = l2_loss_pairs(spec, Ws, k, mlp_forward(spec, Ws, v)[0])
    got = self_target_pairs(spec, Ws, k, v)
    for (h1, g1), (h2, g2) in zip(got, want, strict=True):
        assert_rel_close(h1, h2, 1e-13)
        assert_rel_close(g1, g2, 1e-13)
