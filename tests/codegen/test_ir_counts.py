"""The IR's parameters are the runtime's: for every shipped spec and 200 random specs, the
outer weights' tensors the front half declares (the tensors of its `weight` states, what `nlc
check` counts) are, name for name and shape for shape, the state_dict of the emitted model
built on the meta device."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlc.codegen.emit import render
from nlc.ir.nodes import StateKind
from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text
from tests.codegen.helpers import load_emitted
from tests.conftest import SPECS, property_examples
from tests.verify.test_reference import random_specs

SLOW = [HealthCheck.too_slow]  # building a model per example is slow by design


def _tensors(text: str, name: str) -> tuple[dict, dict]:
    """(the IR's parameter tensors, the emitted model's state_dict), both name -> shape."""
    front = run_front(load_spec_text(text, name))
    with tempfile.TemporaryDirectory() as tmp:
        for file, content in render(front, name).items():
            (Path(tmp) / file).write_text(content)
        module = load_emitted(Path(tmp))
        with torch.device("meta"):
            model = module.Model(module.Config())
    runtime = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    return front.full.parameters(), runtime


def _counts(text: str, name: str) -> tuple[int, int]:
    front = run_front(load_spec_text(text, name))
    graph = front.full
    ir = sum(graph.param_count(s.name) for s in graph.states() if s.kind == StateKind.WEIGHT)
    _, runtime = _tensors(text, name)
    return ir, sum(torch.Size(shape).numel() for shape in runtime.values())


@pytest.mark.parametrize("spec", sorted(p.name for p in SPECS.glob("*.yaml")))
def test_ir_parameters_are_the_emitted_models(spec):
    ir, runtime = _tensors((SPECS / spec).read_text(), spec)
    assert ir == runtime
    assert (
        sum(torch.Size(s).numel() for s in ir.values())
        == _counts((SPECS / spec).read_text(), spec)[0]
    )


@pytest.mark.parametrize("examples", property_examples(sample=25, full=200))
def test_ir_parameters_are_the_emitted_models_on_random_specs(examples):
    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=SLOW)
    @given(random_specs())
    def check(text):
        ir, runtime = _tensors(text, "random.yaml")
        assert ir == runtime

    check()


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


_MORE_KINDS = [
    {"kind": "conv", "window": 3},
    {"kind": "swiglu"},
    {"kind": "swiglu", "hidden": 24},
    {"kind": "linear", "out": 16, "bias": True},
    {"kind": "norm", "type": "layer"},
    {"kind": "mlp", "expansion": 2, "weights": "frozen"},
    {"kind": "attention", "qk_norm": True, "persistent_tokens": 2},
    {"kind": "self_modifying_titans", "update": {"period": 4, "projection_period": 2}},
    {"kind": "self_modifying_titans", "adaptive_q": False, "conv": None},
    {"kind": "self_modifying_titans", "self_modifying": False, "conv": 2},
    {"kind": "gated_delta"},
    {"kind": "cms", "variant": "independent",
     "levels": [{"period": 4, "lr": 0.001}, {"period": "outer", "expansion": 1}]},
]  # fmt: skip
"""Kinds and options the interpreter's random specs leave out, appended to them as a chain."""


@st.composite
def specs_with_more_kinds(draw):
    doc = yaml.safe_load(draw(random_specs()))
    layer = doc["components"][1]["components"]
    extra = draw(st.lists(st.sampled_from(_MORE_KINDS), min_size=1, max_size=3))
    layer += [{"name": f"extra{i}", **kind} for i, kind in enumerate(extra)]
    if draw(st.booleans()):  # an lm_head with its own weights
        del doc["components"][-1]["tie"]
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.mark.parametrize("examples", property_examples(sample=15, full=100))
def test_ir_parameters_are_the_emitted_models_on_every_kind(examples):
    @settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=SLOW)
    @given(specs_with_more_kinds())
    def check(text):
        ir, runtime = _tensors(text, "random.yaml")
        assert ir == runtime

    check()
