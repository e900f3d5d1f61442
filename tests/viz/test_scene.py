"""The renderer-neutral scene: bands, folding, edges."""

from __future__ import annotations

import pytest

from nlc.ir.period import Period
from nlc.viz.frequency import firings, frequency, outer_frequency
from nlc.viz.scene import COVERING, build_scene
from tests.viz.helpers import front


@pytest.mark.parametrize("spec", ["transformer", "hope", "titans-lmm"])
def test_bands_follow_levels_and_fold_layers(spec):
    graph = front(spec).full
    folded, unfolded = build_scene(graph), build_scene(graph, fold=False)
    assert [b.title.split(" · ")[0] for b in folded.bands[1:]] == [
        f"level {lv.number}" for lv in graph.levels
    ]
    # Every state is drawn exactly once, folded or not.
    members = sorted(m for n in folded.states() for m in n.members)
    assert members == sorted(s.name for s in graph.states())
    assert len(unfolded.states()) == len(graph.states())
    assert len(folded.states()) < len(unfolded.states())
    n_layers = graph.model.n_layers
    assert any(n.count == n_layers for n in folded.states())
    # Folded nodes keep the sum of their members' parameters.
    assert sum(n.params for n in folded.states()) == sum(
        graph.param_count(s.name) for s in graph.states()
    )


def test_covering_edges_are_the_order():
    graph = front("hope").full
    scene = build_scene(graph, fold=False)
    covering = {(e.src, e.dst) for e in scene.edges if e.kind == COVERING}
    ids = {m: n.id for n in scene.nodes.values() for m in n.members}
    assert covering == {(ids[a], ids[b]) for a, b in graph.order.covering}


def test_transformer_kv_loop_folds_into_a_self_loop():
    scene = build_scene(front("transformer").full)
    kv = next(n for n in scene.states() if n.kind == "kv_cache")
    assert (kv.id, kv.id, COVERING) in {(e.src, e.dst, e.kind) for e in scene.edges}


def test_outer_is_slower_than_every_in_context_period():
    graph = front("hope").full
    slowest = max(s.period.tokens for s in graph.states() if s.period.tokens)
    assert outer_frequency(graph) < 1 / slowest
    assert frequency(graph, Period.of("frozen")) < outer_frequency(graph)
    assert frequency(graph, Period.of(16)) == 1 / 16


def test_firings():
    assert firings(Period.of(4), 10) == ([4, 8], 10)
    assert firings(Period.of(4), 10, flush=False) == ([4, 8], None)
    assert firings(Period.of(4), 8) == ([4, 8], None)
    assert firings(Period.of(16), 3) == ([], 3)  # shorter than a chunk still flushes
    assert firings(Period.of("outer"), 10) == ([], None)
