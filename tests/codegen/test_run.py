"""Run the emitted code: it trains, its chunked path equals the per-token reference, the
Transformer equals a hand-written one, and the training step has no graph breaks."""

from __future__ import annotations

import math
import re

import pytest
import torch
import torch.nn.functional as F

from tests.codegen.conftest import CPU_SPECS, GPU_PRESETS
from tests.codegen.helpers import compile_to
from tests.conftest import SPECS


@pytest.fixture(scope="module")
def full_size(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    return compile_to(SPECS / "transformer.yaml", root / "transformer")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


@pytest.mark.slow
@pytest.mark.parametrize("name", CPU_SPECS + GPU_PRESETS)
def test_chunked_equals_naive_reference_in_float64(emitted, name):
    """Outputs, new states and the gradient of every outer parameter agree (1e-9 relative)."""
    mod = emitted[name]
    torch.manual_seed(0)
    fast = mod.Model(mod.Config()).double()
    slow = mod.Model(mod.Config(impl="naive")).double()
    slow.load_state_dict(fast.state_dict())
    # crosses chunk boundaries and leaves a partial chunk (the 4K presets' memories: period 64)
    T = 70 if name.startswith("titans-lmm-") else 40 if name.startswith("hope") else 36
    idx = torch.randint(0, mod.Config().vocab_size, (2, T))
    outs = []
    lm = {"targets": idx.roll(-1, 1)} if fast.uses_targets else {}  # the LM signal learns too
    for model in (fast, slow):
        logits, _ = model(idx, **lm)
        F.cross_entropy(logits.flatten(0, 1), idx.roll(-1, 1).flatten()).backward()
        outs.append(
            (logits, {n: p.grad for n, p in model.named_parameters() if p.grad is not None})
        )
    (y1, g1), (y2, g2) = outs
    assert rel_err(y1, y2) < 1e-9
    # every outer parameter gets a gradient, except a level's target map when that level
    # never updates within the sequence (its update would only affect later tokens)
    assert g1.keys() == g2.keys()
    unused = {n for n, _ in fast.named_parameters()} - set(g1)
    assert all(re.search(r"\.cms\.W_v\.\d+$", n) for n in unused), unused
    for n in g1:
        assert rel_err(g1[n], g2[n]) < 1e-9, n


@pytest.mark.parametrize("name", ["hope", "titans-mac"])
def test_recompute_gives_the_same_loss_and_gradients(emitted, name):
    """Activation checkpointing (Config.recompute, train.py --recompute) changes memory, not
    numbers: float64 gradients equal to the stored-activation run's."""
    mod = emitted[name]
    torch.manual_seed(0)
    plain = mod.Model(mod.Config()).double()
    recompute = mod.Model(mod.Config(recompute=True)).double()
    recompute.load_state_dict(plain.state_dict())
    idx = torch.randint(0, mod.Config().vocab_size, (2, 40))
    grads = []
    for model in (plain, recompute):
        logits, _ = model(idx)
        F.cross_entropy(logits.flatten(0, 1), idx.roll(-1, 1).flatten()).backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys() and grads[0]
    for n in grads[0]:
        assert rel_err(grads[1][n], grads[0][n]) < 1e-12, n


@pytest.mark.parametrize("name", CPU_SPECS)
def test_emitted_model_is_causal_and_returns_state(emitted, name):
    mod = emitted[name]
    torch.manual_seed(1)
    model = mod.Model(mod.Config()).double()
    idx = torch.randint(0, mod.Config().vocab_size, (1, 40))
    y1, state = model(idx)
    idx2 = idx.clone()
    idx2[0, 30] = (idx2[0, 30] + 1) % 256
    y2, _ = model(idx2)
    assert torch.equal(y1[:, :30], y2[:, :30])  # outputs before token 30 do not see it
    assert not torch.allclose(y1[:, 30:], y2[:, 30:])
    assert "layers" in state and len(state["layers"]) == mod.Config().n_layers


@pytest.mark.slow
def test_emitted_train_script_reduces_the_loss(emitted, tmp_path, monkeypatch):
    import importlib.util
    import sys

    folder = SPECS.parent  # compile into a fresh folder so `from model import ...` resolves there
    from nlc.codegen.emit import compile_spec

    compile_spec(SPECS / "transformer.yaml", tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("model", None)
    spec = importlib.util.spec_from_file_location("emitted_train", tmp_path / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    losses = train.main(["--steps", "40", "--batch-size", "8", "--lr", "3e-3", "--device", "cpu"])
    sys.modules.pop("model", None)
    assert len(losses) == 40 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    del folder


# --- an independent, hand-written nanoGPT-style Transformer -------------------------------------
def _rms(x, w, eps=1e-6):
    return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def _rope(x):  # x: (B, H, T, D), rotate-half convention, base 10000
    T, D = x.shape[-2], x.shape[-1]
    freqs = 10000.0 ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)
    angles = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]
    cos, sin = torch.cat([angles.cos()] * 2, -1).to(x), torch.cat([angles.sin()] * 2, -1).to(x)
    x1, x2 = x[..., : D // 2], x[..., D // 2 :]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def hand_written_transformer(p: dict, idx: torch.Tensor, n_layers: int, n_heads: int):
    x = p["embed.weight"][idx]
    B, T, C = x.shape
    for i in range(n_layers):
        pre = f"layers.{i}."
        h = _rms(x, p[pre + "norm1.weight"])
        q, k, v = (h @ p[pre + "attn.qkv.weight"].T).split(C, -1)
        q, k, v = (t.view(B, T, n_heads, C // n_heads).transpose(1, 2) for t in (q, k, v))
        q, k = _rope(q), _rope(k)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(C // n_heads)
        att = att.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C)
        x = x + y @ p[pre + "attn.proj.weight"].T
        h = _rms(x, p[pre + "norm2.weight"])
        x = x + F.gelu(h @ p[pre + "mlp.up.weight"].T) @ p[pre + "mlp.down.weight"].T
    return _rms(x, p["norm_f.weight"]) @ p["embed.weight"].T


def test_emitted_transformer_equals_hand_written_one(full_size):
    mod = full_size
    torch.manual_seed(2)
    model = mod.Model(mod.Config()).double()
    params = dict(model.named_parameters())
    assert set(params) == {
        "embed.weight", "norm_f.weight",
        *(f"layers.{i}.{n}" for i in range(4) for n in [
            "norm1.weight", "attn.qkv.weight", "attn.proj.weight", "norm2.weight",
            "mlp.up.weight", "mlp.down.weight"])}  # fmt: skip
    idx = torch.randint(0, 256, (2, 24))
    ours, _ = model(idx)
    theirs = hand_written_transformer(params, idx, n_layers=4, n_heads=4)
    assert (ours - theirs).abs().max().item() < 1e-10
    g_ours = torch.autograd.grad(ours.square().sum(), list(params.values()))
    g_theirs = torch.autograd.grad(theirs.square().sum(), list(params.values()))
    for a, b in zip(g_ours, g_theirs):
        assert (a - b).abs().max().item() < 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("name", ["transformer", "titans-lmm", "hope"])
def test_training_step_has_no_graph_breaks(emitted, name):
    import torch._dynamo

    mod = emitted[name]
    model = mod.Model(mod.Config())
    idx = torch.randint(0, 256, (1, 20))

    def step(idx):
        logits, _ = model(idx)
        return F.cross_entropy(logits.flatten(0, 1), idx.flatten())

    torch._dynamo.reset()
    explain = torch._dynamo.explain(step)(idx)
    assert explain.graph_break_count == 0, explain.break_reasons
    assert explain.graph_count == 1


PERSIST_SPEC = """\
name: persist-test
model: {vocab_size: 64, d_model: 16, n_heads: 2, context: 16, n_layers: 2}
components:
  - {name: embed, kind: embedding}
  - name: layers
    components:
      - name: kept
        kind: titans_memory
        update: {period: 4, persist: true, optimizer: {kind: momentum, lr: 0.1, momentum: 0.9}}
      - name: reset
        kind: titans_memory
        update: {period: 4, optimizer: {kind: gd, lr: 0.1}}
  - {name: head, kind: lm_head, tie: embed}
"""


def test_only_persistent_states_are_carried(tmp_path):
    spec = tmp_path / "persist.yaml"
    spec.write_text(PERSIST_SPEC)
    mod = compile_to(spec, tmp_path / "out")
    model = mod.Model(mod.Config())
    assert mod.Layers.persist == ("kept",) and mod.Model.persist == ()
    _, state = model(torch.randint(0, 64, (2, 10)))
    kept = mod.persistent_state(model, state)
    assert [set(s) for s in kept["layers"]] == [{"kept"}, {"kept"}]
    finished = model.finish(state)  # t = 10: the partial chunk of period 4 is flushed
    assert torch.equal(kept["layers"][0]["kept"]["W0"], finished["layers"][0]["kept"]["W0"])
    assert not torch.equal(finished["layers"][0]["kept"]["W0"], state["layers"][0]["kept"]["W0"])
    # carrying the state changes the next sequence's outputs; a fresh start does not
    idx = torch.randint(0, 64, (2, 10))
    fresh, _ = model(idx)
    carried, _ = model(idx, kept)
    assert torch.equal(model(idx)[0], fresh) and not torch.allclose(carried, fresh)
