"""Emission of the memory kinds whose options were added for `nlc verify`: the residual Titans
memory, per-gate constants (lr 0 with data-dependent momentum) and the frozen memory map; gate
ranges and starts; clear refusals of the options the runtime cannot run yet."""

from __future__ import annotations

import torch
import yaml
from nlc_runtime.exec.stream import run

from tests.codegen.helpers import load_emitted, render_text


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
    assert "from nlc_runtime.memories.frozen import FrozenMemory" in text
    flat = " ".join(text.split())
    assert (
        "FrozenMemory( cfg.d_model, n_heads=cfg.n_heads, depth=1, expansion=2.0, residual=False, conv=False,"
        in flat
    )


def test_linear_attention_and_the_dot_objective_are_emitted():
    text = render_text(_spec({"kind": "linear_attention"}))["model.py"]
    flat = " ".join(text.split())
    assert "from nlc_runtime.memories.linear_attention import LinearAttention" in flat
    assert (
        "LinearAttention( cfg.d_model, n_heads=cfg.n_heads, depth=1, expansion=1.0, residual=False, chunk=1,"
        in flat
    )
    assert 'gates="const", lr_const=1.0' in flat and 'objective="dot"' in flat
    titans = render_text(_spec({"kind": "titans_memory", "update": {
        "period": 2, "objective": "dot", "optimizer": {"kind": "gd", "lr": 1}}}))["model.py"]  # fmt: skip
    assert 'objective="dot"' in titans


def test_unsupported_memory_options_are_clear_errors(tmp_path, capsys):
    from nlc.cli import main

    selfmod = {"kind": "self_modifying_titans"}
    for memory, field in [
        ({"kind": "linear_attention", "feature_map": "elu1"}, "feature_map"),
        ({"kind": "delta_memory", "feature_map": "elu1"}, "feature_map"),
        ({"kind": "titans_memory", "update": {"objective": "dot", "optimizer": {"kind": "dgd"}}},
         "update.optimizer.kind"),
        ({"kind": "titans_memory", "learn_init": False}, "learn_init"),
        ({**selfmod, "learn_init": False}, "learn_init"),
        ({**selfmod, "update": {"optimizer": {"kind": "dgd", "lr": 0.1,
                                              "retention": "data_dependent"}}},
         "update.optimizer.lr"),
        ({**selfmod, "update": {"optimizer": {"kind": "dgd", "lr": "data_dependent"}}},
         "update.optimizer.retention"),
        ({"kind": "titans_memory", "update": {"optimizer": {
            "kind": "momentum", "momentum": {"data_dependent": True, "max": 1.5}}}},
         "update.optimizer.momentum.max"),
        ({"kind": "titans_memory", "update": {"optimizer": {
            "lr": {"data_dependent": True, "max": 0.1, "init": 0.2}}}},
         "update.optimizer.lr.init"),
    ]:  # fmt: skip
        path = tmp_path / "m.yaml"
        path.write_text(_spec(memory))
        assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert f"{path}:" in err and field in err and "Traceback" not in err


def test_gate_ranges_and_starts_reach_the_runtime(tmp_path):
    """`max` and `init` of data-dependent gates are emitted (and only when the spec sets them),
    and the emitted memories start their gates at those values."""
    titans = {"kind": "titans_memory", "update": {"period": 4, "optimizer": {
        "kind": "momentum", "lr": {"data_dependent": True, "max": 0.2, "init": 0.05},
        "momentum": {"data_dependent": True, "max": 0.5, "init": 0.25},
        "retention": {"data_dependent": True, "init": 0.1}}}}  # fmt: skip
    selfmod = {"kind": "self_modifying_titans", "update": {"optimizer": {
        "kind": "dgd", "lr": {"data_dependent": True, "max": 0.2, "init": 0.02},
        "retention": {"data_dependent": True, "init": 0.05}}}}  # fmt: skip
    plain = " ".join(render_text(_spec({"kind": "titans_memory"}))["model.py"].split())
    assert "gate_start" not in plain and "mom_max" not in plain
    clipped = render_text(_spec({"kind": "titans_memory", "update": {"optimizer": {"clip": 0.5}}}))
    assert "clip=0.5" in " ".join(clipped["model.py"].split())
    for memory, emitted in [
        (titans, "mom_max=0.5, gate_start=(0.05, 0.25, 0.1)"),
        (selfmod, "lr_max=0.2, lr_start=0.02, forget_start=0.05"),
    ]:
        files = render_text(_spec(memory))
        assert emitted in " ".join(files["model.py"].split())
        out = tmp_path / memory["kind"]
        out.mkdir()
        for name, text in files.items():
            (out / name).write_text(text)
        module = load_emitted(out)
        torch.manual_seed(0)
        mem = module.Model(module.Config()).memory
        x = torch.zeros(1, 3, 16)  # zero input: every gate sits at its bias
        if memory is titans:
            lr, mom, decay = mem.gate_values(x)
            for got, want in ((lr, 0.05), (mom, 0.25), (1 - decay, 0.1)):
                assert torch.allclose(got, torch.full_like(got, want), atol=1e-6)
        else:
            eta = mem.lr_max * torch.sigmoid(mem.eta_b)
            alpha = torch.sigmoid(mem.alpha_b)
            assert torch.allclose(eta, torch.full_like(eta, 0.02))
            assert torch.allclose(1 - alpha, torch.full_like(alpha, 0.05))


def test_a_matrix_memory_without_a_learned_init_starts_at_zero(tmp_path):
    """learn_init: false is M_0 = 0 (linear attention / DeltaNet as written): no initial-state
    parameters, a zero state, and the memory still learns in context."""
    files = render_text(_spec({"kind": "linear_attention", "learn_init": False}))
    assert "learn_init=False" in " ".join(files["model.py"].split())
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    module = load_emitted(tmp_path)
    mem = module.Model(module.Config()).memory
    assert not any("init" in name for name, _ in mem.named_parameters())
    x = torch.randn(2, 6, 16)
    assert torch.equal(mem.init_state(2)["W0"], torch.zeros(2, 2, 8, 8))
    _, state = run(mem, x)
    assert state["W0"].abs().max() > 0


def test_persisted_cms_levels_carry_over_and_the_others_restart(tmp_path):
    levels = [{"period": 2, "hidden": 8, "lr": 0.01, "persist": True},
              {"period": 4, "hidden": 8, "lr": 0.01}, {"period": "outer", "hidden": 8}]  # fmt: skip
    files = render_text(_spec({"kind": "cms", "signal": "local", "levels": levels}))
    assert "persist=(0,)" in " ".join(files["model.py"].split())
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    module = load_emitted(tmp_path)
    torch.manual_seed(0)
    model = module.Model(module.Config())
    first, second = torch.randint(0, 32, (2, 2, 8))
    _, state = model(first, None)
    carried = module.persistent_state(model, state)
    assert set(carried["memory"]) == {"L0"}  # only the persisted level
    assert not torch.equal(carried["memory"]["L0"]["W0"], model.memory.init_state(2)["L0"]["W0"])
    logits, _ = model(second, carried)
    # = level 0 from the first sequence's end, levels 1 and 2 from their initial state
    explicit = {**model.memory.init_state(2), "L0": state["memory"]["L0"]}
    expected, _ = model(second, {"memory": explicit})
    assert torch.equal(logits, expected)
    fresh, _ = model(second, None)
    assert (logits - fresh).abs().max() > 0
