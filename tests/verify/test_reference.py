"""Reference interpreter vs emitted chunk-parallel code (float64): outputs and gradients of all
outer parameters, on every shipped CPU spec (shrunk) and on small random specs."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text
from nlc.verify.differential import compare_with_reference
from tests.codegen.helpers import tiny_spec
from tests.conftest import SPECS

CPU_SPECS = ["transformer", "titans-lmm", "titans-mac", "titans-mag", "titans-mal", "hope",
             "hope-attention", "hope-lm"]  # fmt: skip
TOL = 1e-10


def _assert_agrees(front, tokens=24):
    a = compare_with_reference(front, tokens=tokens)
    assert a.max_output_diff < TOL, a
    assert a.max_grad_diff < TOL, a
    return a


def test_shipped_cpu_specs_agree_with_reference(tmp_path):
    for name in CPU_SPECS:
        path = tiny_spec(SPECS / f"{name}.yaml", tmp_path / f"{name}.yaml")
        _assert_agrees(run_front(path))


def test_interpreter_catches_a_wrong_weight(tmp_path):
    import torch

    from nlc.verify.build import build_model
    from nlc.verify.reference import interpret, reference_model

    front = run_front(tiny_spec(SPECS / "transformer.yaml", tmp_path / "t.yaml"))
    ref = reference_model(front)
    fast = build_model(front, "chunked")
    state = ref.state_dict()
    state["layers.1.mlp.up.weight"] = state["layers.1.mlp.up.weight"] * 1.01
    fast.load_state_dict(state)
    idx = torch.randint(0, 256, (1, 8))
    assert (interpret(front, ref, idx) - fast(idx)[0]).abs().max() > 1e-6


def _mixer(draw) -> list[dict]:
    """The token mixer of a random block (named `mix`), with any memory it reads."""
    kinds = ["attention", "window", "titans_memory", "delta_memory", "linear_attention",
             "titans_dot", "frozen_memory", "mac"]  # fmt: skip
    mixer = draw(st.sampled_from(kinds))
    period = draw(st.integers(1, 8))
    titans = {"name": "mix", "kind": "titans_memory", "depth": draw(st.integers(1, 2)),
              "qk_norm": draw(st.booleans()),
              "conv": draw(st.sampled_from([None, 2])), "residual": draw(st.booleans()),
              "update": {"period": period, "objective": "l2",
                         "partial_chunk": draw(st.sampled_from(["flush", "drop"])),
                         "optimizer": {"kind": "momentum", "lr": "data_dependent",
                                       "momentum": "data_dependent",
                                       "retention": "data_dependent",
                                       "normalize": draw(st.booleans()),
                                       "clip": draw(st.sampled_from([None, 0.05]))}}}  # fmt: skip
    if mixer == "attention":
        return [{"name": "mix", "kind": "attention", "qk_norm": draw(st.booleans())}]
    if mixer == "window":
        return [{"name": "mix", "kind": "attention", "window": draw(st.integers(2, 8)),
                 "persistent_tokens": draw(st.integers(0, 2)),
                 "qk_norm": draw(st.booleans())}]  # fmt: skip
    if mixer == "delta_memory":
        return [{"name": "mix", "kind": "delta_memory", "learn_init": draw(st.booleans()),
                 "update": {"period": period, "objective": "l2",
                            "optimizer": {"kind": "gd", "lr": "data_dependent"}}}]  # fmt: skip
    if mixer == "linear_attention":
        return [{"name": "mix", "kind": "linear_attention", "learn_init": draw(st.booleans()),
                 "update": {"period": period, "objective": "dot",
                            "optimizer": {"kind": "gd", "lr": 1.0}}}]  # fmt: skip
    if mixer == "titans_dot":
        titans["update"]["objective"] = "dot"
        return [titans]
    if mixer == "frozen_memory":
        return [{"name": "mix", "kind": "frozen_memory", "depth": draw(st.integers(1, 2)),
                 "conv": draw(st.sampled_from([None, 3]))}]  # fmt: skip
    if mixer == "mac":  # segment attention over [persistent; memory readout; segment]
        segment = draw(st.integers(2, 6))
        titans.update(name="mem")
        titans["update"]["period"] = segment
        return [titans, {"name": "mix", "kind": "attention", "segment": segment,
                         "persistent_tokens": draw(st.integers(0, 2)),
                         "qk_norm": draw(st.booleans()), "inputs": ["n1", "mem"]}]  # fmt: skip
    return [titans]


def _hidden(draw) -> dict:
    """An MLP's hidden width: absolute channels or a multiple of its input width."""
    return draw(st.sampled_from([{"hidden": 16}, {"expansion": 1}, {"expansion": 2}]))


def _layer(draw) -> list[dict]:
    """A random residual block from the emittable kinds, with random periods."""
    block = [{"name": "n1", "kind": "norm"}, *_mixer(draw),
             {"name": "r1", "kind": "add", "inputs": ["in", "mix"]}]  # fmt: skip
    if draw(st.booleans()):
        periods = sorted(draw(st.lists(st.integers(2, 12), min_size=0, max_size=2, unique=True)))
        # lr x period x width stays under the stable bound at twice the width (test_config)
        levels = [{"period": p, **_hidden(draw), "lr": 0.0025} for p in periods]
        if levels and draw(st.booleans()):  # the fastest level with momentum
            levels[0].update(optimizer="momentum", momentum=0.5)
        levels.append({"period": "outer", **_hidden(draw)})
        block.append({"name": "cms", "kind": "cms", "levels": levels,
                      "variant": draw(st.sampled_from(["sequential", "independent", "nested"])),
                      "signal": draw(st.sampled_from(["local", "lm"]))})  # fmt: skip
    else:
        block += [{"name": "n2", "kind": "norm"}, {"name": "mlp", "kind": "mlp", **_hidden(draw)},
                  {"name": "r2", "kind": "add", "inputs": ["r1", "mlp"]}]  # fmt: skip
    return block


@st.composite
def random_specs(draw):
    doc = {
        "nlc": 1,
        "name": "random",
        "model": {
            "vocab_size": 32,
            "d_model": 16,
            "n_heads": 2,
            "context": 32,
            "n_layers": draw(st.integers(1, 2)),
        },  # fmt: skip
        "components": [
            {"name": "embed", "kind": "embedding"},
            {"name": "layers", "components": _layer(draw)},
            {"name": "norm_f", "kind": "norm"},
            {"name": "head", "kind": "lm_head", "tie": "embed"},
        ],
        "optimizer": {"kind": "adamw", "lr": 1.0e-3},
    }
    return yaml.safe_dump(doc, sort_keys=False)


@settings(
    max_examples=16, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(random_specs(), st.integers(5, 16))
def test_random_specs_agree_with_reference(text, tokens):
    _assert_agrees(run_front(load_spec_text(text, "random.yaml")), tokens=tokens)


@settings(max_examples=6, deadline=None, derandomize=True)
@given(random_specs(), st.integers(1, 10))
def test_reference_is_causal(text, t):
    """docs/design.md: perturbing token t leaves every output before t unchanged."""
    import torch

    from nlc.verify.reference import interpret, reference_model

    front = run_front(load_spec_text(text, "random.yaml"))
    model = reference_model(front)
    idx = torch.randint(0, 32, (1, 12), generator=torch.Generator().manual_seed(t))
    other = idx.clone()
    other[0, t] = (idx[0, t] + 1) % 32
    with torch.no_grad():
        a, b = interpret(front, model, idx), interpret(front, model, other)
    assert (a[:, :t] - b[:, :t]).abs().max().item() == 0.0
    assert (a[:, t:] - b[:, t:]).abs().max().item() > 0.0


def test_interpreter_steps_token_by_token(tmp_path, monkeypatch):
    """The interpreter owns the clock: no stateful module ever sees more than one token."""
    import torch
    from nlc_runtime.layers.attention import Attention
    from nlc_runtime.memories.cms import CMS
    from nlc_runtime.memories.selfmod import SelfModifyingTitans
    from nlc_runtime.memories.titans import NeuralMemory

    from nlc.verify.reference import interpret, reference_model

    seen = []
    for cls in (NeuralMemory, SelfModifyingTitans, CMS, Attention):
        original = cls.__call__

        def spy(self, x, *a, _original=original, **kw):
            seen.append(x.shape[1])
            return _original(self, x, *a, **kw)

        monkeypatch.setattr(cls, "__call__", spy)
    for name in ("hope", "titans-mal"):
        front = run_front(tiny_spec(SPECS / f"{name}.yaml", tmp_path / f"{name}.yaml"))
        with torch.no_grad():
            interpret(front, reference_model(front), torch.randint(0, 64, (1, 9)))
    assert seen and set(seen) == {1}
