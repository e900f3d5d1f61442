"""Options of a memory's inner step, each honoured by the chunked and the per-token paths alike:

- `normalize=True` (spec `optimizer.normalize`): lr / max(1, ||h||^2) per memory layer. The
  plain step on unit-norm inputs; it keeps a memory whose hidden activations have grown finite
  where the plain step diverges (the NaN specs/hope.yaml hit at step 96 of a 300-step run).
- `clip=c` (spec `optimizer.clip`): each chunk's change of a weight matrix is scaled down to
  Frobenius norm c at the chunk's boundary."""

import pytest
import torch
from nlc_runtime.exec.stream import run
from nlc_runtime.memories.delta import clip_change, normalised_lr
from nlc_runtime.memories.selfmod import SelfModifyingTitans
from nlc_runtime.memories.titans import NeuralMemory

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
            y, st = run(_grown(m, 8.0), x)
        states[normalize] = (y, st)
    y, _ = states[False]
    assert not torch.isfinite(y).all()  # the plain step diverges here (the control)
    y, st = states[True]
    assert torch.isfinite(y).all()
    assert (
        max(st[g][key].abs().max() for g in ("projections", "memory") for key in ("W0", "W1")) < 1.0
    )


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


def test_clip_change_gradients_are_the_expression_differentiated():
    """The written-out backward equals autograd through W0 + change * min(1, clip/||change||),
    in float64, for clipped, unclipped and unchanged matrices (the last: a finite gradient)."""
    W0 = torch.randn(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    step = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    step[0, 0] *= 1e-3  # within the bound
    step[1, 2] = 0.0  # no change at all
    W = (W0.detach() + step).requires_grad_()
    probe = torch.randn_like(step)
    got = torch.autograd.grad((clip_change(W0, W, 0.5) * probe).sum(), (W0, W))

    change = W - W0
    norm = torch.linalg.matrix_norm(change).clamp_min(1e-300)[..., None, None]
    expr = W0 + change * torch.where(norm > 0.5, 0.5 / norm, 1.0)
    want = torch.autograd.grad((expr * probe).sum(), (W0, W))
    for g, w in zip(got, want, strict=True):
        assert torch.isfinite(g).all()
        assert torch.allclose(g, w, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda a, b: clip_change(a, b, 0.5), (W0, W))


def test_clip_change_of_no_change_has_a_finite_gradient():
    """A memory that did not move is clipped without NaN in its gradient."""
    W0 = torch.randn(2, 3, 4, requires_grad=True)
    W = clip_change(W0, W0 * 1.0, 0.1)
    (grad,) = torch.autograd.grad(W.sum(), W0)
    assert torch.equal(W, W0) and torch.isfinite(grad).all()


def _memory(kind: str, chunk: int, **options):
    if kind == "titans":
        return NeuralMemory(8, n_heads=2, chunk=chunk, lr_max=0.5, delta="all", **options)
    # "selfmod": with momentum; "selfmod-hope": without, as the HOPE presets (where `clip` is
    # computed in closed form inside the chunk update)
    momentum = 0.9 if kind == "selfmod" else None
    return SelfModifyingTitans(
        8, n_heads=2, chunk_mem=chunk, chunk_other=chunk, momentum=momentum, **options
    )


@pytest.mark.usefixtures("f64")
@pytest.mark.parametrize("option,value", [("normalize", True), ("clip", 0.05)])
@pytest.mark.parametrize("kind", ["titans", "selfmod", "selfmod-hope"])
@pytest.mark.parametrize("chunk,T", [(1, 5), (4, 11)])
def test_chunked_equals_per_token_with_the_option(option, value, kind, chunk, T):
    x = torch.randn(2, T, 8, requires_grad=True)
    outputs = {}
    for on in (False, True):
        torch.manual_seed(0)
        m = _memory(kind, chunk, **({option: value} if on else {}))
        # grown initial memories: hidden inputs beyond unit norm, changes beyond the clip
        res = run_both(_grown(m, 3.0), x, fresh)
        check(res)
        outputs[on] = res["chunked"][0][0]
    # the option is really exercised: it changed what the memory computed
    assert (outputs[True] - outputs[False]).abs().max() > 1e-6
