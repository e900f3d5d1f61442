"""The validation loss train.py logs at each evaluation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nlc_runtime.training import distributed
from nlc_runtime.training.feed import Carry, Source


@torch.no_grad()
def estimate_loss(
    model: torch.nn.Module,
    source: Source,
    args,
    dist: distributed.Dist,
    device: str,
    autocast,
    persistent_state,
    seed: int,
) -> float:
    """Mean validation loss over the same `args.eval_iters` batches every time (a generator
    seeded with `seed`, its own: evaluating never changes which training batches come next);
    under --stream, consecutive windows of the validation streams with the state carried, as
    training reads them. Averaged over the processes."""
    feed = source.make("val", args.batch_size, torch.Generator().manual_seed(seed),
                       dist.rank, dist.world)  # fmt: skip
    carry = Carry(model, persistent_state, args.stream, False)
    targets = getattr(model, "uses_targets", False)  # the model learns from the LM loss
    model.eval()
    total = 0.0
    for _ in range(args.eval_iters):
        x, y, fresh = feed.next()
        x, y = x.to(device), y.to(device)
        with autocast:
            logits, new_state = model(
                x, carry.start(0, fresh), **({"targets": y} if targets else {})
            )
        carry.keep(0, new_state)
        total += F.cross_entropy(logits.flatten(0, 1).float(), y.flatten()).item()
    model.train()
    return distributed.mean(total / args.eval_iters, dist, device)
