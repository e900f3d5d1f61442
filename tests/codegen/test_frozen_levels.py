"""Frozen means frozen: every weight the IR declares frozen (`weights: frozen` on any kind with
parameters, a CMS level of period `frozen`) is, in the emitted model, a parameter without
gradient that the emitted train.py's optimizer never holds, bit-identical after optimizer
steps, while the weights declared trained move."""

from __future__ import annotations

import importlib.util
import sys
import uuid

import pytest
import torch
import torch.nn.functional as F
import yaml

from nlc.codegen.emit import render
from nlc.errors import SpecError
from nlc.ir.nodes import StateKind
from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text
from tests.codegen.helpers import load_emitted

EMBED = {"name": "embed", "kind": "embedding"}
HEAD = {"name": "head", "kind": "lm_head"}
FROZEN = {"weights": "frozen"}


def _cms(levels: list, **fields) -> dict:
    levels = [{"period": p, "hidden": 16} for p in levels]
    return {"name": "cms", "kind": "cms", "levels": levels, **fields}


# case -> the components of the block `layers` (1 layer) between the embedding and the head;
# `embedding` and `lm_head` put the frozen weights on the model's own components instead
BLOCKS: dict[str, list[dict]] = {
    "embedding": [{"name": "norm", "kind": "norm"}],
    "lm_head": [{"name": "norm", "kind": "norm"}],
    "norm": [{"name": "norm", "kind": "norm", **FROZEN}],
    "layer_norm": [{"name": "norm", "kind": "norm", "type": "layer", **FROZEN}],
    "attention": [{"name": "attn", "kind": "attention", "persistent_tokens": 2, **FROZEN}],
    "mlp": [{"name": "mlp", "kind": "mlp", "hidden": 32, **FROZEN}],
    "swiglu": [{"name": "ffn", "kind": "swiglu", "hidden": 32, **FROZEN}],
    "linear": [{"name": "proj", "kind": "linear", "out": 16, "bias": True, **FROZEN}],
    "conv": [{"name": "conv", "kind": "conv", **FROZEN}],
    "gate": [
        {"name": "mlp", "kind": "mlp", "hidden": 32},
        {"name": "gate", "kind": "gate", "inputs": ["in", "mlp"], **FROZEN},
    ],
    "linear_attention": [{"name": "mem", "kind": "linear_attention", **FROZEN}],
    "delta_memory": [{"name": "mem", "kind": "delta_memory", **FROZEN}],
    "gated_delta": [{"name": "mem", "kind": "gated_delta", **FROZEN}],
    "titans_memory": [{"name": "mem", "kind": "titans_memory", "update": {"period": 4}, **FROZEN}],
    "self_modifying_titans": [
        {
            "name": "mem",
            "kind": "self_modifying_titans",
            "update": {"period": 4, "projection_period": 2},
            **FROZEN,
        }
    ],
    "self_modifying_titans_static": [
        {
            "name": "mem",
            "kind": "self_modifying_titans",
            "self_modifying": False,
            "update": {"period": 4},
            **FROZEN,
        }
    ],
    "frozen_memory": [{"name": "mem", "kind": "frozen_memory", **FROZEN}],
    "cms_weights": [_cms([4, "outer"], **FROZEN)],
    # CMS levels of period frozen (the weights of the others train)
    "cms_level": [_cms([4, "frozen", "outer"])],
    "cms_level_lm": [_cms(["frozen", 4], signal="lm")],
    "cms_level_momentum": [
        {
            **_cms([2, 4, "frozen"]),
            "levels": [
                {"period": 2, "hidden": 16, "optimizer": "momentum"},
                {"period": 4, "hidden": 16},
                {"period": "frozen", "hidden": 16},
            ],
        }
    ],
    "cms_level_nested": [_cms([2, "frozen", 8], variant="nested")],
    "cms_level_independent": [_cms(["frozen", "outer"], variant="independent")],
    "cms_level_independent_in_context": [_cms(["frozen", 4], variant="independent")],
    "cms_level_all_independent": [_cms(["frozen", "frozen"], variant="independent")],
}


def _spec(case: str) -> str:
    embed = {**EMBED, **FROZEN} if case == "embedding" else EMBED
    head = {**HEAD, **FROZEN} if case == "lm_head" else HEAD
    doc = {
        "nlc": 1,
        "name": "frozen",
        "model": {"vocab_size": 32, "d_model": 16, "n_heads": 2, "context": 16, "n_layers": 1},
        "components": [embed, {"name": "layers", "components": BLOCKS[case]}, head],
        "optimizer": {"kind": "adamw", "lr": 1.0e-2},
    }
    return yaml.safe_dump(doc, sort_keys=False)


def _build(case: str, tmp_path, monkeypatch):
    """The emitted model, the emitted train.py's `make_optimizer`, the names the IR declares
    frozen (`<component>.<tensor>`, the state_dict keys) and model.py's text."""
    front = run_front(load_spec_text(_spec(case), "frozen.yaml"))
    files = render(front, "frozen.yaml")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    module = load_emitted(tmp_path)
    monkeypatch.setitem(sys.modules, "model", module)  # train.py's `from model import ...`
    spec = importlib.util.spec_from_file_location(
        f"train_{uuid.uuid4().hex}", tmp_path / "train.py"
    )
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    graph = front.full
    frozen = {
        f"{s.component}.{tensor}"
        for s in graph.states()
        if s.kind == StateKind.WEIGHT and s.period.is_frozen
        for tensor, _ in graph.tensors[s.name]
    }
    return module, train.make_optimizer, frozen, files["model.py"]


@pytest.mark.parametrize("case", list(BLOCKS))
def test_frozen_weights_get_no_gradient_no_optimizer_state_and_never_change(
    case, tmp_path, monkeypatch
):
    module, make_optimizer, frozen, text = _build(case, tmp_path, monkeypatch)
    torch.manual_seed(0)
    model = module.Model(module.Config())
    params = dict(model.named_parameters())
    assert frozen and frozen <= set(params), sorted(frozen - set(params))
    # exactly the declared tensors are frozen: the rest of the model trains
    assert {n for n, p in params.items() if not p.requires_grad} == frozen
    if case.startswith("cms_level"):  # the emitted code states the frozen levels
        assert "frozen=(" in text
    before = {n: p.detach().clone() for n, p in params.items()}
    opt = make_optimizer(model, 1e-2, "cpu")
    assert isinstance(opt, torch.optim.AdamW)
    idx = torch.randint(0, 32, (2, 16), generator=torch.Generator().manual_seed(0))
    targets = idx.roll(-1, 1)
    for _ in range(3):
        lm = {"targets": targets} if model.uses_targets else {}
        logits, _ = model(idx, **lm)
        F.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    held = {id(p) for group in opt.param_groups for p in group["params"]}
    for name in frozen:
        p = params[name]
        assert not p.requires_grad and p.grad is None, name
        assert id(p) not in held and p not in opt.state, name
        assert torch.equal(p.detach(), before[name]), f"{name} changed"
    moved = [n for n in params if n not in frozen and not torch.equal(params[n], before[n])]
    assert moved, "no trained weight changed: the steps did nothing"
    own = [n for n in params if n.startswith("layers.0.cms.") and n not in frozen]
    if own:  # a CMS's trained weights (its other levels, its block-wide ones) moved
        assert set(own) & set(moved), own


def test_frozen_static_projections_are_refused():
    """With self_modifying: false the k, v, q projections are ordinary weights of the
    component: `projection_period: frozen` cannot freeze them alone, so it is an error (not a
    frozen period that trains)."""
    doc = yaml.safe_load(_spec("self_modifying_titans_static"))
    mem = doc["components"][1]["components"][0]
    mem.pop("weights")
    mem["update"]["projection_period"] = "frozen"
    with pytest.raises(SpecError, match="weights: frozen"):
        run_front(load_spec_text(yaml.safe_dump(doc), "frozen.yaml"))
