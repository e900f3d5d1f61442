"""Every optimizer of nlc_runtime.optim under FSDP2: two gloo processes, each with half of every
weight and half of the batch, take the same steps as one process with the whole batch --
elementwise rules on their shards, whole-matrix rules (Muon, M3, DGD, DMGD) on gathered
matrices, DGD's input statistics averaged over the processes."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from nlc_runtime.optim.build import SPEC_KINDS, build_optimizer

KINDS = sorted(SPEC_KINDS)
SETTINGS = {"muon": {"adamw": {"lr": 0.01}}, "m3": {"slow_period": 2, "adamw": {"lr": 0.01}}}


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(16, 8), nn.Linear(8, 12), nn.GELU(), nn.Linear(12, 16))


def _batches() -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, 16, (4, 6), generator=g) for _ in range(3)]


def _train(model: nn.Module, kind: str, batches) -> None:
    optimizer = build_optimizer(model, kind, lr=0.01, **SETTINGS.get(kind, {}))
    for x in batches:
        logits = model(x)
        nn.functional.cross_entropy(logits.flatten(0, 1), x.roll(1, 1).flatten()).backward()
        optimizer.step()
        optimizer.zero_grad()


def _worker(rank: int, port: int, folder: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    from nlc_runtime.training import distributed

    fully_shard, _ = distributed._fully_shard()
    for kind in KINDS:
        model = _model()
        for layer in (model[1], model[3]):
            fully_shard(layer)
        fully_shard(model)
        _train(model, kind, [x[2 * rank : 2 * rank + 2] for x in _batches()])
        whole = {k: v.full_tensor() for k, v in model.state_dict().items()}
        if rank == 0:
            torch.save(whole, os.path.join(folder, f"{kind}.pt"))
    del model
    dist.barrier()
    distributed.teardown(distributed.Dist(rank, 2, rank))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_every_rule_on_fsdp2_shards_equals_one_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=2)
    for kind in KINDS:
        reference = _model()
        _train(reference, kind, _batches())
        sharded = torch.load(tmp_path / f"{kind}.pt")
        start = _model().state_dict()
        for name, value in reference.state_dict().items():
            assert torch.allclose(sharded[name], value, rtol=1e-5, atol=1e-6), (kind, name)
        # the check can fail: the weights moved
        assert any(not torch.equal(value, start[n]) for n, value in sharded.items()), kind
