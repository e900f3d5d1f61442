"""Benchmark of `nlc train`: training throughput (tokens/s) of the emitted training script's
step on a spec, for a few batch/context shapes, on this machine's CPU (or GPU when present).
Random tokens (throughput does not depend on the text); nothing here is a test.

    python bench/bench_train.py [--spec specs/hope.yaml] [--steps 3] [--shapes 4x128,4x256]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlc.codegen.emit import compile_spec  # noqa: E402
from nlc.train.emitted import load_module  # noqa: E402


def tokens_per_second(model, batch: int, context: int, steps: int, vocab: int) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, vocab, (batch, context + 1))
    elapsed = 0.0
    for i in range(steps + 1):  # the first step warms up allocators and is not timed
        t0 = time.perf_counter()
        logits, _ = model(x[:, :-1])
        F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:
            elapsed += time.perf_counter() - t0
    return steps * batch * context / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "hope.yaml"))
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--shapes", default="4x128,4x256", help="BATCHxCONTEXT,...")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        compile_spec(args.spec, Path(tmp))
        module = load_module(Path(tmp), "model")
    torch.manual_seed(0)
    print(f"{Path(args.spec).name}: torch {torch.__version__}, {torch.get_num_threads()} threads")
    for shape in args.shapes.split(","):
        batch, context = (int(v) for v in shape.split("x"))
        model = module.Model(module.Config())
        tps = tokens_per_second(model, batch, context, args.steps, module.Config().vocab_size)
        print(f"  batch {batch:3d} x context {context:4d}: {tps:8.0f} tokens/s (eager, training)")


if __name__ == "__main__":
    main()
