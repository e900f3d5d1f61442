"""A hand-written Transformer trained on an MQAR task file, outside nlc: the yardstick for
`nlc bench recall` (is a result the harness's, or the task's at this budget?).

Reads task files as `nlc train` does (aligned rows, one example each; loss on the answer
tokens only), trains a 2-layer pre-norm Transformer (RoPE or learned positions, tied
embeddings, AdamW) and prints the test accuracy every 250 steps, then by distance from the
value to its query.

    nlc data make mqar -o train.jsonl --n 40000 --seq-len 64 --pairs 8 --vocab 64 --seed 5
    nlc data make mqar -o test.jsonl --n 100 --seq-len 64 --pairs 8 --vocab 64 --seed 77
    OMP_NUM_THREADS=1 python bench/mqar_reference.py train.jsonl test.jsonl --steps 3000
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import nn


def load(path: str, hide: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[list[dict]]]:
    """(inputs, targets with -100 off the answers, the answers) of a text-form task file whose
    examples all have one length (byte tokens: every MQAR symbol is one ASCII character).
    `hide`: the answer tokens are replaced by a space in the inputs (Zoology's format: a
    query's value is a label, never read), so no query region repeats a pair."""
    xs, ys, answers = [], [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            record = json.loads(line)
            tokens = list(record["text"].encode())
            targets = [-100] * len(tokens)
            for a in record["answers"]:
                for i in range(a["start"], a["end"]):
                    targets[i - 1] = tokens[i]  # predicted from the token before it
                    if hide:
                        tokens[i] = ord(" ")
            xs.append(tokens[:-1])
            ys.append(targets[:-1])
            answers.append(record["answers"])
    return torch.tensor(xs), torch.tensor(ys), answers


def rope(x: torch.Tensor) -> torch.Tensor:
    """Rotary position embedding of (B, H, T, D), base 10,000."""
    d, t = x.shape[-1], x.shape[-2]
    angles = torch.arange(t)[:, None] / 10000 ** (torch.arange(0, d, 2) / d)
    cos, sin = angles.cos(), angles.sin()
    even, odd = x[..., ::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)


class Block(nn.Module):
    def __init__(self, width: int, heads: int, rotary: bool):
        super().__init__()
        self.heads, self.rotary = heads, rotary
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.out = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        qkv = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        if self.rotary:
            q, k = rope(q), rope(k)
        mixed = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(mixed.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.norm2(x))


class Reference(nn.Module):
    def __init__(self, length: int, width: int, heads: int, layers: int, positions: str):
        super().__init__()
        self.embed = nn.Embedding(256, width)
        self.position = nn.Embedding(length, width) if positions == "learned" else None
        rotary = positions == "rope"
        self.blocks = nn.ModuleList(Block(width, heads, rotary) for _ in range(layers))
        self.norm = nn.LayerNorm(width)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        h = self.embed(idx)
        if self.position is not None:
            h = h + self.position(torch.arange(idx.shape[1]))
        for block in self.blocks:
            h = block(h)
        return self.norm(h) @ self.embed.weight.T  # tied


def by_distance(model: nn.Module, x, y, answers) -> list[tuple[str, int, float]]:
    """Accuracy by distance bucket (2-3, 4-7, 8-15, ...)."""
    with torch.no_grad():
        predicted = model(x).argmax(-1)
    buckets: dict[int, list[int]] = {}
    for row, example in enumerate(answers):
        for a in example:
            edge = 1 << max(1, a["distance"].bit_length() - 1)
            at = a["start"] - 1
            buckets.setdefault(edge, []).append(int(predicted[row, at] == y[row, at]))
    return [(f"{e}-{2 * e - 1}", len(v), sum(v) / len(v)) for e, v in sorted(buckets.items())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--positions", choices=["rope", "learned"], default="rope")
    parser.add_argument("--hide-answers", action="store_true", help="Zoology's input format")
    args = parser.parse_args()
    torch.manual_seed(0)
    x, y, _ = load(args.train, args.hide_answers)
    tx, ty, tanswers = load(args.test, args.hide_answers)
    length = max(x.shape[1], tx.shape[1])
    model = Reference(length, args.width, args.heads, args.layers, args.positions)
    opt = torch.optim.AdamW(
        model.parameters(), lr=args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.95)
    )
    start = time.monotonic()
    for step in range(args.steps + 1):
        if step % 250 == 0:
            with torch.no_grad():
                scored = ty != -100
                accuracy = (model(tx).argmax(-1)[scored] == ty[scored]).float().mean().item()
            print(f"step {step}: accuracy {accuracy:.3f} ({time.monotonic() - start:.0f} s)")
        if step == args.steps:
            break
        rows = torch.randint(0, len(x), (args.batch_size,))
        for group in opt.param_groups:  # linear warm-up over 100 steps, then constant
            group["lr"] = args.lr * min(1.0, (step + 1) / 100)
        loss = F.cross_entropy(model(x[rows]).flatten(0, 1), y[rows].flatten())
        opt.zero_grad()
        loss.backward()
        opt.step()
    print("distance   answers  accuracy")
    for span, n, accuracy in by_distance(model, tx, ty, tanswers):
        print(f"{span:<10}{n:>8}{accuracy:>10.3f}")


if __name__ == "__main__":
    main()
