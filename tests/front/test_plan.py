"""The schedule pass and `nlc plan`: exact boundaries, ≻ order at shared boundaries, fusion."""

from __future__ import annotations

import json

from nlc.cli import main
from nlc.passes.plan_schedule import plan_schedule
from tests.conftest import SPECS
from tests.front.helpers import front, make_spec

MOMENTUM = {"kind": "momentum", "lr": 0.1, "momentum": 0.9}


def memory(name, period, partial="flush", **extra):
    return {
        "name": name,
        "kind": "titans_memory",
        **extra,
        "update": {"period": period, "partial_chunk": partial, "optimizer": MOMENTUM},
    }


def test_periods_that_do_not_divide_each_other_or_the_context():
    layer = [memory("a", 3), memory("b", 4, inputs=["a"])]
    plan = plan_schedule(front(make_spec(layer, context=10, n_layers=1)).collapsed)
    tokens = [(b.token, b.flush) for b in plan.boundaries]
    assert tokens == [(3, False), (4, False), (6, False), (8, False), (9, False), (10, True)]
    flush = plan.boundaries[-1]
    assert set(flush.states) == {"layers.0.a.S", "layers.0.a.M", "layers.0.b.S", "layers.0.b.M"}


def test_shared_boundary_fires_faster_states_first_and_momentum_before_memory():
    layer = [memory("slow", 4), memory("fast", 2, inputs=["slow"])]
    plan = plan_schedule(front(make_spec(layer, context=8, n_layers=1)).collapsed)
    at4 = next(b for b in plan.boundaries if b.token == 4)
    assert at4.states == (
        "layers.0.fast.S",
        "layers.0.fast.M",
        "layers.0.slow.S",
        "layers.0.slow.M",
    )


def test_dropped_partial_chunk_is_not_flushed():
    plan = plan_schedule(
        front(make_spec([memory("m", 3, "drop")], context=10, n_layers=1)).collapsed
    )
    assert not any(b.flush for b in plan.boundaries)
    assert [b.token for b in plan.boundaries] == [3, 6, 9]


def test_hope_plan_scans_fusion_and_lm_piece():
    plan = plan_schedule(front((SPECS / "hope.yaml").read_text()).collapsed)
    chunks = sorted({s.chunk for s in plan.scans})
    assert chunks == [4, 16, 32, 128]
    assert plan.lm_piece is None  # the shipped HOPE's CMS learns a local objective
    lm = (SPECS / "hope.yaml").read_text().replace("signal: local", "signal: lm")
    assert plan_schedule(front(lm).collapsed).lm_piece == 32  # gcd of the LM-signal periods
    assert (4, ("layers.0.memory", "layers.1.memory")) in plan.fused
    assert plan.outer.states == ("optimizer.m", "optimizer.v")
    assert len([b for b in plan.boundaries if not b.flush]) == 256 // 4


def test_collapsed_levels_are_not_scanned():
    layer = [{"name": "cms", "kind": "cms", "levels": [{"period": 8}, {"period": 500}]}]
    plan = plan_schedule(front(make_spec(layer, context=64, n_layers=1)).collapsed)
    assert [s.states for s in plan.scans] == [("layers.0.cms.mlp0",)]


def test_plan_cli_text_and_json(capsys):
    assert main(["plan", str(SPECS / "hope.yaml")]) == 0
    out = capsys.readouterr().out
    assert "for step in 1..600:" in out and "every 4 tokens: layers.{0..1}.memory" in out
    assert "every 128 tokens: layers.{0..1}.cms [mlp1]" in out
    assert main(["plan", str(SPECS / "transformer.yaml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["spec"] == "transformer" and doc["outer"]["optimizer"] == "adamw"
    assert [s["chunk"] for s in doc["sequence"]["scans"]] == [1, 1, 1, 1]
