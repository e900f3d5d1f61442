"""Optimizer claims: a spec `optimizer` section built by nlc_runtime.optim (as train.py does)
reproduces torch.optim over 100 float64 steps — and a rule that differs is caught."""

from __future__ import annotations

import pytest

from nlc.cli import main
from nlc.verify.optimizer_claim import run_optimizer_claim

SHIPPED = [
    "sgd-momentum-memory-is-torch-sgd",
    "adam-memory-is-torch-adam",
    "adamw-memory-is-torch-adamw",
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_optimizer_claims_hold(name, capsys):
    assert main(["verify", "--claim", name]) == 0
    out = capsys.readouterr().out
    assert "claim holds" in out and "over 100 steps" in out


def test_optimizer_claims_are_listed(capsys):
    assert main(["verify", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in SHIPPED)


@pytest.mark.parametrize(
    "settings,reference",
    [
        ({"kind": "adam", "lr": 3e-3, "bias_correction": False}, "adam"),  # raw memory read-out
        ({"kind": "adam", "lr": 3e-3, "weight_decay": 0.1}, "adamw"),  # coupled vs decoupled
        ({"kind": "sgd", "lr": 0.1, "momentum": 0.5}, "adam"),  # another rule altogether
    ],
)
def test_a_different_rule_does_not_reproduce_torch(settings, reference):
    result = run_optimizer_claim(settings, reference)
    assert result["holds"] is False
    assert result["numerical"]["max_param_diff"] > 1e-6
