"""Each rule trains a small model; Newton–Schulz orthogonalises; M3's slow memory keeps its
period; DMGD's momentum network learns; delta momentum erases along the gradient."""

from __future__ import annotations

import pytest
import torch
from nlc_runtime.optim import (
    DGD,
    DMGD,
    M3,
    AdamMemory,
    AdamWMemory,
    DeltaMomentum,
    Muon,
    PreconditionedMomentum,
    SGDMemory,
    newton_schulz,
    rules,
    split_matrix_params,
)
from nlc_runtime.optim.newton_schulz import CUBIC

from tests.runtime.optim.helpers import tiny_model, train


def _make(name, model):
    if name == "sgd":
        return SGDMemory(model.parameters(), lr=0.1, momentum=0.9)
    if name == "adam":
        return AdamMemory(model.parameters(), lr=1e-2)
    if name == "adamw":
        return AdamWMemory(model.parameters(), lr=1e-2)
    if name == "delta_momentum":
        return DeltaMomentum(model.parameters(), lr=0.1, momentum=0.9, delta=0.5)
    if name == "dmgd":
        return DMGD(model.parameters(), lr=0.1, momentum=0.9)
    if name == "preconditioned_momentum":
        return PreconditionedMomentum(model.parameters(), lr=1e-3, momentum=0.9)
    if name == "muon":
        return Muon(split_matrix_params(model, "muon"), lr=0.05, adamw_lr=1e-2)
    if name == "m3":
        return M3(split_matrix_params(model, "m3"), lr=1e-2, slow_period=4, adamw_lr=1e-2)
    if name == "dgd":
        opt = DGD(model.parameters(), lr=0.2)
        opt.track(model)
        return opt
    raise ValueError(name)


RULES = ["sgd", "adam", "adamw", "delta_momentum", "dmgd", "preconditioned_momentum", "muon", "m3", "dgd"]  # fmt: skip


@pytest.mark.parametrize("name", RULES)
def test_a_small_model_trains_with_each_rule(name):
    model = tiny_model()
    losses = train(model, _make(name, model), 60)
    assert all(torch.isfinite(torch.tensor(losses)))
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.7 * first, (name, first, last)


def test_newton_schulz_singular_values(f64):
    """Muon's quintic (5 steps) puts a gradient-like matrix's singular values in a band around
    1; the cubic converges to exactly 1, even for an ill-conditioned matrix."""
    torch.manual_seed(0)
    for shape in [(64, 32), (32, 64), (48, 48)]:
        g = torch.randn(*shape) * torch.logspace(-1, 0, shape[1])  # condition number ~ 10-100
        s = torch.linalg.svdvals(newton_schulz(g, steps=5))
        assert s.min() > 0.6 and s.max() < 1.25, (shape, s.min(), s.max())
        hard = torch.randn(*shape) * torch.logspace(-3, 0, shape[1])
        s = torch.linalg.svdvals(newton_schulz(hard, steps=60, coefficients=CUBIC))
        assert (s - 1).abs().max() < 1e-6, (shape, s.min(), s.max())
    assert newton_schulz(torch.randn(3, 16, 8), steps=5).shape == (3, 16, 8)


def test_muon_update_is_orthogonal_and_non_matrices_use_adamw(f64):
    model = tiny_model()
    groups = split_matrix_params(model, "muon")
    embed = model[0].weight
    assert [g["rule"] for g in groups] == ["muon", "adamw"]
    assert any(p is embed for p in groups[1]["params"])  # embeddings stay on AdamW
    assert all(p.dim() >= 2 for p in groups[0]["params"])
    opt = Muon(groups, lr=0.1, momentum=0.0, nesterov=False)
    w = model[1].weight
    before = w.detach().clone()
    train(model, opt, 1)
    step = (before - w.detach()) / 0.1 / (12 / 8) ** 0.5
    s = torch.linalg.svdvals(step)
    assert s.min() > 0.5 and s.max() < 1.25
    assert "exp_avg" in opt.state[embed] and "momentum" in opt.state[w]
    with pytest.raises(ValueError, match="rule='adamw'"):
        Muon([{"params": [model[1].bias], "rule": "muon"}])


def test_m3_slow_momentum_changes_only_every_f_steps(f64):
    model = tiny_model()
    f = 4
    opt = M3(split_matrix_params(model, "m3"), lr=1e-2, slow_period=f)
    w = model[1].weight
    slow = []
    for t in range(13):
        train(model, opt, 1, start=t)
        slow.append(opt.state[w]["slow"].clone())
    changed = [t + 1 for t in range(1, 13) if not torch.equal(slow[t], slow[t - 1])]
    assert changed == [4, 8, 12]  # written at the end of each chunk of f steps
    assert slow[2].abs().max() == 0 and slow[3].abs().max() > 0


def _dmgd_inner_losses(net_lr: float) -> tuple[list[float], dict]:
    torch.manual_seed(0)
    param = torch.zeros(200, dtype=torch.float64)
    direction = torch.randn(200, dtype=torch.float64)
    state: dict = {}
    losses = []
    for _ in range(60):
        grad = direction + 0.1 * torch.randn(200, dtype=torch.float64)
        new, update = rules.dmgd(state, param, grad, lr=0.01, momentum=0.5, net_lr=net_lr)
        state, param = new, param + update
        losses.append(float(new["net_loss"]))
    return losses, state


def test_dmgd_momentum_network_trains():
    """Gradients that keep their direction: the network learns to retain more than μ = 0.5,
    so its ℓ2 recall loss falls well below that of the fixed (heavy-ball) retention."""
    fixed, _ = _dmgd_inner_losses(net_lr=0.0)
    trained, state = _dmgd_inner_losses(net_lr=0.5)
    late = sum(trained[-10:]) / 10
    assert late < 0.5 * sum(fixed[-10:]) / 10, (fixed[-1], late)
    assert late < 0.2 * trained[0]
    assert state["net_w2"].abs().max() > 0  # the network moved away from plain momentum


def test_dmgd_starts_as_heavy_ball_momentum(f64):
    g1, g2 = torch.randn(5), torch.randn(5)
    p = torch.zeros(5)
    s, _ = rules.dmgd({}, p, g1, lr=1.0, momentum=0.9, net_lr=0.0)
    s, u = rules.dmgd(s, p, g2, lr=1.0, momentum=0.9, net_lr=0.0)
    torch.testing.assert_close(u, -(0.9 * g1 + g2))


def test_delta_momentum_erases_along_the_gradient(f64):
    b = torch.randn(6, 4)
    g = torch.randn(6, 4)
    new, _ = rules.delta_momentum(
        {"momentum": b}, torch.zeros(6, 4), g, lr=1.0, momentum=0.9, delta=0.5
    )
    key = g / g.norm()
    torch.testing.assert_close(new["momentum"], b @ (0.9 * torch.eye(4) - 0.5 * key.T @ key) + g)
    vec, _ = rules.delta_momentum({"momentum": b[0]}, torch.zeros(4), g[0], lr=1.0, delta=0.0)
    torch.testing.assert_close(vec["momentum"], 0.9 * b[0] + g[0])  # delta 0: plain momentum


def test_dgd_forgets_along_the_inputs(f64):
    w = torch.randn(3, 4)
    x = torch.zeros(4)
    x[0] = 1.0
    c = torch.outer(x, x)
    _, update = rules.dgd({}, w, torch.zeros(3, 4), lr=1.0, inputs=c)
    torch.testing.assert_close(w + update, w @ (torch.eye(4) - 0.5 * c))
