"""Optimizers as memories reproduce torch.optim trajectories (float64, 100 steps)."""

from __future__ import annotations

import pytest
import torch
from nlc_runtime.optim import AdamMemory, AdamWMemory, SGDMemory

from tests.runtime.optim.helpers import max_diff, tiny_model, train

TOL = 1e-10


def groups(model, wd):
    ps = list(model.parameters())
    return [
        {"params": [p for p in ps if p.dim() >= 2], "weight_decay": wd},
        {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0},
    ]


CASES = [
    ("sgd", dict(lr=0.1, momentum=0.9), dict(lr=0.1, momentum=0.9)),
    ("sgd-nesterov-wd", dict(lr=0.05, momentum=0.8, nesterov=True), dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("adam-l2", dict(lr=3e-3, betas=(0.9, 0.99), eps=1e-8), dict(lr=3e-3, betas=(0.9, 0.99), eps=1e-8)),
    ("adamw", dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8), dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8)),
]  # fmt: skip
OURS = {"sgd": SGDMemory, "sgd-nesterov-wd": SGDMemory, "adam-l2": AdamMemory, "adamw": AdamWMemory}
THEIRS = {
    "sgd": torch.optim.SGD,
    "sgd-nesterov-wd": torch.optim.SGD,
    "adam-l2": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}


@pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "reference"])
@pytest.mark.parametrize("name,ours_kw,theirs_kw", CASES, ids=[c[0] for c in CASES])
def test_matches_torch_optim_over_100_steps(name, ours_kw, theirs_kw, foreach):
    wd = 0.0 if name == "sgd" else 0.05
    ref, ours = tiny_model(), tiny_model()
    torch_opt = THEIRS[name](groups(ref, wd), foreach=foreach, **theirs_kw)
    our_opt = OURS[name](groups(ours, wd), foreach=foreach, **ours_kw)
    ref_losses = train(ref, torch_opt, 100)
    our_losses = train(ours, our_opt, 100)
    assert max_diff(ref, ours) < TOL
    assert max(abs(a - b) for a, b in zip(ref_losses, our_losses)) < TOL
    assert our_losses[-1] < our_losses[0]


def test_adam_without_bias_correction_is_the_raw_memory_readout():
    """bias_correction=False: W moves by −lr·m/(√v + ε) with m, v the raw memories."""
    model = tiny_model()
    opt = AdamMemory(model.parameters(), lr=1e-2, bias_correction=False, foreach=True)
    p = next(model.parameters())
    before = p.detach().clone()
    train(model, opt, 1)
    g = p.grad
    m, v = 0.1 * g, 0.001 * g * g
    torch.testing.assert_close(
        p.detach(), before - 1e-2 * m / (v.sqrt() + 1e-8), rtol=0, atol=1e-12
    )
    ref = tiny_model()
    ref_opt = AdamMemory(ref.parameters(), lr=1e-2, bias_correction=False, foreach=False)
    train(ref, ref_opt, 1)
    for t in (model, ref):
        train(t, opt if t is model else ref_opt, 20, start=1)
    assert max_diff(model, ref) < TOL
