"""Structural check: expand_outer_cms, isomorphism with kinds/periods/edges, readable diffs."""

from __future__ import annotations

from nlc.ir.nodes import ComputeNode
from nlc.passes.expand_outer_cms import expand_outer_cms
from nlc.pipeline import run_front
from nlc.verify.structural import compare
from nlc.verify.targets import load_doc, source_doc, target_doc
from tests.conftest import SPECS

HOPE_ATTN = SPECS / "hope-attention.yaml"


def _fronts(spec, when, target, target_when):
    sdoc, sl = source_doc(spec, when)
    tdoc, tl = target_doc(target, sdoc, target_when)
    return run_front(load_doc(sdoc, sl)), run_front(load_doc(tdoc, tl))


def test_outer_cms_expands_into_norm_mlp_add_chain():
    src, _ = _fronts(HOPE_ATTN, ["layers.cms.levels=outer"], "transformer", [])
    g = expand_outer_cms(src.collapsed)
    ops = {n.name: n.op for n in g.nodes() if isinstance(n, ComputeNode)}
    assert "layers.0.cms" not in ops
    assert ops["layers.0.cms.level0.norm"] == "norm"
    assert ops["layers.0.cms.level0.mlp"] == "mlp"
    assert g.inputs_of("layers.0.cms.level0.add") == ["layers.0.res1", "layers.0.cms.level0.mlp"]
    assert g.inputs_of("layers.1.norm1") == ["layers.0.cms.level0.add"]
    assert g.tensors["layers.0.cms.level0.mlp.W"] == (
        ("up.weight", (256, 128)),
        ("down.weight", (128, 256)),
    )


def test_in_context_cms_is_not_expanded():
    src, _ = _fronts(HOPE_ATTN, [], "transformer", [])
    g = expand_outer_cms(src.collapsed)
    assert any(n.name == "layers.0.cms" for n in g.nodes())


def test_cms_with_period_at_least_context_folds_then_expands():
    # period 256 = context: the level cannot change within a sequence, so it collapses
    when = ["layers.cms.levels=[{period: 256, hidden: 512}]"]
    src, tgt = _fronts(HOPE_ATTN, when, "transformer", [])
    result = compare(src, tgt)
    assert result.holds, result.differences
    assert result.mapping["layers.0.cms.level0.mlp.W"] == "layers.0.mlp.W"


def test_isomorphic_with_correspondence():
    src, tgt = _fronts(HOPE_ATTN, ["layers.cms.levels=outer"], "transformer",
                       ["layers.mlp.hidden=256"])  # fmt: skip
    result = compare(src, tgt)
    assert result.holds
    assert result.source_periods == result.target_periods == [1, "outer"]
    assert result.mapping["layers.1.cms.level0.norm"] == "layers.1.norm2"
    assert result.mapping["layers.0.attn.kv"] == "layers.0.attn.kv"


def test_short_cms_period_names_the_level_that_does_not_collapse():
    src, tgt = _fronts(HOPE_ATTN, [], "transformer", ["layers.mlp.hidden=256"])
    result = compare(src, tgt)
    assert not result.holds
    text = "\n".join(result.differences)
    assert "layers.0.cms.mlp0 (CMS level 0 of layers.0.cms): does not collapse" in text
    assert "period 32 is shorter than the context 256" in text
    assert "periods differ" in text


def test_width_mismatch_is_a_difference():
    src, tgt = _fronts(HOPE_ATTN, ["layers.cms.levels=outer"], "transformer", [])
    result = compare(src, tgt)  # CMS hidden 256, transformer MLP hidden 512
    assert not result.holds
    assert any("128x512" in line or "512x128" in line for line in result.differences)


def test_different_settings_are_named():
    src, tgt = _fronts(HOPE_ATTN, ["layers.cms.levels=outer"], "transformer",
                       ["layers.mlp.hidden=256", "layers.attn.window=8"])  # fmt: skip
    result = compare(src, tgt)
    assert not result.holds
    assert "attention computes differ in window: None in hope-attention, 8 in transformer" in (
        result.differences
    )
