"""`build_optimizer` turns a spec's optimizer section into a runtime optimizer for a model
whose module paths are the spec's component names (what codegen will emit)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
from nlc_runtime.optim import M3, SPEC_KINDS, AdamMemory, Muon, build_optimizer

from nlc.spec.optimizers import OPTIMIZER_KINDS


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))


class Emitted(nn.Module):
    """The shape of an emitted model: embed, layers.<i>.<component>, norm_f, head."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Embedding(32, 8)
        self.layers = nn.ModuleList([Layer() for _ in range(2)])
        self.norm_f = nn.LayerNorm(8)
        self.head = nn.Linear(8, 32, bias=False)

    def forward(self, idx):
        h = self.embed(idx)
        for layer in self.layers:
            h = h + layer.mlp(layer.norm1(h))
        return self.head(self.norm_f(h))


def spec_settings(kind: str, **extra) -> dict:
    """The spec's optimizer section as validated (defaults filled), as codegen would emit it."""
    return OPTIMIZER_KINDS[kind].model_validate({"kind": kind, **extra}).model_dump()


def _step(model, opt):
    idx = torch.randint(0, 32, (4, 6))
    loss = nn.functional.cross_entropy(model(idx).flatten(0, 1), idx.flatten())
    opt.zero_grad()
    loss.backward()
    opt.step()


@pytest.mark.parametrize("kind", sorted(OPTIMIZER_KINDS))
def test_every_spec_kind_builds_and_steps(kind):
    assert set(SPEC_KINDS) == set(OPTIMIZER_KINDS)
    model = Emitted()
    opt = build_optimizer(model, **spec_settings(kind), adamw_components=("head",))
    before = [p.detach().clone() for p in model.parameters()]
    _step(model, opt)
    assert all(not torch.equal(a, p) for a, p in zip(before, model.parameters()))
    assert all("initial_lr" in g for g in opt.param_groups)


def test_muon_groups_decay_and_periods():
    model = Emitted()
    settings = spec_settings(
        "muon",
        weight_decay=0.01,
        adamw={"lr": 1e-3, "weight_decay": 0.1},
        groups=[{"match": "layers.*.mlp", "period": 2}],
    )
    opt = build_optimizer(model, **settings, adamw_components=("head",))
    assert isinstance(opt, Muon)
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    up = model.layers[1].mlp[0]
    assert by_param[id(up.weight)]["rule"] == "muon" and by_param[id(up.weight)]["period"] == 2
    assert by_param[id(up.weight)]["weight_decay"] == 0.01
    assert by_param[id(up.bias)]["rule"] == "adamw" and by_param[id(up.bias)]["period"] == 2
    assert by_param[id(up.bias)]["weight_decay"] == 0.0
    for p in (model.embed.weight, model.head.weight):
        g = by_param[id(p)]
        assert (g["rule"], g["lr"], g["weight_decay"], g["period"]) == ("adamw", 1e-3, 0.1, 1)
    assert by_param[id(model.norm_f.weight)]["weight_decay"] == 0.0
    assert by_param[id(up.weight)]["initial_lr"] == 0.02


def test_adam_is_l2_adamw_is_decoupled_and_m3_reads_its_slow_period():
    adam = build_optimizer(Emitted(), **spec_settings("adam", weight_decay=0.1))
    adamw = build_optimizer(Emitted(), **spec_settings("adamw"))
    assert isinstance(adam, AdamMemory) and not adam.defaults["decoupled"]
    assert adamw.defaults["decoupled"] and adamw.defaults["weight_decay"] == 0.1
    m3 = build_optimizer(Emitted(), **spec_settings("m3", slow_period=5))
    assert isinstance(m3, M3) and m3.defaults["slow_period"] == 5
    with pytest.raises(ValueError, match="unknown optimizer kind"):
        build_optimizer(Emitted(), kind="lion")
