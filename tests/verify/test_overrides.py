"""`--when` override syntax: paths by key, index and component name; YAML values; errors."""

from __future__ import annotations

import pytest

from nlc.errors import SpecError
from nlc.spec.overrides import apply_overrides, parse_override

DOC = {
    "model": {"context": 64},
    "components": [
        {"name": "embed", "kind": "embedding"},
        {
            "name": "layers",
            "components": [
                {"name": "cms", "kind": "cms", "levels": [{"period": 8, "hidden": 16},
                                                          {"period": "outer", "hidden": 32}]},
            ],
        },
    ],
}  # fmt: skip


def test_parse_yaml_values():
    assert parse_override("a.b=outer") == (["a", "b"], "outer")
    assert parse_override("a=0") == (["a"], 0)
    assert parse_override("a=[{period: 4}]") == (["a"], [{"period": 4}])


def test_component_names_keys_and_new_keys():
    doc = apply_overrides(DOC, ["model.context=128", "layers.cms.activation=silu"])
    assert doc["model"]["context"] == 128
    assert doc["components"][1]["components"][0]["activation"] == "silu"
    assert DOC["model"]["context"] == 64  # the input is not mutated


def test_levels_shorthand_keeps_the_slowest_level():
    doc = apply_overrides(DOC, ["layers.cms.levels=outer"])
    assert doc["components"][1]["components"][0]["levels"] == [{"period": "outer", "hidden": 32}]


@pytest.mark.parametrize("text", ["nokey", "layers.nope.x=1", "a..b=1", "embed.kind.x=1"])
def test_bad_overrides_are_spec_errors(text):
    with pytest.raises(SpecError):
        apply_overrides(DOC, [text])
