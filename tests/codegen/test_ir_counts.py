"""The IR's parameter shapes are the runtime's: for every shipped spec and 200 random specs,
the parameters the front half counts (the outer weights of its `W` states, what `nlc check`
prints) are exactly those of the emitted model, built on the meta device."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from nlc.codegen.emit import render
from nlc.ir.nodes import StateKind
from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text
from tests.codegen.helpers import load_emitted
from tests.conftest import SPECS
from tests.verify.test_reference import random_specs


def _counts(text: str, name: str) -> tuple[int, int]:
    front = run_front(load_spec_text(text, name))
    graph = front.full
    ir = sum(graph.param_count(s.name) for s in graph.states() if s.kind == StateKind.WEIGHT)
    with tempfile.TemporaryDirectory() as tmp:
        for file, content in render(front, name).items():
            (Path(tmp) / file).write_text(content)
        module = load_emitted(Path(tmp))
        with torch.device("meta"):
            model = module.Model(module.Config())
    return ir, sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_ir_parameters_are_the_emitted_models(spec):
    ir, runtime = _counts((SPECS / spec).read_text(), spec)
    assert ir == runtime


@settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(random_specs())
def test_ir_parameters_are_the_emitted_models_on_random_specs(text):
    ir, runtime = _counts(text, "random.yaml")
    assert ir == runtime


def test_check_json_prints_the_emitted_models_counts(capsys):
    """`nlc check --json`: parameters and trainable are the emitted model's; the optimizer's
    moments are counted as its state, never as parameters."""
    import json

    from nlc.cli import main

    assert main(["check", "hope", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ir, runtime = _counts((SPECS / "hope.yaml").read_text(), "hope.yaml")
    assert doc["spec"] == "hope" and doc["parameters"] == doc["trainable"] == runtime
    assert doc["optimizer_state"] == 2 * runtime  # AdamW: two moments per parameter
    assert {"levels", "order", "collapsed"} <= doc.keys()
