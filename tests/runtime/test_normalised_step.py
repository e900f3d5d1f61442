"""The normalised inner step (`normalize=True`): lr / max(1, ||h||^2) per memory layer.

It is the plain step on unit-norm inputs, keeps a memory whose hidden activations have grown
finite where the plain step diverges (the NaN specs/hope.yaml hit at step 96 of a 300-step run),
and the chunked and per-token paths agree with it."""

import pytest
import torch
from nlc_runtime.delta import normalised_lr
from nlc_runtime.selfmod import SelfModifyingTitans
from nlc_runtime.titans import NeuralMemory

from tests.runtime.test_memory_parity import check, fresh, run_both


def _grown(module, scale: float):
    """Scale the meta-learned initial memories, as outer training does to HOPE's."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("init"):
                p.mul_(scale)
    return module


def test_normalised_lr_is_plain_on_unit_inputs_and_scaled_above():
    lr = torch.full((2, 3), 0.5)
    unit = torch.nn.functional.normalize(torch.randn(2, 3, 8), dim=-1)
    assert torch.allclose(normalised_lr(lr, unit), lr)
    small = 0.1 * unit  # below unit norm: the plain step too
    assert torch.equal(normalised_lr(lr, small), lr)
    assert torch.allclose(normalised_lr(lr, 3 * unit), lr / 9)


def test_normalised_step_keeps_a_grown_memory_finite():
    x = torch.randn(1, 256, 16, generator=torch.Generator().manual_seed(0))
    states = {}
    for normalize in (False, True):
        torch.manual_seed(0)
        m = SelfModifyingTitans(
            16, n_heads=2, expansion=2, chunk_mem=16, chunk_other=4, lr_max=0.02,
            normalize=normalize,
        )  # fmt: skip
        with torch.no_grad():
            y, st = _grown(m, 8.0)(x)
        states[normalize] = (y, st)
    y, _ = states[False]
    assert not torch.isfinite(y).all()  # the plain step diverges here (the control)
    y, st = states[True]
    assert torch.isfinite(y).all()
    assert max(w.abs().max() for mem in st.values() for w in mem.values()) < 1.0


@pytest.mark.usefixtures("f64")
@pytest.mark.parametrize("kind", ["titans", "selfmod"])
@pytest.mark.parametrize("chunk,T", [(1, 5), (4, 11)])
def test_chunked_equals_per_token_with_the_normalised_step(kind, chunk, T):
    x = torch.randn(2, T, 8, requires_grad=True)
    outputs = {}
    for normalize in (False, True):
        torch.manual_seed(0)
        if kind == "titans":
            m = NeuralMemory(
                8, n_heads=2, chunk=chunk, lr_max=0.5, delta="all", normalize=normalize
            )
        else:
            m = SelfModifyingTitans(
                8, n_heads=2, chunk_mem=chunk, chunk_other=chunk, normalize=normalize
            )
        res = run_both(_grown(m, 3.0), x, fresh)
        check(res)
        outputs[normalize] = res["chunked"][0][0]
    # the grown hidden inputs exceed unit norm, so the normalised step is really exercised
    assert (outputs[True] - outputs[False]).abs().max() > 1e-6
