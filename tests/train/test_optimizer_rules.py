"""Every optimizer of the spec language is emitted into train.py (nlc_runtime.optim) and trains:
the tiny Transformer's loss falls with each rule, and a run with periodic groups and M3's slow
momentum resumes onto the uninterrupted trajectory."""

from __future__ import annotations

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, metrics, write_spec

ADAMW_LINE = "optimizer: {kind: adamw, lr: 1.0e-2, weight_decay: 0.1}"
RULES = {
    "sgd_groups": '{kind: sgd, lr: 0.3, momentum: 0.9, groups: [{match: "layers.*.mlp", period: 2}]}',
    "adam_no_bias_correction": "{kind: adam, lr: 1.0e-2, bias_correction: false}",
    "muon": "{kind: muon, lr: 0.02, adamw: {lr: 1.0e-2}}",
    "m3": "{kind: m3, lr: 1.0e-2, slow_period: 4, adamw: {lr: 1.0e-2}}",
    "delta_momentum": "{kind: delta_momentum, lr: 0.3}",
    "dmgd": "{kind: dmgd, lr: 0.3}",
    "preconditioned_momentum": "{kind: preconditioned_momentum, lr: 1.0e-2}",
    "dgd": "{kind: dgd, lr: 0.3}",
}


def spec_with(tmp_path, rule: str):
    assert ADAMW_LINE in TINY_TRANSFORMER
    return write_spec(tmp_path, TINY_TRANSFORMER.replace(ADAMW_LINE, f"optimizer: {rule}"))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RULES))
def test_each_optimizer_rule_trains_the_emitted_model(tmp_path, name):
    spec = spec_with(tmp_path, RULES[name])
    run = tmp_path / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "16", "--eval-every", "16"]
    assert main([*argv, "--batch-size", "4", "--warmup", "2", *FAST]) == 0
    train, val = metrics(run)
    assert "build_optimizer(model" in (run / "code" / "train.py").read_text()
    assert val[16] < val[0] - 0.3, (name, val)
    assert train[16] < train[1], (name, train)


def test_m3_with_groups_resumes_onto_the_uninterrupted_trajectory(tmp_path):
    """The checkpoint holds each group's clock and the slow momentum: stopping at step 6
    (inside a slow window of 4 and between two updates of the period-3 group) changes nothing."""
    rule = RULES["m3"].replace("}}", '}, groups: [{match: "layers.*.mlp", period: 3}]}')
    spec = spec_with(tmp_path, rule)
    common = ["--steps", "12", "--eval-every", "4", "--batch-size", "2", *FAST]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", str(spec), "--out", str(straight), *common]) == 0
    assert main(["train", str(spec), "--out", str(split), *common, "--stop-after", "6"]) == 0
    assert main(["train", "--resume", str(split)]) == 0
    (a_train, _), (b_train, _) = metrics(straight), metrics(split)
    assert sorted(a_train) == sorted(b_train) == list(range(1, 13))
    for step in a_train:
        assert b_train[step] == pytest.approx(a_train[step], rel=1e-5, abs=1e-6), step
