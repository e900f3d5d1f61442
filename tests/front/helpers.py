"""Small spec builders for front-half tests."""

from __future__ import annotations

import textwrap

import yaml

from nlc.pipeline import FrontResult, run_front
from nlc.spec.load import load_spec_text


def make_spec(
    layer: list[dict],
    *,
    context: int = 64,
    d_model: int = 32,
    n_layers: int = 2,
    optimizer: dict | None = None,
    name: str = "t",
) -> dict:
    """A spec document: embedding, a repeated block `layer`, final norm and tied head."""
    doc = {
        "name": name,
        "model": {
            "vocab_size": 64,
            "d_model": d_model,
            "n_heads": 4,
            "context": context,
            "n_layers": n_layers,
        },
        "components": [
            {"name": "embed", "kind": "embedding"},
            {"name": "layers", "components": layer},
            {"name": "norm_f", "kind": "norm"},
            {"name": "head", "kind": "lm_head", "tie": "embed"},
        ],
    }
    if optimizer is not None:
        doc["optimizer"] = optimizer
    return doc


def front(doc: dict | str) -> FrontResult:
    text = doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False)
    return run_front(load_spec_text(textwrap.dedent(text), "test.yaml"), check=True)


def level_periods(graph) -> list:
    return [lv.period.to_json() for lv in graph.levels]


def level_of(graph, state: str):
    return graph.level_of(state).period.to_json()
