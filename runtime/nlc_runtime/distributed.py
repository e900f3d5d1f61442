"""Several processes (`torchrun --nproc_per_node N train.py`): set-up, averages, flags.

Without torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) everything here is a no-op on
one process, so the same train.py runs alone and under torchrun. CUDA uses NCCL, one GPU per
local rank; CPU uses gloo (how the tests run two processes on a laptop).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """Rank 0 writes files and prints."""
        return self.rank == 0


def setup(device: str) -> tuple[Dist, str]:
    """Join the process group when launched by torchrun; the device this process uses."""
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Dist(), device
    d = Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"]))
    if device.startswith("cuda"):
        device = f"cuda:{d.local_rank}"
        torch.cuda.set_device(device)
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return d, device


def mean(value: float, d: Dist, device: str) -> float:
    """The average of a number over all processes."""
    if not d.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.item() / d.world


def any_flag(flag: bool, d: Dist, device: str) -> bool:
    """True on every process when it is true on one (e.g. Ctrl-C reached one rank first)."""
    if not d.enabled:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def wrap(model: torch.nn.Module, d: Dist, device: str) -> torch.nn.Module:
    """DDP around the model when several processes train it; the model itself otherwise."""
    if not d.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    # some parameters get no gradient (a CMS level that never updates in a sequence)
    return DDP(model, device_ids=ids, find_unused_parameters=True)


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
