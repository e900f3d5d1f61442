"""Known answers: levels, order and collapse of the shipped specs and small variations."""

from __future__ import annotations

import json

import pytest

from nlc.cli import main
from nlc.ir.nodes import EdgeKind
from nlc.pipeline import run_front
from nlc.report import levels_json
from tests.conftest import SPECS
from tests.front.helpers import front, level_of, level_periods, make_spec

SHIPPED = sorted(p.name for p in SPECS.glob("*.yaml"))


def test_all_presets_are_shipped():
    for name in [
        "transformer",
        "titans-lmm",
        "titans-mac",
        "titans-mag",
        "titans-mal",
        "hope",
        "hope-attention",
        "hope-340m",
        "hope-760m",
        "titans-lmm-340m",
        "titans-lmm-760m",
    ]:
        assert f"{name}.yaml" in SHIPPED


@pytest.mark.parametrize("spec", SHIPPED)
def test_shipped_specs_pass_every_pass_with_verification(spec):
    result = run_front(SPECS / spec, check=True)
    assert result.full.levels and result.collapsed.levels


def test_transformer_collapses_to_two_extreme_frequencies():
    result = run_front(SPECS / "transformer.yaml")
    for graph in (result.full, result.collapsed):
        assert level_periods(graph) == [1, "outer"]
        kv, outer = graph.levels
        assert all(s.endswith(".attn.kv") for s in kv.states) and len(kv.states) == 4
        assert {"optimizer.m", "optimizer.v", "embed.W"} <= set(outer.states)
        assert all(not s.endswith(".kv") for s in outer.states)


def test_transformer_order_kv_chain_and_adam_moments():
    graph = run_front(SPECS / "transformer.yaml").full
    pairs = set(graph.order.covering)
    # each layer's cache needs the previous layer's cache at the same token
    assert ("layers.0.attn.kv", "layers.1.attn.kv") in pairs
    assert ("layers.0.attn.kv", "layers.2.attn.kv") not in pairs  # not covering
    assert graph.precedes("layers.0.attn.kv", "layers.2.attn.kv")
    # momentum ≻ the weights it moves; Adam's two moments are =_f
    assert ("optimizer.m", "layers.0.mlp.W") in pairs
    assert graph.precedes("optimizer.v", "embed.W")
    assert not graph.precedes("optimizer.m", "optimizer.v")
    assert not graph.precedes("optimizer.v", "optimizer.m")
    # the fastest level's last state is covered by the sources of the next level
    assert ("layers.3.attn.kv", "optimizer.m") in pairs
    assert not graph.precedes("layers.0.mlp.W", "layers.1.mlp.W")


def test_titans_adds_the_memory_level():
    full = run_front(SPECS / "titans-lmm.yaml").full
    assert level_periods(full) == [16, "outer"]
    assert level_of(full, "layers.0.memory.M") == 16
    assert full.precedes("layers.0.memory.S", "layers.0.memory.M")  # surprise ≻ memory
    mac = run_front(SPECS / "titans-mac.yaml").collapsed
    assert level_periods(mac) == [1, 32, "outer"]


def test_hope_has_self_modifying_memories_and_one_level_per_cms_period():
    result = run_front(SPECS / "hope.yaml")
    full = result.full
    assert level_periods(full) == [4, 16, 32, 128, "outer"]
    fast = set(full.levels[0].states)
    for m in ["M_k", "M_v", "M_q", "M_eta", "M_alpha"]:
        assert f"layers.0.memory.{m}" in fast
    assert full.levels[1].states == ("layers.0.memory.M_memory", "layers.1.memory.M_memory")
    assert level_of(full, "layers.1.cms.mlp0") == 32
    assert level_of(full, "layers.1.cms.mlp1") == 128
    assert level_of(full, "layers.1.cms.mlp2") == "outer"
    assert level_periods(result.collapsed) == [4, 16, 32, 128, "outer"]


CMS_LAYER = [
    {"name": "norm", "kind": "norm"},
    {"name": "attn", "kind": "attention"},
    {"name": "cms", "kind": "cms", "levels": [{"period": 16}, {"period": 128}]},
]


def test_cms_level_longer_than_context_collapses_into_outer():
    result = front(make_spec(CMS_LAYER, context=64))
    assert level_periods(result.full) == [1, 16, 128, "outer"]
    assert level_periods(result.collapsed) == [1, 16, "outer"]
    assert "layers.0.cms.mlp1" not in result.collapsed.nx  # merged into its initial value
    assert level_of(result.collapsed, "layers.0.cms.W") == "outer"
    assert result.collapsed.has_edge("layers.0.cms.W", "layers.0.cms", EdgeKind.READS)


def test_period_equal_to_context_also_collapses_but_persist_does_not():
    layer = [
        dict(CMS_LAYER[0]),
        dict(CMS_LAYER[1]),
        {
            "name": "cms",
            "kind": "cms",
            "levels": [{"period": 64}, {"period": 128, "persist": True}],
        },
    ]
    result = front(make_spec(layer, context=64))
    assert level_periods(result.collapsed) == [1, 128, "outer"]


def test_zero_inner_learning_rate_collapses():
    layer = [
        {"name": "norm", "kind": "norm"},
        {
            "name": "mem",
            "kind": "titans_memory",
            "update": {"period": 4, "optimizer": {"kind": "momentum", "lr": 0.0}},
        },
    ]
    result = front(make_spec(layer))
    assert level_periods(result.full) == [4, "outer"]
    assert level_periods(result.collapsed) == ["outer"]
    assert "layers.0.mem.S" not in result.collapsed.nx


def test_hope_attention_with_one_outer_cms_level_collapses_like_a_transformer():
    layer = [
        {"name": "norm", "kind": "norm"},
        {"name": "attn", "kind": "attention"},
        {"name": "cms", "kind": "cms", "levels": [{"period": 1000}]},
    ]
    hope_like = front(make_spec(layer, context=64)).collapsed
    plain = front(make_spec(layer[:2] + [{"name": "cms", "kind": "mlp"}], context=64)).collapsed
    assert level_periods(hope_like) == level_periods(plain) == [1, "outer"]
    assert [len(lv.states) for lv in hope_like.levels] == [len(lv.states) for lv in plain.levels]


def test_frozen_components_form_the_slowest_level():
    layer = [
        {"name": "norm", "kind": "norm", "weights": "frozen"},
        {"name": "attn", "kind": "attention"},
    ]
    graph = front(make_spec(layer)).full
    assert level_periods(graph) == [1, "outer", "frozen"]
    assert graph.precedes("embed.W", "layers.0.norm.W")


def test_sgd_momentum_state_and_plain_sgd():
    layer = [{"name": "attn", "kind": "attention"}]
    graph = front(make_spec(layer, optimizer={"kind": "sgd", "momentum": 0.9})).full
    assert graph.precedes("optimizer.momentum", "layers.0.attn.W")
    plain = front(make_spec(layer, optimizer={"kind": "sgd", "momentum": 0.0})).full
    assert not any(s.startswith("optimizer.") for s in plain.nx)


def test_identity_components_vanish_under_collapse():
    layer = [{"name": "id", "kind": "identity"}, {"name": "attn", "kind": "attention"}]
    result = front(make_spec(layer))
    assert "layers.0.id" in result.full.nx and "layers.0.id" not in result.collapsed.nx
    assert result.collapsed.has_edge("embed", "layers.0.attn", EdgeKind.DATAFLOW)


def test_levels_json_has_exactly_the_documented_form(capsys):
    assert main(["levels", str(SPECS / "titans-lmm.yaml"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["spec", "levels", "order", "collapsed"]
    assert doc["spec"] == "titans-lmm"
    assert [lv["level"] for lv in doc["levels"]] == [1, 2]
    assert doc["levels"][0] == {
        "level": 1,
        "period": 16,
        "states": [
            "layers.0.memory.S",
            "layers.0.memory.M",
            "layers.1.memory.S",
            "layers.1.memory.M",
        ],
    }
    assert doc["levels"][1]["period"] == "outer"
    assert ["layers.0.memory.S", "layers.0.memory.M"] in doc["order"]
    assert all(len(p) == 2 for p in doc["order"])
    assert doc["collapsed"] == doc["levels"]
    assert doc == levels_json(run_front(SPECS / "titans-lmm.yaml"))
