"""Linear attention = a matrix memory trained by gd with lr 1 on the dot-product objective
-<M k, v> (NL §2.1). The runtime layer (per-token and chunk-parallel paths) against linear
attention written out in its parallel form, float64:

    o_t = q_t M_0 + sum_{s < start(t)} (q_t . k_s) v_s

with start(t) the first token of t's chunk (read before write; period 1: all s < t)."""

import pytest
import torch
from nlc_runtime.exec.stream import run
from nlc_runtime.memories.linear_attention import LinearAttention

pytestmark = pytest.mark.usefixtures("f64")


def written_out(q, k, v, M0, chunk):
    """(B, H, T, D) inputs, M0 (B, H, D, D) -> (B, H, T, D), with no recurrence at all."""
    T = q.shape[2]
    scores = q @ k.transpose(-1, -2)  # (B, H, T, T): q_t . k_s
    t = torch.arange(T)
    visible = (t[None, :] < (t[:, None] // chunk) * chunk).to(q.dtype)  # s < start(t)
    return q @ M0 + (scores * visible) @ v


@pytest.mark.parametrize("impl", ["naive", "chunked"])
@pytest.mark.parametrize("chunk,T", [(1, 9), (4, 11), (16, 7)])
def test_layer_is_linear_attention(impl, chunk, T):
    torch.manual_seed(0)
    m = LinearAttention(8, n_heads=2, chunk=chunk, impl=impl)
    x = torch.randn(2, T, 8)
    q, k, v, lr, decay, mom, _ = m.project(x)
    assert decay is None and mom is None and torch.all(lr == 1.0)
    state = m.init_state(2)
    y, new = run(m, x)
    ref = m.output(written_out(q, k, v, state["W0"], chunk), x)
    assert (y - ref).abs().max().item() < 1e-12
    # the final state holds every write (the last partial chunk flushed): M_0 + sum_s k_s v_s^T
    full = state["W0"] + k.transpose(-1, -2) @ v
    assert (new["W0"] - full).abs().max().item() < 1e-12


def test_outer_gradients_match_the_written_out_form():
    torch.manual_seed(1)
    m = LinearAttention(8, n_heads=2, chunk=3)
    x = torch.randn(2, 10, 8, requires_grad=True)
    y, _ = run(m, x)
    q, k, v, *_ = m.project(x)
    ref = written_out(q, k, v, m.init_state(2)["W0"], 3)
    ref = m.output(ref, x)
    R = torch.randn(y.shape)
    params = [x, *m.parameters()]
    g1 = torch.autograd.grad((y * R).sum(), params)
    g2 = torch.autograd.grad((ref * R).sum(), params)
    for a, b in zip(g1, g2, strict=True):
        assert (a - b).abs().max().item() < 1e-12
