"""Attention (SDPA vs explicit softmax, windows, persistent prefix, RoPE), causality of every
block (perturbing token t leaves outputs before t unchanged, also through in-context updates),
and state persistence."""

import pytest
import torch
from nlc_runtime.attention import Attention, mac_mask
from nlc_runtime.blocks import (
    HopeAttentionBlock,
    HopeBlock,
    TitansBlock,
    TitansLMMBlock,
    TransformerBlock,
)
from nlc_runtime.rope import apply_rope, rope_cos_sin
from nlc_runtime.testing import assert_rel_close

pytestmark = pytest.mark.usefixtures("f64")


@pytest.mark.parametrize("window,prefix", [(None, 0), (5, 0), (None, 3), (4, 2)])
def test_sdpa_equals_naive(window, prefix):
    torch.manual_seed(0)
    a = Attention(16, 4, window=window, n_persistent=prefix)
    x = torch.randn(2, 11, 16)
    y1 = a(x)
    a.impl = "naive"
    assert_rel_close(y1, a(x), 1e-12)


def test_qk_norm_normalises_each_head_before_rope_in_both_paths():
    torch.manual_seed(0)
    a = Attention(32, 4, window=5, qk_norm=True)
    x = 3 * torch.randn(2, 12, 32)
    q, k, _ = a.qkv_heads(x)
    for t in (q, k):  # unit RMS over each head's width (gain 1 at init)
        assert torch.allclose(t.square().mean(-1), torch.ones_like(t[..., 0]), atol=1e-9)
    y = a(x)
    a.impl = "naive"
    assert_rel_close(y, a(x), 1e-12)
    plain = Attention(32, 4, window=5)
    plain.load_state_dict(a.state_dict(), strict=False)
    assert (plain(x) - y).abs().max() > 1e-3  # the norm changes the output


def test_sliding_window_forgets_beyond_window():
    torch.manual_seed(0)
    a = Attention(16, 4, window=3)
    x = torch.randn(1, 10, 16)
    x2 = x.clone()
    x2[:, 0] += 1.0
    y1, y2 = a(x), a(x2)
    assert (y1[:, 3:] - y2[:, 3:]).abs().max() < 1e-12  # token 0 is out of every later window
    assert (y1[:, :3] - y2[:, :3]).abs().max() > 1e-6


def test_rope_is_relative():
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    cos, sin = rope_cos_sin(20, 8, dtype=torch.float64)

    def dot(i, j):
        qi = apply_rope(q, cos[i : i + 1], sin[i : i + 1])
        kj = apply_rope(k, cos[j : j + 1], sin[j : j + 1])
        return float((qi * kj).sum())

    assert abs(dot(5, 2) - dot(15, 12)) < 1e-12
    assert abs(dot(5, 2) - dot(5, 3)) > 1e-6


def test_mac_mask_is_causal_over_memory_tokens():
    m = mac_mask(2, 4, 4)
    assert m[:, :2].all()
    assert torch.equal(m[:, 2:6], torch.ones(4, 4, dtype=torch.bool).tril())
    assert torch.equal(m[:, 6:], torch.ones(4, 4, dtype=torch.bool).tril())


BLOCKS = {
    "transformer": lambda: TransformerBlock(16, 2),
    "transformer-swa": lambda: TransformerBlock(16, 2, window=4),
    "lmm": lambda: TitansLMMBlock(16, 2, chunk=4),
    "mac": lambda: TitansBlock(16, 2, variant="mac", chunk=4, n_persistent=2),
    "mag": lambda: TitansBlock(16, 2, variant="mag", chunk=4, window=5),
    "mal": lambda: TitansBlock(16, 2, variant="mal", chunk=4, window=5),
    "hope": lambda: HopeBlock(
        16,
        2,
        selfmod_kw=dict(chunk_mem=4, chunk_other=2),
        cms_kw=dict(periods=[2, 4], hidden=2, signal="local"),
    ),  # fmt: skip
    "hope-attn": lambda: HopeAttentionBlock(
        16, 2, cms_kw=dict(periods=[2, 4], hidden=2, signal="local")
    ),
}


@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_is_causal(name):
    torch.manual_seed(0)
    b = BLOCKS[name]()
    x = torch.randn(2, 13, 16)
    y, _ = b(x)
    for t in (1, 6, 12):
        x2 = x.clone()
        x2[:, t] += 3.0
        y2, _ = b(x2)
        assert (y2[:, :t] - y[:, :t]).abs().max() < 1e-10, f"token {t} leaked backwards"
        assert (y2[:, t] - y[:, t]).abs().max() > 1e-6


@pytest.mark.parametrize("name", ["lmm", "mac", "hope", "hope-attn"])
def test_persisted_state_changes_the_next_sequence(name):
    """Persistence: passing the returned state changes later outputs; None resets."""
    torch.manual_seed(0)
    b = BLOCKS[name]()
    x = torch.randn(2, 12, 16)
    y_fresh, st = b(x)
    y_again, _ = b(x)
    y_persist, _ = b(x, st)
    assert_rel_close(y_again, y_fresh, 0.0)
    assert (y_persist - y_fresh).abs().max() > 1e-6


@pytest.mark.parametrize("name", ["lmm", "mac", "mag", "mal", "hope", "hope-attn"])
def test_block_naive_equals_chunked(name):
    """Whole blocks with their memories switched between the reference and the chunked op."""
    from nlc_runtime.cms import CMS
    from nlc_runtime.selfmod import SelfModifyingTitans
    from nlc_runtime.testing import grads, scalar_probe
    from nlc_runtime.titans import NeuralMemory

    torch.manual_seed(0)
    b = BLOCKS[name]()
    x = torch.randn(2, 10, 16, requires_grad=True)
    res = {}
    for impl in ("chunked", "naive"):
        for mod in b.modules():
            if isinstance(mod, (NeuralMemory, SelfModifyingTitans, CMS)):
                mod.impl = impl
        y, st = b(x)
        out = (y, st)
        res[impl] = (out, grads(scalar_probe(out), list(b.parameters()) + [x]))
    assert_rel_close(res["chunked"], res["naive"], 1e-9)
