"""Whole-tensor rules on FSDP2 shards.

Under FSDP2 (`fully_shard`) every parameter and gradient is a DTensor holding one row block
per process. Elementwise rules (SGD, Adam, preconditioned momentum) run on the shards as they
are. Rules that read a weight matrix as a whole -- Newton–Schulz (Muon, M3), DGD's input
preconditioner, the deep-momentum network of DMGD -- run on whole tensors here: the gradient
and parameter (and the rule's states) are gathered, the rule runs identically on every
process, and each process keeps its own rows of the update and of the states. A few
all-gathers per matrix and step, instead of the implicit redistribution every matmul of a
sharded Newton–Schulz would cost.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

try:  # torch >= 2.5
    from torch.distributed.tensor import DTensor, distribute_tensor
except ImportError:  # pragma: no cover - torch 2.4
    from torch.distributed._tensor import DTensor, distribute_tensor


def is_sharded(t: torch.Tensor) -> bool:
    return isinstance(t, DTensor)


def _whole(value):
    return value.full_tensor() if isinstance(value, DTensor) else value


def whole_tensor_step(
    rule: Callable, state: dict, p: torch.Tensor, g: torch.Tensor
) -> tuple[dict, torch.Tensor]:
    """`rule(state, p, g) -> (new_state, update)` on whole tensors when p is an FSDP2 shard;
    returns the new states and the update laid out like p (states of p's shape sharded like it,
    so optimizer memory stays split across processes). Plain tensors pass through."""
    if not is_sharded(p):
        return rule(state, p, g)
    whole_state = {key: _whole(value) for key, value in state.items()}
    new, update = rule(whole_state, p.full_tensor(), _whole(g))
    new = {
        key: shard_like(v, p) if isinstance(v, torch.Tensor) and v.shape == p.shape else v
        for key, v in new.items()
    }
    return new, shard_like(update, p)


def shard_like(whole: torch.Tensor, p: DTensor) -> DTensor:
    """Every process holds the same `whole`; each keeps its own rows (no communication where
    torch supports it)."""
    try:
        return distribute_tensor(whole, p.device_mesh, p.placements, src_data_rank=None)
    except TypeError:  # torch < 2.7: scattered from rank 0 instead (the same values)
        return distribute_tensor(whole, p.device_mesh, p.placements)
