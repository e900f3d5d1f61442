"""`clip` (spec `optimizer.clip`): each chunk's change of a memory's weight matrix is scaled down
to the given Frobenius norm at the chunk's boundary; the chunked and per-token paths agree."""

import pytest
import torch
from nlc_runtime.delta import clip_change
from nlc_runtime.selfmod import SelfModifyingTitans
from nlc_runtime.titans import NeuralMemory

from tests.runtime.test_memory_parity import check, fresh, run_both


def test_clip_change_bounds_each_matrix_and_keeps_small_changes():
    W0 = torch.randn(2, 3, 4, 5)
    change = torch.randn(2, 3, 4, 5)
    change[0, 0] *= 1e-3  # one small change: left as it is
    W = clip_change(W0, W0 + change, 0.5)
    norms = torch.linalg.matrix_norm(W - W0)
    assert (norms <= 0.5 + 1e-6).all()
    assert torch.allclose(W[0, 0], W0[0, 0] + change[0, 0])
    big = torch.linalg.matrix_norm(change) > 0.5  # clipped ones keep their direction
    assert torch.allclose(norms[big], torch.full_like(norms[big], 0.5))
    cos = torch.nn.functional.cosine_similarity((W - W0)[big].flatten(1), change[big].flatten(1))
    assert torch.allclose(cos, torch.ones_like(cos))
    assert torch.equal(clip_change(W0, W0 + change, None), W0 + change)  # None: no clipping


@pytest.mark.usefixtures("f64")
@pytest.mark.parametrize("kind", ["titans", "selfmod"])
@pytest.mark.parametrize("chunk,T", [(1, 5), (4, 11)])
def test_chunked_equals_per_token_with_clipping(kind, chunk, T):
    x = torch.randn(2, T, 8, requires_grad=True)
    outputs = {}
    for clip in (None, 0.05):
        torch.manual_seed(0)
        if kind == "titans":
            m = NeuralMemory(8, n_heads=2, chunk=chunk, lr_max=0.5, delta="first", clip=clip)
        else:
            m = SelfModifyingTitans(
                8, n_heads=2, chunk_mem=chunk, chunk_other=chunk, momentum=0.9, clip=clip
            )
        res = run_both(m, x, fresh)
        check(res)
        outputs[clip] = res["chunked"][0]
    # the bound is active here: clipping changed what the memory learned
    assert (outputs[0.05][0] - outputs[None][0]).abs().max() > 1e-6
    state = outputs[0.05][1]
    first = state["W0"] if kind == "titans" else state["mem"]["W0"]
    assert torch.isfinite(first).all()
