"""Property tests of ≻ and the levels over randomly generated specs (hypothesis)."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlc.passes.build_order import dependency_graph
from tests.conftest import property_examples
from tests.front.helpers import front, make_spec

PERIODS = [1, 2, 4, 8, 16, 64, 128]


@st.composite
def layers(draw):
    """A random block: single-input components reading an earlier one, then an `add` that
    consumes every output nobody read (so the spec is valid)."""
    n = draw(st.integers(1, 5))
    comps, unused = [], []
    for i in range(n):
        source = draw(st.sampled_from(["in"] + [c["name"] for c in comps]))
        kind = draw(
            st.sampled_from(
                [
                    "norm",
                    "attention",
                    "titans_memory",
                    "cms",
                    "mlp",
                    "linear_attention",
                    "self_modifying_titans",
                ]
            )
        )
        comp = {"name": f"c{i}", "kind": kind, "inputs": [source]}
        if kind in ("titans_memory", "linear_attention"):
            comp["update"] = {
                "period": draw(st.sampled_from(PERIODS)),
                "persist": draw(st.booleans()),
            }
            if kind == "titans_memory":
                comp["update"]["optimizer"] = {
                    "kind": draw(st.sampled_from(["gd", "momentum"])),
                    "lr": draw(st.sampled_from([0.0, 0.1])),
                }
        elif kind == "self_modifying_titans":
            comp["update"] = {
                "period": draw(st.sampled_from(PERIODS)),
                "projection_period": draw(st.sampled_from(PERIODS)),
            }
        elif kind == "cms":
            periods = draw(
                st.lists(st.sampled_from(PERIODS + ["outer", "frozen"]), min_size=1, max_size=3)
            )
            comp["levels"] = [{"period": p, "hidden": 8} for p in periods]
            comp["signal"] = draw(st.sampled_from(["lm", "local"]))
        elif kind == "mlp":
            comp["hidden"] = 8
        if source in unused:
            unused.remove(source)
        unused.append(comp["name"])
        comps.append(comp)
    ins = ["in"] + unused if len(unused) < 2 else unused
    comps.append({"name": "out", "kind": "add", "inputs": ins})
    return comps


@pytest.mark.parametrize("examples", property_examples(sample=30, full=150))
def test_order_is_a_strict_partial_order_consistent_with_levels(examples):
    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        layer=layers(),
        n_layers=st.integers(1, 2),
        context=st.sampled_from([8, 64]),
        optimizer=st.sampled_from([None, {"kind": "sgd", "momentum": 0.9}]),
    )
    def check(layer, n_layers, context, optimizer):
        _assert_order_properties(layer, n_layers, context, optimizer)

    check()


def _assert_order_properties(layer, n_layers, context, optimizer) -> None:
    result = front(
        make_spec(layer, n_layers=n_layers, context=context, d_model=16, optimizer=optimizer)
    )
    for graph in (result.full, result.collapsed):
        states = [s.name for s in graph.states()]
        prec = {(a, b) for a in states for b in states if graph.precedes(a, b)}
        # irreflexive and antisymmetric
        assert all(a != b for a, b in prec)
        assert not any((b, a) in prec for a, b in prec)
        # transitive
        succ = {a: {b for x, b in prec if x == a} for a in states}
        for a, b in prec:
            assert succ[b] <= succ[a]
        # levels: sorted fastest first, equal period <=> same level
        periods = [lv.period for lv in graph.levels]
        assert periods == sorted(periods, key=lambda p: p.sort_key())
        assert len(set(periods)) == len(periods)
        for a, b in itertools.combinations(states, 2):
            same = graph.node(a).period == graph.node(b).period
            assert same == (graph.level_of(a) == graph.level_of(b))
            if graph.level_of(a).number < graph.level_of(b).number:
                assert (a, b) in prec
        # every same-step dependency between equal-period states is in ≻, and only those
        dep = dependency_graph(graph)
        for a, b in itertools.permutations(states, 2):
            if graph.node(a).period == graph.node(b).period:
                assert ((a, b) in prec) == nx.has_path(dep, a, b)
        # the covering pairs are the transitive reduction of ≻
        closure = nx.DiGraph(list(prec))
        closure.add_nodes_from(states)
        reduction = set(nx.transitive_reduction(closure).edges())
        assert set(graph.order.covering) == reduction
