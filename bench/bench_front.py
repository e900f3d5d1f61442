"""Benchmark of the compiler's front half (parse, validate, lower, shapes, order, levels,
collapse) on generated specs of growing size, and of `nlc levels specs/hope.yaml` end to end.

    python bench/bench_front.py            # 100, 1,000 and 10,000 components
    python bench/bench_front.py --quick    # 100 and 1,000

Prints wall times and the growth ratio per 10x more components (1.0 = perfectly linear:
10x the components in 10x the time). Timings are best-of-N on this machine, not asserts.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

from nlc.pipeline import run_front
from nlc.spec.load import load_spec_text

ROOT = Path(__file__).resolve().parent.parent


def generated_spec(n_components: int) -> str:
    """A HOPE-like stack with about `n_components` components (10 per layer)."""
    layer = [
        {"name": "norm1", "kind": "norm"},
        {"name": "attn", "kind": "attention"},
        {"name": "res1", "kind": "add", "inputs": ["in", "attn"]},
        {"name": "norm2", "kind": "norm"},
        {"name": "mem", "kind": "titans_memory", "update": {"period": 16}},
        {"name": "res2", "kind": "add", "inputs": ["res1", "mem"]},
        {"name": "norm3", "kind": "norm"},
        {
            "name": "cms",
            "kind": "cms",
            "levels": [{"period": 32}, {"period": 256}, {"period": "outer"}],
        },
        {"name": "res3", "kind": "add", "inputs": ["res2", "cms"]},
        {"name": "id", "kind": "identity"},
    ]
    n_layers = max(1, (n_components - 3) // len(layer))
    doc = {
        "name": f"generated-{n_components}",
        "model": {
            "vocab_size": 256,
            "d_model": 64,
            "n_heads": 4,
            "context": 128,
            "n_layers": n_layers,
        },
        "components": [
            {"name": "embed", "kind": "embedding"},
            {"name": "layers", "components": layer},
            {"name": "norm_f", "kind": "norm"},
            {"name": "head", "kind": "lm_head", "tie": "embed"},
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


def time_front(text: str, repeats: int) -> tuple[float, int]:
    """Best wall time of the whole front half, and the number of covering pairs of ≻."""
    best, pairs = float("inf"), 0
    for _ in range(repeats):
        start = time.perf_counter()
        result = run_front(load_spec_text(text, "generated.yaml"))
        best = min(best, time.perf_counter() - start)
        pairs = len(result.full.order.covering)
    return best, pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "nlc", "levels", "specs/hope.yaml"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    cli = time.perf_counter() - start
    print(f"nlc levels specs/hope.yaml (new process, wall): {cli * 1000:.0f} ms")

    sizes = [100, 1000] if args.quick else [100, 1000, 10000]
    previous = None
    # Between two consecutive levels the covering pairs of ≻ are all (last of the faster level,
    # first of the slower) pairs: for layered models their number grows with layers squared,
    # so the output itself is super-linear; the pairs column shows how much there is.
    print(f"{'components':>10}  {'front half':>10}  {'growth per 10x':>14}  {'covering pairs':>14}")
    for n in sizes:
        text = generated_spec(n)
        t, pairs = time_front(text, repeats=3 if n <= 1000 else 1)
        growth = f"{(t / previous) / 10:.2f}" if previous else "-"
        print(f"{n:>10}  {t:>9.3f}s  {growth:>14}  {pairs:>14,}")
        previous = t


if __name__ == "__main__":
    main()
