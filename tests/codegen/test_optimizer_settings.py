"""The emitted optimizer settings are exactly the spec's: train.py's constants
(AdamW / SGD) or its OPTIMIZER mapping (every other rule) hold the spec's `optimizer` values,
the schema's defaults for what the spec leaves out, and a comment marks exactly those."""

from __future__ import annotations

import ast
import json

import pytest
import yaml

from nlc.spec.load import load_spec_text
from tests.codegen.helpers import render_text
from tests.conftest import SPECS

CONSTANTS = {"weight_decay": "WEIGHT_DECAY", "betas": "BETAS", "eps": "EPS",
             "momentum": "MOMENTUM", "nesterov": "NESTEROV"}  # fmt: skip
DEFAULTED = "# the spec schema's default (the spec does not set it)"


def _with_optimizer(optimizer: dict) -> str:
    doc = yaml.safe_load((SPECS / "transformer.yaml").read_text())
    doc["optimizer"] = optimizer
    return yaml.safe_dump(doc, sort_keys=False)


CASES = {
    **{p.stem: p.read_text() for p in sorted(SPECS.glob("*.yaml"))},
    "m3": (SPECS / "optimizers" / "transformer-m3.yaml").read_text(),
    "adamw-bare": _with_optimizer({"kind": "adamw"}),
    "adamw-all": _with_optimizer(
        {"kind": "adamw", "lr": 2.0e-3, "betas": [0.8, 0.9], "eps": 1.0e-6, "weight_decay": 0.0}
    ),  # fmt: skip
    "sgd-bare": _with_optimizer({"kind": "sgd"}),
    "sgd-nesterov": _with_optimizer({"kind": "sgd", "momentum": 0.5, "nesterov": True}),
    "muon": _with_optimizer({"kind": "muon", "momentum": 0.9}),
}


def _plain(value):
    """Tuples as lists, to compare literals with the spec's values."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("case", sorted(CASES))
def test_emitted_optimizer_settings_are_the_specs(case):
    spec = load_spec_text(CASES[case], "spec.yaml").spec.optimizer
    text = render_text(CASES[case])["train.py"]
    values = {
        node.targets[0].id: (ast.literal_eval(node.value), node.lineno)
        for node in ast.parse(text).body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id.isupper() and isinstance(node.value, (ast.Constant, ast.Tuple, ast.Dict))
    }  # fmt: skip
    lines = text.splitlines()
    assert values["LR"][0] == spec.lr
    if "OPTIMIZER" in values:  # every other rule: the whole section but its lr
        expected = spec.model_dump(exclude={"lr"})
        assert _plain(values["OPTIMIZER"][0]) == _plain(expected)
        return
    for field, name in CONSTANTS.items():
        if field not in type(spec).model_fields:
            assert name not in values
            continue
        value, line = values[name]
        want = getattr(spec, field)
        assert _plain(value) == _plain(want), field
        assert lines[line - 1].endswith(DEFAULTED) == (field not in spec.model_fields_set), field
