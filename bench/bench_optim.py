"""Benchmark of the outer optimizers as memories (nlc_runtime.optim) on CPU.

Default (speed): the time of one optimizer step on a ~10.7M-parameter GPT (d=384, 6 layers,
fixed random gradients; the forward/backward is not timed). Rows, measured side by side in one
run and interleaved round by round so that load on shared cores hits every row alike:
torch.optim.AdamW(foreach=True), our AdamWMemory (foreach fast path and per-tensor reference),
torch.optim.SGD(foreach=True) vs SGDMemory, Muon and M3. The ratio column is
torch.optim.AdamW's time / the row's time (higher is faster; the target for our AdamW is ≥ 0.9).
Muon and M3 are compute-bound on CPU: five Newton–Schulz iterations on an m×n matrix (m ≤ n)
cost about 5·(4m²n + 2m³) flops, ~95 GFLOP per step for this model (about 1 s on one core),
where AdamW's elementwise step is memory-bound (tens of ms). On shared cores, `--threads 1`
gives steadier numbers. M3 orthogonalises its slow
momentum only once per slow period, so it costs about one Muon step.

`--corpus`: trains a small character GPT on the bundled corpus (data/shakespeare.txt.gz) with
AdamW, Muon and M3 for the same number of steps, from the same initial weights and batches,
and prints the final validation loss of each. Timings and losses are not asserted anywhere.

    python bench/bench_optim.py                 # speed (about a minute on 2 cores)
    python bench/bench_optim.py --quick         # fewer rounds
    python bench/bench_optim.py --corpus        # AdamW vs Muon vs M3, 300 steps
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from nlc_runtime.layers.attention import Attention
from nlc_runtime.layers.common import MLP
from nlc_runtime.layers.norms import RMSNorm
from nlc_runtime.optim import M3, AdamWMemory, Muon, SGDMemory, split_matrix_params
from nlc_runtime.training.data import load_tokens, sample_batch, split_tokens


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.norm1, self.attn = RMSNorm(d), Attention(d, heads)
        self.norm2, self.mlp = RMSNorm(d), MLP(d, 4 * d)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class GPT(nn.Module):
    """Pre-norm decoder, tied head (the shape of specs/transformer.yaml)."""

    def __init__(self, vocab: int, d: int, layers: int, heads: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        nn.init.normal_(self.embed.weight, std=0.02)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.norm_f = RMSNorm(d)

    def forward(self, idx):
        h = self.embed(idx)
        for block in self.blocks:
            h = block(h)
        return F.linear(self.norm_f(h), self.embed.weight)


def decay_groups(model: nn.Module, wd: float) -> list[dict]:
    """The emitted train.py's grouping: weight decay on matrices only."""
    ps = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in ps if p.dim() >= 2], "weight_decay": wd},
        {"params": [p for p in ps if p.dim() < 2], "weight_decay": 0.0},
    ]


def optimizers(model: nn.Module, lr: float, muon_lr: float) -> dict:
    return {
        "torch AdamW foreach": lambda: torch.optim.AdamW(
            decay_groups(model, 0.1), lr=lr, betas=(0.9, 0.95), foreach=True
        ),
        "AdamWMemory foreach": lambda: AdamWMemory(
            decay_groups(model, 0.1), lr=lr, betas=(0.9, 0.95)
        ),
        "AdamWMemory reference": lambda: AdamWMemory(
            decay_groups(model, 0.1), lr=lr, betas=(0.9, 0.95), foreach=False
        ),
        "torch SGD foreach": lambda: torch.optim.SGD(
            model.parameters(), lr=lr, momentum=0.9, foreach=True
        ),
        "SGDMemory foreach": lambda: SGDMemory(model.parameters(), lr=lr, momentum=0.9),
        "Muon": lambda: Muon(
            split_matrix_params(model, "muon"), lr=muon_lr, adamw_lr=lr, adamw_weight_decay=0.1
        ),
        "M3": lambda: M3(
            split_matrix_params(model, "m3"), lr=lr, adamw_lr=lr, adamw_weight_decay=0.1
        ),
    }


SLOW = ("Muon", "M3")  # seconds per step on CPU: timed one step per round


def bench_speed(args) -> None:
    torch.manual_seed(0)
    model = GPT(256, args.width, args.layers, args.heads)
    n = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, GPT d={args.width} "
          f"layers={args.layers}: {n / 1e6:.2f}M parameters, float32, CPU; "
          f"median of {args.rounds} rounds x {args.steps} steps")  # fmt: skip
    for p in model.parameters():
        p.grad = torch.randn_like(p) * 1e-3
    opts = {name: make() for name, make in optimizers(model, 1e-4, 1e-3).items()}
    times: dict[str, list[float]] = {name: [] for name in opts}
    for opt in opts.values():  # warm-up: allocate the states
        opt.step()
    for _ in range(args.rounds):
        for name, opt in opts.items():
            steps = 1 if name in SLOW else args.steps
            t0 = time.perf_counter()
            for _ in range(steps):
                opt.step()
            times[name].append((time.perf_counter() - t0) / steps)
    base = statistics.median(times["torch AdamW foreach"])
    print(f"{'optimizer':24} {'ms/step':>9} {'vs torch AdamW':>15}")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"{name:24} {1e3 * t:9.2f} {base / t:14.2f}x")
    sgd = statistics.median(times["torch SGD foreach"]) / statistics.median(
        times["SGDMemory foreach"]
    )
    print(f"SGDMemory vs torch SGD: {sgd:.2f}x")


def bench_corpus(args) -> None:
    torch.manual_seed(0)
    context, batch = args.context, args.batch
    train_data, val_data = split_tokens(load_tokens(None), context)
    init = GPT(256, args.width, args.layers, args.heads).state_dict()
    print(f"bundled corpus, char GPT d={args.width} layers={args.layers} context={context} "
          f"batch={batch}, {args.train_steps} steps each, same init and batches")  # fmt: skip
    lrs = {"AdamW": args.lr, "Muon": args.muon_lr, "M3": args.lr}
    for name in ("AdamW", "Muon", "M3"):
        model = GPT(256, args.width, args.layers, args.heads)
        model.load_state_dict(init)
        if name == "AdamW":
            opt = AdamWMemory(decay_groups(model, 0.1), lr=args.lr, betas=(0.9, 0.95))
        elif name == "Muon":
            groups = split_matrix_params(model, "muon")
            opt = Muon(groups, lr=args.muon_lr, adamw_lr=args.lr)
        else:
            opt = M3(split_matrix_params(model, "m3"), lr=args.lr, adamw_lr=args.lr)
        gen = torch.Generator().manual_seed(1)
        t0 = time.perf_counter()
        for _ in range(args.train_steps):
            x, y = sample_batch(train_data, batch, context, gen)
            loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        elapsed = time.perf_counter() - t0
        val = evaluate(model, val_data, context, batch)
        print(f"{name:6} lr {lrs[name]:<8g} final train loss {loss.item():.3f}  "
              f"val loss {val:.3f}  ({elapsed:.0f} s)", flush=True)  # fmt: skip


@torch.no_grad()
def evaluate(model, data, context, batch, batches: int = 8) -> float:
    gen = torch.Generator().manual_seed(7)
    losses = []
    for _ in range(batches):
        x, y = sample_batch(data, batch, context, gen)
        losses.append(F.cross_entropy(model(x).flatten(0, 1), y.flatten()).item())
    return sum(losses) / len(losses)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", action="store_true", help="train AdamW / Muon / M3 on the corpus")
    ap.add_argument("--quick", action="store_true", help="fewer rounds / steps")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--width", type=int, default=None, help="default: 384 speed, 128 corpus")
    ap.add_argument("--layers", type=int, default=None, help="default: 6 speed, 2 corpus")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5, help="optimizer steps per timed round")
    ap.add_argument("--train-steps", type=int, default=300)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3, help="AdamW, M3 and Muon's AdamW groups")
    ap.add_argument("--muon-lr", type=float, default=0.02)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.corpus:
        args.width, args.layers = args.width or 128, args.layers or 2
        if args.quick:
            args.train_steps = 60
        bench_corpus(args)
    else:
        args.width, args.layers = args.width or 384, args.layers or 6
        if args.quick:
            args.rounds, args.steps = 3, 3
        bench_speed(args)


if __name__ == "__main__":
    main()
