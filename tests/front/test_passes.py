"""Unit tests of each front-half pass, the verifier and the IR printer."""

from __future__ import annotations

import pytest
import yaml

from nlc.errors import SpecError
from nlc.ir.nodes import EdgeKind, StateKind
from nlc.ir.printer import print_graph
from nlc.ir.verify import IRError, verify
from nlc.passes.assign_levels import assign_levels
from nlc.passes.build_order import build_order
from nlc.passes.collapse import collapse
from nlc.passes.infer_shapes import infer_shapes
from nlc.passes.lower import lower
from nlc.pipeline import PASS_NAMES, run_front, run_until
from nlc.spec.load import load_spec, load_spec_text
from tests.conftest import ROOT, SPECS
from tests.front.helpers import make_spec


def lowered(layer, **kw):
    return lower(load_spec_text(yaml.safe_dump(make_spec(layer, **kw), sort_keys=False)))


def test_lower_expands_blocks_and_types_edges():
    g = lower(load_spec(SPECS / "transformer.yaml"))
    assert "layers.3.attn" in g.nx and "layers.4.attn" not in g.nx
    assert g.node("layers.0.attn.kv").kind == StateKind.KV_CACHE
    # the cache is written from the attention's input, then read fresh
    assert g.has_edge("layers.0.norm1", "layers.0.attn.write", EdgeKind.DATAFLOW)
    assert g.has_edge("layers.0.attn.write", "layers.0.attn.kv", EdgeKind.UPDATES)
    assert g.nx.edges["layers.0.attn.kv", "layers.0.attn", EdgeKind.READS]["fresh"] is True
    # residual reads the block input ('in') and the attention
    assert g.inputs_of("layers.1.res1") == ["layers.0.res2", "layers.1.attn"]
    assert g.inputs_of("loss") == ["head"]
    # tied head reads the embedding weights; AdamW moments update every trained weight
    assert g.has_edge("embed.W", "head", EdgeKind.READS)
    assert g.has_edge("optimizer.m", "layers.2.mlp.W", EdgeKind.UPDATES)
    assert g.has_edge("loss", "optimizer.v", EdgeKind.UPDATES)


def test_lower_memory_states_initial_values_and_momentum():
    g = lower(load_spec(SPECS / "titans-lmm.yaml"))
    assert g.has_edge("layers.0.memory.W", "layers.0.memory.M", EdgeKind.INITIALIZES)
    assert g.has_edge("layers.0.memory.S", "layers.0.memory.M", EdgeKind.UPDATES)
    assert g.has_edge("layers.0.memory", "layers.0.memory.S", EdgeKind.UPDATES)
    edge = g.nx.edges["layers.0.memory.M", "layers.0.memory", EdgeKind.READS]
    assert edge["fresh"] is False  # read before write: o_t = M_{t-1}(q_t)
    assert g.node("layers.0.memory.M").period.tokens == 16


def test_lower_cms_signal_lm_comes_from_the_loss_local_from_the_block():
    levels = [{"period": 8}, {"period": 16}, {"period": "outer"}]
    lm = lowered([{"name": "cms", "kind": "cms", "signal": "lm", "levels": levels}])
    assert lm.has_edge("loss", "layers.0.cms.mlp0", EdgeKind.UPDATES)
    assert lm.has_edge("layers.0.cms.W", "layers.0.cms.mlp1", EdgeKind.INITIALIZES)
    assert lm.node("layers.0.cms.mlp2").kind == StateKind.WEIGHT
    local = lowered([{"name": "cms", "kind": "cms", "levels": levels}])
    assert not local.has_edge("loss", "layers.0.cms.mlp0", EdgeKind.UPDATES)
    assert local.has_edge("layers.0.cms", "layers.0.cms.mlp0", EdgeKind.UPDATES)


def test_infer_shapes_widths_and_tensors():
    g = infer_shapes(
        lowered(
            [
                {"name": "up", "kind": "linear", "out": 48},
                {"name": "down", "kind": "linear", "out": 32},
            ]
        )
    )
    assert g.widths["layers.0.up"] == 48 and g.widths["layers.0.down"] == 32
    assert g.widths["head"] == 64
    assert dict(g.tensors["layers.0.up.W"]) == {"weight": (48, 32)}
    assert g.param_count("layers.1.down.W") == 32 * 48
    assert dict(g.tensors["embed.W"]) == {"weight": (64, 32)}


def test_infer_shapes_rejects_a_width_change_before_a_residual():
    with pytest.raises(SpecError, match="inputs have different widths"):
        infer_shapes(
            lowered(
                [
                    {"name": "up", "kind": "linear", "out": 48},
                    {"name": "res", "kind": "add", "inputs": ["in", "up"]},
                ]
            )
        )


def test_build_order_requires_nothing_of_levels_and_assign_levels_needs_no_order():
    g = infer_shapes(lower(load_spec(SPECS / "titans-mac.yaml")))
    ordered = build_order(g)
    assert ordered.levels is None and ordered.order is not None
    leveled = assign_levels(g)
    assert leveled.order is None and [lv.number for lv in leveled.levels] == [1, 2, 3]
    assert g.order is None and g.levels is None  # passes are pure: the input is unchanged


def test_collapse_is_pure_and_idempotent():
    full = run_front(SPECS / "hope-attention.yaml").full
    before = print_graph(full)
    once = collapse(full)
    assert print_graph(full) == before
    twice = collapse(once)
    assert set(once.nx.nodes) == set(twice.nx.nodes)
    assert set(once.nx.edges(keys=True)) == set(twice.nx.edges(keys=True))


def test_collapse_removes_constant_states_and_dead_writers():
    # context 1: a KV cache never holds more than the current token -> folds; its writer dies
    g = collapse(infer_shapes(lowered([{"name": "attn", "kind": "attention"}], context=1)))
    assert "layers.0.attn.kv" not in g.nx and "layers.0.attn.write" not in g.nx
    verify(g, after="collapse")


def test_verifier_names_pass_and_node():
    g = lower(load_spec(SPECS / "transformer.yaml"))
    broken = g.copy_nx()
    broken.remove_edge("layers.0.attn.write", "layers.0.attn.kv", key=EdgeKind.UPDATES)
    with pytest.raises(IRError) as info:
        verify(g.replace(nx=broken), after="my_pass")
    msg = str(info.value)
    assert "after pass 'my_pass'" in msg and "layers.0.attn.kv" in msg and "has no update" in msg
    assert "transformer.yaml" in msg


def test_verifier_catches_a_misordered_level_list():
    g = run_front(SPECS / "titans-lmm.yaml").full
    with pytest.raises(IRError, match="out of order"):
        verify(g.replace(levels=tuple(reversed(g.levels))), after="x")


@pytest.mark.parametrize("after", PASS_NAMES)
def test_run_until_each_pass(after):
    g = run_until(SPECS / "hope.yaml", after, check=True)
    assert g.passes[-1] in (after, "assign_levels")
    assert print_graph(g) == print_graph(run_until(SPECS / "hope.yaml", after))


GOLDEN = ROOT / "tests" / "golden" / "ir"


@pytest.mark.parametrize("spec", ["transformer", "titans-lmm", "hope"])
def test_ir_printer_golden(spec, record_golden):
    text = print_graph(run_front(SPECS / f"{spec}.yaml").full)
    path = GOLDEN / f"{spec}.txt"
    if record_golden:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run pytest --record-golden"
    assert text == path.read_text(), f"IR of {spec} changed; re-record with --record-golden"
