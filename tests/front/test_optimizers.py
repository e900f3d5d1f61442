"""The outer optimizer as memories in the IR: state nodes, periods, ≻ edges, per-group periods,
the plan's outer schedule, and clear errors for bad optimizer settings."""

from __future__ import annotations

import pytest

from nlc.cli import main
from nlc.ir.period import Period
from nlc.passes.plan_schedule import plan_schedule
from nlc.plan_text import render_plan
from tests.conftest import SPECS
from tests.front.helpers import front, level_of, make_spec
from tests.front.test_errors import GOOD, run_check

LAYER = [
    {"name": "norm1", "kind": "norm"},
    {"name": "attn", "kind": "attention"},
    {"name": "res1", "kind": "add", "inputs": ["in", "attn"]},
    {"name": "mlp", "kind": "mlp"},
    {"name": "res2", "kind": "add", "inputs": ["res1", "mlp"]},
]


def full(optimizer: dict):
    return front(make_spec(LAYER, optimizer=optimizer)).full


def test_outer_multiples_sort_between_outer_and_frozen():
    four = Period.of("outer*4")
    assert four == Period.outer(4) and four.is_outer and str(four) == "outer*4"
    assert Period.of("outer") == Period.outer(1)
    assert sorted([Period.of("frozen"), four, Period.of(8), Period.of("outer")]) == [
        Period.of(8),
        Period.of("outer"),
        four,
        Period.of("frozen"),
    ]


def test_adam_moments_are_one_level_and_faster_than_the_weights():
    g = full({"kind": "adam", "lr": 1e-3, "bias_correction": False})
    assert g.precedes("optimizer.m", "layers.0.mlp.W")
    assert not g.precedes("optimizer.m", "optimizer.v") and not g.precedes(
        "optimizer.v", "optimizer.m"
    )


@pytest.mark.parametrize(
    "kind,chain",
    [
        ("preconditioned_momentum", ["optimizer.v", "optimizer.momentum", "layers.0.mlp.W"]),
        ("dmgd", ["optimizer.momentum_net", "optimizer.momentum", "layers.0.mlp.W"]),
        ("delta_momentum", ["optimizer.momentum", "layers.0.mlp.W"]),
    ],
)
def test_memory_chains_follow_the_update_order(kind, chain):
    g = full({"kind": kind})
    for a, b in zip(chain, chain[1:]):
        assert g.precedes(a, b), (a, b)
    assert level_of(g, chain[0]) == "outer"


def test_dgd_has_no_memory_the_loss_moves_the_weights():
    g = full({"kind": "dgd", "lr": 0.01})
    assert not any(n.startswith("optimizer.") for n in g.nx)


def test_muon_moves_matrices_adamw_the_embedding_and_norms():
    g = full({"kind": "muon"})
    assert g.nx.has_edge("optimizer.momentum", "layers.0.mlp.W")
    assert g.nx.has_edge("optimizer.momentum", "layers.1.attn.W")
    assert not g.nx.has_edge("optimizer.momentum", "embed.W")
    for w in ("embed.W", "layers.0.norm1.W", "norm_f.W"):
        assert g.nx.has_edge("optimizer.adamw.m", w) and g.nx.has_edge("optimizer.adamw.v", w)


def test_m3_slow_momentum_is_its_own_slower_level():
    g = full({"kind": "m3", "slow_period": 8})
    assert level_of(g, "optimizer.fast") == level_of(g, "layers.0.mlp.W") == "outer"
    assert level_of(g, "optimizer.slow") == "outer*8"
    assert g.precedes("optimizer.fast", "layers.0.mlp.W")
    assert g.precedes("layers.0.mlp.W", "optimizer.slow")  # faster by frequency
    assert [lv.period.to_json() for lv in g.levels][-2:] == ["outer", "outer*8"]


def test_groups_give_weights_and_their_memories_a_slower_outer_clock():
    opt = {"kind": "m3", "slow_period": 4, "groups": [{"match": "layers.*.mlp", "period": 3}]}
    result = front(make_spec(LAYER, optimizer=opt))
    g = result.full
    assert level_of(g, "layers.0.mlp.W") == level_of(g, "layers.1.mlp.W") == "outer*3"
    assert level_of(g, "layers.0.attn.W") == "outer"
    assert level_of(g, "optimizer.groups.0.fast") == "outer*3"
    assert level_of(g, "optimizer.groups.0.slow") == "outer*12"
    assert g.nx.has_edge("optimizer.groups.0.fast", "layers.1.mlp.W")
    assert not g.nx.has_edge("optimizer.fast", "layers.1.mlp.W")
    plan = plan_schedule(result.collapsed)
    every = {u.every: u for u in plan.outer.schedule}
    assert sorted(every) == [1, 3, 4, 12]
    assert every[3].weights == 2 and every[3].states == (
        "optimizer.groups.0.fast",
        "optimizer.groups.0.v",
    )
    assert every[4].states == ("optimizer.slow",) and every[4].weights == 0
    text = render_plan(plan)
    assert "every 3 optimizer steps: optimizer.groups.0.fast, optimizer.groups.0.v ≻ 2" in text
    assert plan.to_json()["outer"]["schedule"][0]["every"] == 1


def test_optimizer_memories_count_the_weights_they_move():
    g = front(make_spec(LAYER, optimizer={"kind": "muon"})).full
    moved = sum(g.param_count(w) for w in ("embed.W", "norm_f.W"))
    moved += sum(g.param_count(f"layers.{i}.norm1.W") for i in range(2))
    assert g.param_count("optimizer.adamw.m") == moved


def test_shipped_m3_example_checks_and_compiles(tmp_path, capsys):
    path = str(SPECS / "optimizers" / "transformer-m3.yaml")
    assert main(["levels", path]) == 0
    out = capsys.readouterr().out
    assert "outer*8" in out and "optimizer.slow" in out
    assert main(["compile", path, "-o", str(tmp_path / "out")]) == 0
    train_py = (tmp_path / "out" / "train.py").read_text()
    assert '"kind": "m3"' in train_py and "build_optimizer(model" in train_py


OPT = "  - {name: head, kind: lm_head, tie: embed}\n"
CASES = {
    "unknown_optimizer_kind": (
        "optimizer: {kind: adamx}",
        "spec.yaml:11: optimizer: unknown kind 'adamx' (did you mean 'adam'?); expected one of: "
        "adam, adamw, delta_momentum, dgd, dmgd, m3, muon, preconditioned_momentum, sgd",
    ),
    "negative_lr_path": ("optimizer: {kind: adamw, lr: -1}", "spec.yaml:11: optimizer.lr: expected greater than 0; got -1"),
    "beta_of_one": ("optimizer: {kind: adam, betas: [0.9, 1.0]}", "optimizer.betas[1]: expected less than 1; got 1.0"),
    "slow_period_one": ("optimizer: {kind: m3, slow_period: 1}", "optimizer.slow_period: expected greater than or equal to 2; got 1"),
    "slow_period_typo": ("optimizer: {kind: m3, slow_perod: 3}", "optimizer.slow_perod: unknown key 'slow_perod' (did you mean 'slow_period'?)"),
    "delta_over_momentum": ("optimizer: {kind: delta_momentum, delta: 0.95}", "optimizer.delta: delta (0.95) must not exceed momentum (0.9)"),
    "nesterov_without_momentum": ("optimizer: {kind: sgd, momentum: 0, nesterov: true}", "optimizer.nesterov: nesterov: true needs momentum > 0"),
    "muon_adamw_lr": ("optimizer: {kind: muon, adamw: {lr: 0}}", "optimizer.adamw.lr: expected greater than 0; got 0"),
    "ns_steps": ("optimizer: {kind: muon, ns_steps: 0}", "optimizer.ns_steps: expected greater than or equal to 1; got 0"),
    "group_period": ("optimizer: {kind: sgd, groups: [{match: embed, period: 0}]}", "optimizer.groups[0].period: expected greater than or equal to 1; got 0"),
    "group_matches_nothing": (
        "optimizer: {kind: adamw, groups: [{match: 'layers.*.atn', period: 2}]}",
        "spec.yaml:11: optimizer.groups[0].match: 'layers.*.atn' matches no component with trained weights (did you mean 'layers.*.attn'?); components with trained weights: embed, layers.*.attn, layers.*.norm1",
    ),
    "group_overlap": (
        "optimizer: {kind: adamw, groups: [{match: 'layers.*', period: 2}, {match: '*.attn', period: 4}]}",
        "optimizer.groups[1].match: '*.attn' matches 'layers.0.attn', already in groups[0]; a component belongs to one group at most",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_optimizer_settings_name_file_line_and_field(tmp_path, capsys, case):
    line, expected = CASES[case]
    code, err = run_check(tmp_path, capsys, GOOD + line + "\n")
    assert code == 2
    assert expected in err, err
    assert "Traceback" not in err
