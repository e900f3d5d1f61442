"""Emission of the memory kinds whose options were added for `nlc verify`: the residual Titans
memory, per-gate constants (lr 0 with data-dependent momentum) and the frozen memory map."""

from __future__ import annotations

import yaml

from tests.codegen.helpers import render_text


def _spec(memory: dict) -> str:
    doc = {
        "nlc": 1,
        "name": "m",
        "model": {"vocab_size": 32, "d_model": 16, "n_heads": 2, "context": 16, "n_layers": 1},
        "components": [
            {"name": "embed", "kind": "embedding"},
            {"name": "memory", **memory},
            {"name": "head", "kind": "lm_head"},
        ],
        "optimizer": {"kind": "adamw", "lr": 1.0e-3},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def test_residual_and_per_gate_constants_reach_the_runtime():
    text = render_text(_spec({"kind": "titans_memory", "residual": True, "update": {
        "period": 4, "optimizer": {"kind": "momentum", "lr": 0, "momentum": "data_dependent",
                                   "retention": "data_dependent"}}}))["model.py"]  # fmt: skip
    flat = " ".join(text.split())
    assert "residual=True" in flat
    assert 'gates=("const", "data", "data")' in flat and "lr_const=0.0" in flat


def test_frozen_memory_is_emitted_as_the_runtime_read_path():
    text = render_text(_spec({"kind": "frozen_memory", "depth": 1, "conv": None}))["model.py"]
    assert "from nlc_runtime.frozen import FrozenMemory" in text
    flat = " ".join(text.split())
    assert (
        "FrozenMemory( 16, n_heads=2, depth=1, expansion=2.0, residual=False, conv=False," in flat
    )


def test_linear_attention_and_the_dot_objective_are_emitted():
    text = render_text(_spec({"kind": "linear_attention"}))["model.py"]
    flat = " ".join(text.split())
    assert "from nlc_runtime.linear_attention import LinearAttention" in flat
    assert (
        "LinearAttention( 16, n_heads=2, depth=1, expansion=1.0, residual=False, chunk=1," in flat
    )
    assert 'gates="const", lr_max=0.1, lr_const=1.0' in flat and 'objective="dot"' in flat
    titans = render_text(_spec({"kind": "titans_memory", "update": {
        "period": 2, "objective": "dot", "optimizer": {"kind": "gd", "lr": 1}}}))["model.py"]  # fmt: skip
    assert 'objective="dot"' in titans


def test_unsupported_memory_options_are_clear_errors(tmp_path, capsys):
    from nlc.cli import main

    for memory, field in [
        ({"kind": "linear_attention", "feature_map": "elu1"}, "feature_map"),
        ({"kind": "titans_memory", "update": {"objective": "dot", "optimizer": {"kind": "dgd"}}},
         "update.optimizer.kind"),
    ]:  # fmt: skip
        path = tmp_path / "m.yaml"
        path.write_text(_spec(memory))
        assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"{path}:" in err and field in err and "Traceback" not in err
