"""Kind `gated_delta`, added as one module (nlc/kinds/gated_delta.py) and no other change to
the compiler: it parses with its defaults, lowers to a per-token memory, emits the runtime's
`NeuralMemory` with the forgetting gate, is the `delta_memory` family member with a
data-dependent retention, and its emitted code agrees with the reference interpreter."""

from __future__ import annotations

import yaml

from nlc.kinds.delta_memory import DeltaMemory
from nlc.kinds.gated_delta import GatedDelta
from nlc.passes.canonical_memory import memory_signature
from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text
from nlc.verify.differential import compare_with_reference
from tests.codegen.helpers import render_text

GATED = {"period": 1, "objective": "l2",
         "optimizer": {"kind": "gd", "lr": "data_dependent", "retention": "data_dependent"}}  # fmt: skip


def _spec(**memory) -> str:
    doc = {
        "nlc": 1,
        "name": "gated",
        "model": {"vocab_size": 32, "d_model": 16, "n_heads": 2, "context": 32, "n_layers": 2},
        "components": [
            {"name": "embed", "kind": "embedding"},
            {"name": "layers", "components": [
                {"name": "n1", "kind": "norm"},
                {"name": "mix", "kind": "gated_delta", **memory},
                {"name": "r1", "kind": "add", "inputs": ["in", "mix"]},
                {"name": "n2", "kind": "norm"},
                {"name": "mlp", "kind": "mlp"},
                {"name": "r2", "kind": "add", "inputs": ["r1", "mlp"]}]},
            {"name": "norm_f", "kind": "norm"},
            {"name": "head", "kind": "lm_head", "tie": "embed"},
        ],
        "optimizer": {"kind": "adamw", "lr": 1.0e-3},
    }  # fmt: skip
    return yaml.safe_dump(doc, sort_keys=False)


def test_it_lowers_to_a_memory_updated_every_token():
    graph = run_front(load_spec_text(_spec(), "gated.yaml")).full
    memory = graph.node("layers.0.mix.M")
    assert str(memory.period) == "1" and memory.kind.value == "memory"
    assert "layers.0.mix.S" not in graph.nx  # gd: no momentum


def test_it_emits_the_neural_memory_with_its_forgetting_gate():
    text = " ".join(render_text(_spec())["model.py"].split())
    assert "from nlc_runtime.memories.titans import NeuralMemory" in text
    assert "NeuralMemory( cfg.d_model, n_heads=cfg.n_heads, depth=1," in text
    assert "forget=True" in text and 'delta="none"' in text and 'gates="data"' in text


def test_it_is_delta_memory_with_a_data_dependent_retention():
    gated = memory_signature(GatedDelta(name="m", kind="gated_delta"))
    assert gated == memory_signature(DeltaMemory(name="m", kind="delta_memory", update=GATED))
    assert gated != memory_signature(DeltaMemory(name="m", kind="delta_memory"))


def test_the_emitted_code_agrees_with_the_reference_interpreter():
    for memory in ({}, {"learn_init": False, "update": {**GATED, "period": 3}}):
        agreement = compare_with_reference(run_front(load_spec_text(_spec(**memory), "g.yaml")))
        assert agreement.max_output_diff < 1e-10, agreement
        assert agreement.max_grad_diff < 1e-10, agreement
