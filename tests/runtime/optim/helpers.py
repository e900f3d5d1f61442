"""A small float64 model and a deterministic data stream for optimizer tests."""

from __future__ import annotations

import torch
import torch.nn as nn


def tiny_model(seed: int = 0) -> nn.Module:
    """Embedding -> MLP -> head: has an embedding, matrices, biases and a norm gain."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Embedding(16, 8),
        nn.Linear(8, 12),
        nn.Tanh(),
        nn.LayerNorm(12),
        nn.Linear(12, 16),
    ).double()


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 + step)
    x = torch.randint(0, 16, (32,), generator=gen)
    return x, (x * 3 + 1) % 16  # a learnable map


def loss_of(model: nn.Module, step: int) -> torch.Tensor:
    x, y = batch(step)
    return nn.functional.cross_entropy(model(x), y)


def train(model: nn.Module, opt, steps: int, start: int = 0) -> list[float]:
    losses = []
    for t in range(start, start + steps):
        opt.zero_grad(set_to_none=True)
        loss = loss_of(model, t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def max_diff(a: nn.Module, b: nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))
