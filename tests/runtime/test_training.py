"""Every block trains: 50 AdamW steps on a tiny repeating-pattern corpus reduce the loss
clearly. Plus the CMS language-model-gradient signal through its model-level driver."""

import pytest
import torch
import torch.nn.functional as F
from nlc_runtime.blocks import (
    HopeAttentionBlock,
    HopeBlock,
    TinyLM,
    TitansBlock,
    TitansLMMBlock,
    TransformerBlock,
)
from nlc_runtime.cms import CMS, lm_grad_rollout

V, C = 12, 32
PATTERN = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 10, 8])

BLOCKS = {
    "transformer": lambda: TransformerBlock(C, 4),
    "titans-lmm": lambda: TitansLMMBlock(C, 4, chunk=8),
    "titans-mac": lambda: TitansBlock(C, 4, variant="mac", chunk=8),
    "titans-mag": lambda: TitansBlock(C, 4, variant="mag", chunk=8, window=16),
    "titans-mal": lambda: TitansBlock(C, 4, variant="mal", chunk=8, window=16),
    "hope": lambda: HopeBlock(
        C,
        4,
        selfmod_kw=dict(chunk_mem=8, chunk_other=8),
        cms_kw=dict(periods=[8, 16], hidden=2, signal="local"),
    ),  # fmt: skip
    "hope-attention": lambda: HopeAttentionBlock(
        C, 4, cms_kw=dict(periods=[8, 16], hidden=2, signal="local")
    ),
}


def batch(B=4, T=32):
    offs = torch.randint(0, len(PATTERN), (B,))
    idx = torch.stack([torch.roll(PATTERN.repeat(4), -int(o)) for o in offs])[:, : T + 1]
    return idx[:, :-1], idx[:, 1:]


def train(model, loss_fn, steps=50, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr)
    losses = []
    for _ in range(steps):
        x, y = batch()
        loss = loss_fn(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def lm_loss(model, x, y):
    logits, _ = model(x)
    return F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))


@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_trains(name):
    torch.manual_seed(0)
    model = TinyLM(V, C, [BLOCKS[name]()])
    losses = train(model, lm_loss)
    assert all(map(lambda v: v == v, losses)), "NaN loss"
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.5 * first, f"{name}: loss {first:.3f} -> {last:.3f}"


class CMSLM(torch.nn.Module):
    """Embedding -> CMS (signal lm_grad) -> head, driven chunk by chunk by `lm_grad_rollout`."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, C)
        self.cms = CMS(C, periods=[4, 8], hidden=2, lrs=0.05, signal="lm_grad")
        self.head = torch.nn.Linear(C, V)

    def rollout(self, x, y):
        def loss_fn(h, s, e):
            return F.cross_entropy(
                self.head(h).reshape(-1, V), y[:, s:e].reshape(-1), reduction="sum"
            )

        _, total, state = lm_grad_rollout(self.cms, self.emb(x), loss_fn, piece=4)
        return total / y.numel(), state


def test_cms_lm_grad_driver_updates_and_trains():
    torch.manual_seed(0)
    model = CMSLM()
    x, y = batch()
    _, state = model.rollout(x, y)
    moved = (state["L0"]["W0"][:, 0] - model.cms.W1[0]).abs().max()
    assert moved > 1e-6, "the teach signal did not update the fast level"
    losses = train(model, lambda m, x, y: m.rollout(x, y)[0])
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
