"""Benchmark of the back half: `nlc compile` wall time per shipped spec, emitted Transformer
training throughput against a hand-written nanoGPT-style Transformer of the same size (eager
and torch.compile), and the emitted HOPE's throughput. Ratios are measured side by side in one
run on this machine; nothing here is a test.

    python bench/bench_codegen.py [--quick] [--steps N]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


class HandWrittenBlock(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.RMSNorm(d, eps=1e-6), nn.RMSNorm(d, eps=1e-6)
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.up, self.down = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        q, k, v = (
            self.qkv(self.norm1(x))
            .view(B, T, 3, self.heads, C // self.heads)
            .permute(2, 0, 3, 1, 4)
        )
        q, k = (
            t * cos + torch.cat([-t[..., t.shape[-1] // 2 :], t[..., : t.shape[-1] // 2]], -1) * sin
            for t in (q, k)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).reshape(B, T, C))
        return x + self.down(F.gelu(self.up(self.norm2(x))))


class HandWritten(nn.Module):
    """nanoGPT-style pre-norm Transformer with RoPE and a tied head."""

    def __init__(self, vocab: int, d: int, heads: int, layers: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(HandWrittenBlock(d, heads) for _ in range(layers))
        self.norm = nn.RMSNorm(d, eps=1e-6)
        self.dh = d // heads

    def forward(self, idx):
        T = idx.shape[1]
        inv = 10000.0 ** (-torch.arange(0, self.dh, 2, dtype=torch.float32) / self.dh)
        ang = torch.arange(T, dtype=torch.float32)[:, None] * inv[None]
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
        x = self.embed(idx)
        for b in self.blocks:
            x = b(x, cos, sin)
        return F.linear(self.norm(x), self.embed.weight), {}


def load_model(folder: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def tokens_per_second(model, vocab: int, batch: int, context: int, steps: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    idx = torch.randint(0, vocab, (batch, context))

    def step():
        logits, _ = model(idx)
        F.cross_entropy(logits.flatten(0, 1), idx.flatten()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()  # warm-up (and compilation)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * context * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip torch.compile")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    print("nlc compile wall time (new process each):")
    out = Path(tempfile.mkdtemp())
    for spec in sorted(SPECS.glob("*.yaml")):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "nlc", "compile", str(spec), "-o", str(out / spec.stem)],
            check=True,
            capture_output=True,
        )
        print(f"  {spec.stem:<18} {time.perf_counter() - start:.2f} s")

    mod = load_model(out / "transformer", "emitted_transformer")
    cfg = mod.Config()
    batch, context = 8, cfg.context
    emitted = mod.Model(cfg)
    hand = HandWritten(cfg.vocab_size, cfg.d_model, cfg.n_heads, cfg.n_layers)
    modes = [("eager", lambda m: m)] + ([] if args.quick else [("compiled", torch.compile)])
    print(f"\nTransformer training tokens/s (batch {batch} x {context}, {args.steps} steps, CPU):")
    for label, wrap in modes:
        t_emit = tokens_per_second(wrap(emitted), cfg.vocab_size, batch, context, args.steps)
        t_hand = tokens_per_second(wrap(hand), cfg.vocab_size, batch, context, args.steps)
        ratio = t_emit / t_hand
        print(f"  {label:<9} emitted {t_emit:9.0f}  hand-written {t_hand:9.0f}  ratio {ratio:.2f}")

    hope = load_model(out / "hope", "emitted_hope")
    hcfg = hope.Config()
    print(f"\nHOPE (specs/hope.yaml) training tokens/s (batch 4 x {hcfg.context}, CPU):")
    for label, wrap in modes:
        t = tokens_per_second(
            wrap(hope.Model(hcfg)), hcfg.vocab_size, 4, hcfg.context, max(2, args.steps // 5)
        )
        print(f"  {label:<9} {t:9.0f}")


if __name__ == "__main__":
    main()
