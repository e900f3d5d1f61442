"""Several processes (`torchrun --nproc_per_node N train.py`): set-up, wrapping, averages,
flags and the state dicts a checkpoint needs.

Without torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK) everything here is a no-op on
one process, so the same train.py runs alone and under torchrun. CUDA uses NCCL, one GPU per
local rank; CPU uses gloo (how the tests run two processes on a laptop).

Two ways to split the work: DDP (every rank holds the whole model; gradients are averaged) and
FSDP2 (`fully_shard`: every repeated block and the model's own weights are sharded across the
ranks, gathered for each forward/backward). Both train the same model as one process with the
whole batch.
"""

from __future__ import annotations

import contextlib
import gc
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


def wrap(model: torch.nn.Module, d: Dist, device: str, fsdp: bool = False) -> torch.nn.Module:
    """DDP (or, with `fsdp`, FSDP2 sharding) when several processes train the model; the model
    itself otherwise. Build the optimizer after this: sharding replaces the parameters."""
    if not d.enabled:
        return model
    if fsdp:
        return shard(model, d, device)
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [torch.device(device).index] if device.startswith("cuda") else None
    # some parameters get no gradient (a CMS level that never updates in a sequence)
    return DDP(model, device_ids=ids, find_unused_parameters=True)


def _fully_shard():
    try:  # public since torch 2.6
        from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method
    except ImportError:  # torch 2.4 / 2.5
        from torch.distributed._composable.fsdp import fully_shard, register_fsdp_forward_method
    return fully_shard, register_fsdp_forward_method


def shard(model: torch.nn.Module, d: Dist, device: str) -> torch.nn.Module:
    """FSDP2: one shard group per repeated block (gathered one block at a time), then the rest
    (embedding, final norm) at the root. The model is sharded in place and returned."""
    from torch.distributed.device_mesh import init_device_mesh

    fully_shard, forward_method = _fully_shard()
    mesh = init_device_mesh("cuda" if device.startswith("cuda") else "cpu", (d.world,))
    for child in model.children():
        if isinstance(child, torch.nn.ModuleList):
            for block in child:
                fully_shard(block, mesh=mesh)
                # the loop nest also reads a block's weights outside its forward: the initial
                # states of a sequence, and the LM signal's learning step; gathered there too
                for name in ("init_state", "learn"):
                    if hasattr(block, name):
                        forward_method(block, name)
    fully_shard(model, mesh=mesh)
    return model


def sharded(model: torch.nn.Module) -> bool:
    return hasattr(model, "set_requires_gradient_sync")  # what FSDP2 adds to a module


@contextlib.contextmanager
def gradient_sync(wrapped: torch.nn.Module, enabled: bool):
    """Skip the gradient all-reduce / reduce-scatter for micro-steps before the last one of an
    accumulated step (the last one syncs the sum)."""
    if enabled:
        yield
    elif sharded(wrapped):
        wrapped.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            wrapped.set_requires_gradient_sync(True)
    elif hasattr(wrapped, "no_sync"):  # DDP
        with wrapped.no_sync():
            yield
    else:
        yield


def _full_options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, cpu_offload=True)


def full_weights(model: torch.nn.Module) -> torch.nn.Module | dict[str, torch.Tensor]:
    """What a checkpoint saves as weights: the model, or (sharded) its full state dict, gathered
    on every rank's call and kept on rank 0. Every rank must call this."""
    if not sharded(model):
        return model
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    return get_model_state_dict(model, options=_full_options())


def optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> dict:
    """The optimizer's state dict; sharded, the full one (keyed by parameter name) on rank 0.
    Every rank must call this."""
    if not sharded(model):
        return optimizer.state_dict()
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=_full_options())


def load_optimizer_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, saved: dict):
    """Inverse of `optimizer_state`: every rank passes the full saved dict and keeps its shard."""
    if not sharded(model):
        optimizer.load_state_dict(saved)
        return
    from nlc_runtime.optim.base import MemoryOptimizer

    if isinstance(optimizer, MemoryOptimizer):
        _load_memory_optimizer_state(model, optimizer, saved)
        return
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True)
    set_optimizer_state_dict(model, optimizer, saved, options=options)


def _load_memory_optimizer_state(model, optimizer, saved: dict) -> None:
    """The full state dict (keyed by parameter name) into an nlc_runtime.optim optimizer of a
    sharded model: loaded whole, then each state of a parameter's shape is sharded like it.
    (torch's set_optimizer_state_dict first takes a zero-gradient step to learn the state's
    keys; with periodic groups that step sees other keys than the checkpoint holds and the
    load fails.)"""
    from nlc_runtime.optim.sharded import is_sharded, shard_like

    names = {id(p): name for name, p in model.named_parameters()}
    index: dict[str, int] = {}
    groups = []
    for held, group in zip(saved["param_groups"], optimizer.param_groups, strict=True):
        mine = [names[id(p)] for p in group["params"]]
        if list(held["params"]) != mine:
            raise ValueError("the checkpoint's optimizer groups do not match this model's")
        groups.append({**held, "params": [index.setdefault(n, len(index)) for n in mine]})
    state = {index[name]: value for name, value in saved["state"].items()}
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    for p, st in optimizer.state.items():
        if is_sharded(p):
            for key, value in st.items():
                if torch.is_tensor(value) and not is_sharded(value) and value.shape == p.shape:
                    st[key] = shard_like(value, p)


def describe(wrapped: torch.nn.Module, d: Dist) -> str:
    """How the work is split, for the first line a run prints."""
    if not d.enabled:
        return "1 process"
    how = "FSDP2, weights sharded" if sharded(wrapped) else "DDP"
    return f"{d.world} processes, {how}"


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def teardown(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        # free the sharded model first: FSDP2 modules sit in reference cycles, and collected
        # only at interpreter exit, after the group is gone, they aborted a gloo process about
        # one run in twenty ("terminate called without an active exception")
        gc.collect()
        dist.destroy_process_group()
