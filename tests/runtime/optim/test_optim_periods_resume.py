"""Per-group periods (a slower outer clock) and exact checkpoint/resume of every optimizer."""

from __future__ import annotations

import io

import pytest
import torch
from nlc_runtime.optim import (
    DMGD,
    M3,
    AdamWMemory,
    DeltaMomentum,
    Muon,
    PreconditionedMomentum,
    SGDMemory,
    split_matrix_params,
)

from tests.runtime.optim.helpers import loss_of, tiny_model, train


def _groups(model, matrix_rule=None):
    """Matrices every step, the rest (biases, norm) every 3rd step."""
    if matrix_rule is not None:
        groups = split_matrix_params(model, matrix_rule)
        groups[-1]["period"] = 3
        return groups
    ps = list(model.parameters())
    return [
        {"params": [p for p in ps if p.dim() >= 2]},
        {"params": [p for p in ps if p.dim() < 2], "period": 3},
    ]


MAKERS = {
    "sgd": lambda m: SGDMemory(_groups(m), lr=0.1, momentum=0.9, nesterov=True),
    "sgd-reference": lambda m: SGDMemory(_groups(m), lr=0.1, momentum=0.9, foreach=False),
    "adamw": lambda m: AdamWMemory(_groups(m), lr=1e-2, weight_decay=0.1),
    "delta_momentum": lambda m: DeltaMomentum(_groups(m), lr=0.05),
    "dmgd": lambda m: DMGD(_groups(m), lr=0.05),
    "preconditioned_momentum": lambda m: PreconditionedMomentum(_groups(m), lr=1e-3),
    "muon": lambda m: Muon(_groups(m, "muon"), lr=0.05, adamw_lr=1e-2),
    "m3": lambda m: M3(_groups(m, "m3"), lr=1e-2, slow_period=4),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_resume_at_step_10_equals_uninterrupted(name, f64):
    straight = tiny_model()
    train(straight, MAKERS[name](straight), 25)

    first = tiny_model()
    opt = MAKERS[name](first)
    train(first, opt, 10)  # step 10: mid-chunk for period 3 and for M3's slow period 4
    buf = io.BytesIO()
    torch.save({"model": first.state_dict(), "optimizer": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # what nlc_runtime.training.checkpoint does
    resumed = tiny_model(seed=123)
    resumed.load_state_dict(saved["model"])
    opt2 = MAKERS[name](resumed)
    opt2.load_state_dict(saved["optimizer"])
    train(resumed, opt2, 15, start=10)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert torch.equal(p, q), name


def test_period_k_sums_the_chunk_gradients_taken_at_the_chunk_start(f64):
    model = tiny_model()
    ps = list(model.parameters())
    slow = [p for p in ps if p.dim() < 2]
    opt = SGDMemory(
        [{"params": [p for p in ps if p.dim() >= 2]}, {"params": slow, "period": 3}],
        lr=0.1,
        momentum=0.0,
    )
    start = [p.detach().clone() for p in slow]
    total = [torch.zeros_like(p) for p in slow]
    for t in range(3):
        opt.zero_grad()
        loss_of(model, t).backward()
        for acc, p in zip(total, slow):
            acc += p.grad
        opt.step()
        if t < 2:  # between boundaries the slow group keeps its chunk-start value
            assert all(torch.equal(p, s) for p, s in zip(slow, start))
    for p, s, g in zip(slow, start, total):
        torch.testing.assert_close(p.detach(), s - 0.1 * g, rtol=0, atol=1e-14)
    assert all("grad_sum" not in opt.state[p] for p in slow)
    assert [g["clock"] for g in opt.param_groups] == [3, 3]


def test_bad_period_is_rejected():
    with pytest.raises(ValueError, match="period"):
        SGDMemory([{"params": list(tiny_model().parameters()), "period": 0}])


def test_periodic_group_trains():
    model = tiny_model()
    losses = train(model, AdamWMemory(_groups(model), lr=1e-2), 60)
    assert sum(losses[-5:]) < 0.7 * sum(losses[:5])
