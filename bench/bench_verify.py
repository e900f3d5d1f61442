"""Benchmark of `nlc verify` and the reference interpreter.

    python bench/bench_verify.py            # structural check on stacks of 2..32 layers,
                                            # numerical check of hope-attention = transformer,
                                            # interpreter vs emitted code on the CPU specs
    python bench/bench_verify.py --quick    # fewer sizes, shrunk specs only

Prints wall times (best of N on this machine; no asserts) so a slow isomorphism or a slow
interpreter shows up before it makes the test suite slow.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlc.pipeline import run_front  # noqa: E402
from nlc.verify.cli import run_verify  # noqa: E402
from nlc.verify.differential import compare_with_reference  # noqa: E402
from nlc.verify.structural import compare  # noqa: E402
from nlc.verify.targets import load_doc, source_doc, target_doc  # noqa: E402

SPECS = ROOT / "specs"
HOPE_ATTN = SPECS / "hope-attention.yaml"


def best_of(fn, n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_structural(layer_counts: list[int]) -> None:
    print("structural check, hope-attention (one outer CMS level) vs transformer:")
    for n in layer_counts:
        when = ["layers.cms.levels=outer", f"model.n_layers={n}"]
        sdoc, sl = source_doc(HOPE_ATTN, when)
        tdoc, tl = target_doc("transformer", sdoc, ["layers.mlp.hidden=256"])
        src, tgt = run_front(load_doc(sdoc, sl)), run_front(load_doc(tdoc, tl))
        seconds = best_of(lambda s=src, t=tgt: compare(s, t))
        nodes = src.collapsed.nx.number_of_nodes()
        print(f"  {n:3d} layers ({nodes:5d} nodes): {seconds * 1e3:8.1f} ms")


def bench_numerical() -> None:
    when = ["layers.cms.levels=outer", "layers.cms.activation=silu"]
    target = ["layers.mlp.hidden=256", "layers.mlp.activation=silu"]
    t0 = time.perf_counter()
    result = run_verify(str(HOPE_ATTN), "transformer", when, target)
    n = result["numerical"]
    print(
        f"numerical check hope-attention = transformer: {time.perf_counter() - t0:.2f} s "
        f"(max output diff {n['max_output_diff']:.2g}, grad diff {n['max_grad_diff']:.2g})"
    )


def bench_reference(quick: bool) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from tests.codegen.helpers import tiny_spec

    names = ["transformer", "titans-lmm", "titans-mac", "titans-mag", "titans-mal", "hope",
             "hope-attention"]  # fmt: skip
    print("reference interpreter vs emitted code (float64, 2 x 24 tokens):")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            path = SPECS / f"{name}.yaml"
            if quick:
                path = tiny_spec(path, Path(tmp) / f"{name}.yaml")
            front = run_front(path)
            t0 = time.perf_counter()
            a = compare_with_reference(front, tokens=24)
            print(
                f"  {name:16s} {time.perf_counter() - t0:7.2f} s  output diff "
                f"{a.max_output_diff:.2g}  grad diff {a.max_grad_diff:.2g}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    bench_structural([2, 8] if args.quick else [2, 8, 32])
    bench_numerical()
    bench_reference(args.quick)


if __name__ == "__main__":
    main()
