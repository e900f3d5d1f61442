"""Benchmark of generation: the carried state (nlc generate today) against re-running the
window for every new token (nlc generate before the loop nest), side by side in one process.

    python bench/bench_generate.py                       # demo HOPE and the transformer, CPU
    python bench/bench_generate.py --context 256 --tokens 64 --specs specs/hope.yaml

Both paths run the same emitted model with the same (random) weights, eager, without autograd:
- window: for every new token, a forward over the last `context` tokens from a fresh state (the
  memories rebuilt over the window, nothing carried past it);
- stream: the prompt fed once, then one token per forward through the returned state
  (`nlc_runtime.exec.sampling.generate`; a model whose CMS learns from the LM loss feeds each token
  twice, read and then taught).
The prompt is `context` tokens of the bundled corpus, so the window re-run always works on a
full window. Printed: tokens/s of each and the ratio. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def window_rerun(model, prompt, steps: int, context: int):
    """The old `nlc generate`: each token predicted from the last `context` tokens, state=None."""
    import torch

    ids = prompt
    with torch.no_grad():
        for _ in range(steps):
            logits, _ = model(ids[:, -context:])
            ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], 1)
    return ids


def bench(spec: str, context: int, steps: int, repeats: int) -> dict:
    import torch
    from nlc_runtime.exec.sampling import generate
    from nlc_runtime.training.data import load_tokens

    from nlc.codegen.emit import compile_spec
    from nlc.train.emitted import load_module

    with tempfile.TemporaryDirectory() as tmp:
        compile_spec(spec, Path(tmp))
        module = load_module(Path(tmp), "model")
    torch.manual_seed(0)
    cfg = module.Config()
    cfg.context = context  # the attention caches keep `context` tokens too
    model = module.Model(cfg).eval()
    prompt = load_tokens(None)[:context].long()[None]
    rows = {}
    for name, fn in (
        ("window", lambda: window_rerun(model, prompt, steps, context)),
        ("stream", lambda: generate(model, prompt, steps, temperature=0.0)),
    ):
        fn()  # warm-up (allocator)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        rows[name] = steps / best
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default="specs/hope.yaml,specs/transformer.yaml")
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per generation")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs (best kept)")
    args = parser.parse_args()
    import torch

    print(f"generation, CPU ({torch.get_num_threads()} threads), context {args.context}, "
          f"{args.tokens} new tokens, greedy")  # fmt: skip
    for spec in args.specs.split(","):
        rows = bench(spec, args.context, args.tokens, args.repeats)
        ratio = rows["stream"] / rows["window"]
        print(
            f"{Path(spec).name:18s} window re-run {rows['window']:8.1f} tok/s   "
            f"carried state {rows['stream']:8.1f} tok/s   {ratio:6.1f}x"
        )


if __name__ == "__main__":
    main()
