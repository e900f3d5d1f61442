"""Activation checkpointing of a model's repeated blocks.

A deep memory keeps its weights once per chunk for the backward pass, so a large HOPE's
activations outgrow a GPU at a 4K context (measured on CPU: about 4 MiB per token per layer
for the 760M preset's self-modifying Titans). With `recompute`, each top-level block keeps only
its input and recomputes its forward during the backward pass: about one extra forward of
compute for memory that no longer grows with the number of layers.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint


def call_block(block: torch.nn.Module, x: torch.Tensor, state: dict, recompute: bool, *args):
    """`block(x, state, *args)` (one segment), recomputed in the backward pass when
    `recompute` is on and training."""
    if recompute and block.training and torch.is_grad_enabled():
        return checkpoint(block, x, state, *args, use_reentrant=False)
    return block(x, state, *args)
