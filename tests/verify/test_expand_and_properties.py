"""expand_outer_cms edge cases, a two-level outer CMS against two MLP sublayers (structure and
numbers), and properties of the structural check on random specs."""

from __future__ import annotations

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from nlc.passes.expand_outer_cms import expand_outer_cms
from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text
from nlc.verify.cli import run_verify
from nlc.verify.structural import compare
from tests.conftest import SPECS
from tests.verify.test_reference import random_specs

HOPE_ATTN = SPECS / "hope-attention.yaml"


def _front(doc: dict):
    return run_front(load_spec_text(yaml.safe_dump(doc, sort_keys=False), "t.yaml"))


def _doc(block: list[dict]) -> dict:
    return {
        "nlc": 1,
        "name": "t",
        "model": {"vocab_size": 32, "d_model": 16, "n_heads": 2, "context": 16, "n_layers": 1},
        "components": [
            {"name": "embed", "kind": "embedding"},
            {"name": "layers", "components": block},
            {"name": "head", "kind": "lm_head"},
        ],
    }


def test_independent_cms_is_not_expanded():
    cms = {"name": "cms", "kind": "cms", "variant": "independent",
           "levels": [{"period": "outer", "hidden": 8}]}  # fmt: skip
    g = expand_outer_cms(_front(_doc([cms])).collapsed)
    assert any(n.name == "layers.0.cms" for n in g.nodes())


def test_folded_level_without_learned_init_vanishes():
    cms = {"name": "cms", "kind": "cms", "learn_init": False,
           "levels": [{"period": 64, "hidden": 8}, {"period": "outer", "hidden": 8}]}  # fmt: skip
    g = expand_outer_cms(_front(_doc([cms])).collapsed)
    names = {n.name for n in g.nodes()}
    assert "layers.0.cms.level1.mlp" in names
    assert "layers.0.cms.level0.mlp" not in names  # a zero MLP: h + 0


def test_two_outer_levels_are_two_mlp_sublayers(tmp_path):
    two = tmp_path / "two-mlps.yaml"
    doc = yaml.safe_load((SPECS / "transformer.yaml").read_text())
    doc["components"][1]["components"] += [
        {"name": "norm3", "kind": "norm"},
        {"name": "mlp2", "kind": "mlp", "hidden": 64, "activation": "silu"},
        {"name": "res3", "kind": "add", "inputs": ["res2", "mlp2"]},
    ]
    doc["components"][1]["components"][4].update(hidden=32, activation="silu")
    two.write_text(yaml.safe_dump(doc, sort_keys=False))
    levels = "layers.cms.levels=[{period: outer, hidden: 32}, {period: outer, hidden: 64}]"
    result = run_verify(str(HOPE_ATTN), str(two),
                        [levels, "layers.cms.activation=silu", "model.d_model=32",
                         "model.context=16"], ["model.d_model=32", "model.context=16",
                                               "model.n_layers=2"], tokens=12)  # fmt: skip
    assert result["holds"], result
    corr = result["structural"]["correspondence"]
    assert corr["layers.1.cms.level1.mlp"] == "layers.1.mlp2"
    assert result["numerical"]["max_output_diff"] < 1e-12


@settings(max_examples=20, deadline=None, derandomize=True)
@given(random_specs())
def test_every_spec_is_isomorphic_to_itself(text):
    a = run_front(load_spec_text(text, "a.yaml"))
    b = run_front(load_spec_text(text, "b.yaml"))
    result = compare(a, b)
    assert result.holds
    assert all(k == v for k, v in result.mapping.items() if not k.startswith("optimizer."))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(random_specs(), st.integers(2, 6))
def test_changing_a_period_breaks_isomorphism_and_is_reported(text, delta):
    doc = yaml.safe_load(text)
    mix = doc["components"][1]["components"][1]
    if "update" not in mix:
        return
    period = mix["update"]["period"]
    mix["update"]["period"] = period + delta
    a = run_front(load_spec_text(text, "a.yaml"))
    b = run_front(load_spec_text(yaml.safe_dump(doc, sort_keys=False), "b.yaml"))
    result = compare(a, b)
    assert not result.holds
    assert any("period" in line for line in result.differences)
