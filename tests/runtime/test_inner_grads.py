"""Closed-form inner gradients (mlp.py, norms.py) equal torch.func.grad of the inner loss."""

import pytest
import torch
from nlc_runtime.layers.norms import rms_norm, rms_norm_input_grad
from nlc_runtime.memories.mlp import MemorySpec, act_fwd, act_grad, l2_loss_grad, mlp_forward
from nlc_runtime.testing import assert_rel_close
from torch.func import grad

pytestmark = pytest.mark.usefixtures("f64")

SPECS = [
    MemorySpec(dims=(6, 5)),  # matrix memory
    MemorySpec(dims=(6, 12, 6)),
    MemorySpec(dims=(6, 12, 6), residual=True),  # self-modifying Titans memory (Eq. 89)
    MemorySpec(dims=(6, 8, 7, 5), act="gelu"),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.dims}-{s.residual}-{s.act}")
@pytest.mark.parametrize("weighted", [False, True])
def test_l2_loss_grad_matches_func_grad(spec, weighted):
    torch.manual_seed(0)
    B, H, n = 2, 3, 5
    Ws = [torch.randn(B, H, a, b) / a**0.5 for a, b in spec.shapes()]
    k = torch.randn(B, H, n, spec.dims[0])
    v = torch.randn(B, H, n, spec.dims[-1])
    w = torch.rand(B, H, n) if weighted else None

    def loss(Ws):
        out, _ = mlp_forward(spec, Ws, k)
        per_tok = 0.5 * ((out - v) ** 2).sum(-1)
        return (per_tok * (w if w is not None else 1.0)).sum()

    ref = grad(loss)(Ws)
    got = l2_loss_grad(spec, Ws, k, v, w)
    assert_rel_close(got, ref, 1e-12, "dW")


@pytest.mark.parametrize("act", ["silu", "gelu"])
def test_activation_derivative(act):
    z = torch.linspace(-6, 6, 101)
    ref = torch.vmap(grad(lambda s: act_fwd(s, act)))(z)
    assert_rel_close(act_grad(z, act), ref, 1e-12)


def test_rms_norm_input_grad():
    torch.manual_seed(1)
    x, w, dy = torch.randn(4, 7), torch.randn(7), torch.randn(4, 7)
    ref = grad(lambda x: (rms_norm(x, w) * dy).sum())(x)
    assert_rel_close(rms_norm_input_grad(x, w, dy), ref, 1e-12)
