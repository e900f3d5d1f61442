"""Benchmark of the runtime's in-context memories on CPU: forward + backward of the Titans LMM,
self-modifying Titans and CMS (local signal) at batch 4, sequence 1024, width 256 (defaults),
each driven alone through the sequence by `stream.run` (segments at its own periods, updates
at its boundaries: what the fused schedule does with one component).

Prints, side by side in one run: chunked vs naive (per-token reference) time and their ratio,
eager vs torch.compile time of the chunked path, tokens/s, and the number of graphs / graph
breaks of one segment step (torch._dynamo.explain). "compiled" is
`compile.compile_chunk_kernels()`: the chunk bodies compiled once, the loop over segments
eager. `--whole-graph` also times torch.compile of the whole sequence, which unrolls the loop.
Timings are not asserted anywhere.

    python bench/bench_runtime.py            # full run (a few minutes on 2 cores)
    python bench/bench_runtime.py --quick    # small sequence, one repetition
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch
import torch._dynamo as dynamo
from nlc_runtime.exec.compile import compile_chunk_kernels, reset_chunk_kernels
from nlc_runtime.exec.stream import run
from nlc_runtime.memories.cms import CMS
from nlc_runtime.memories.selfmod import SelfModifyingTitans
from nlc_runtime.memories.titans import NeuralMemory


def make(name: str, C: int, H: int, chunk: int):
    if name == "lmm":
        m = NeuralMemory(C, H, depth=2, expansion=2.0, chunk=chunk)
    elif name == "selfmod":
        m = SelfModifyingTitans(C, H, chunk_mem=chunk, chunk_other=chunk, momentum=0.9)
    elif name == "cms":
        m = CMS(C, periods=[chunk, 4 * chunk, 16 * chunk], hidden=4, signal="local")
    else:
        raise ValueError(name)
    return m, lambda m, x: run(m, x)


def set_impl(m, impl):
    for mod in m.modules():
        if hasattr(mod, "impl"):
            mod.impl = impl


def fwd_loss(m, call, x):
    y, st = call(m, x)
    return y.square().mean() + sum(v.square().mean() for v in _tensors(st) if v.numel())


def fwd_bwd(m, call, x, fwd=fwd_loss):
    fwd(m, call, x).backward()


def _tensors(st):
    if isinstance(st, dict):
        for v in st.values():
            yield from _tensors(v)
    elif isinstance(st, torch.Tensor) and st.is_floating_point():
        yield st


def timeit(fn, reps: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def graph_breaks(m, x) -> tuple[int, int]:
    """Graphs and breaks of one segment step of the module (what the nest replays)."""
    set_impl(m, "chunked")
    state = m.init_state(x.shape[0])

    def f(x):
        return m(x, state)[0]

    ex = dynamo.explain(f)(x)
    return ex.graph_count, ex.graph_break_count


def main():
    # glibc raises its mmap threshold after large frees, after which the per-token reference's
    # many freed 4-16 MB buffers fragment the heap (peak RSS 3.5 GB instead of 0.4 GB at
    # T=64, and page faults dominate its time). A fixed threshold keeps the comparison fair.
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        os.environ["MALLOC_MMAP_THRESHOLD_"] = "65536"
        os.execv(sys.executable, [sys.executable] + sys.argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="T=256, one repetition, naive at T=256")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--chunk", type=int, default=16)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--whole-graph", action="store_true", help="also torch.compile the forward")
    ap.add_argument("--ops", default="lmm,selfmod,cms")
    args = ap.parse_args()
    if args.quick:
        args.seq, args.reps = 256, 1
    torch.manual_seed(0)
    B, T, C = args.batch, args.seq, args.width
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, B={B} T={T} C={C} "
          f"H={args.heads} chunk={args.chunk}, forward+backward, float32, CPU")  # fmt: skip
    hdr = f"{'op':8} {'naive s':>9} {'chunked s':>9} {'speedup':>8} {'compiled s':>10} "
    hdr += f"{'cmp/eager':>9} {'tok/s eager':>11} {'tok/s cmp':>10} {'graphs':>6} "
    hdr += f"{'breaks':>6} {'compile s':>9}"
    print(hdr)
    for name in args.ops.split(","):
        bench_one(name, args)


def bench_one(name: str, args) -> None:
    B, T, C = args.batch, args.seq, args.width
    m, call = make(name, C, args.heads, args.chunk)
    x = torch.randn(B, T, C)
    set_impl(m, "naive")
    fwd_bwd(m, call, x[:, : 2 * args.chunk])  # warm-up, short
    t_naive = timeit(lambda: fwd_bwd(m, call, x), 1, warmup=0)
    set_impl(m, "chunked")
    t_fast = timeit(lambda: fwd_bwd(m, call, x), args.reps)
    graphs, breaks = graph_breaks(m, torch.randn(B, args.chunk, C))
    t_cmp = t_compile = t_whole = float("nan")
    if not args.no_compile:
        dynamo.reset()
        compile_chunk_kernels(dynamic=False)
        t0 = time.perf_counter()
        fwd_bwd(m, call, x)  # compiles (one graph per chunk shape) and runs once
        t_compile = time.perf_counter() - t0
        t_cmp = timeit(lambda: fwd_bwd(m, call, x), args.reps, warmup=0)
        reset_chunk_kernels()
    if args.whole_graph:
        dynamo.reset()
        cf = torch.compile(fwd_loss)  # the backward is compiled by AOTAutograd with it
        fwd_bwd(m, call, x, cf)
        t_whole = timeit(lambda: fwd_bwd(m, call, x, cf), args.reps, warmup=0)
    line = f"{name:8} {t_naive:9.3f} {t_fast:9.3f} {t_naive / t_fast:7.1f}x {t_cmp:10.3f} "
    line += f"{t_fast / t_cmp:8.2f}x {B * T / t_fast:11.0f} {B * T / t_cmp:10.0f} "
    line += f"{graphs:6d} {breaks:6d} {t_compile:9.1f}"
    if args.whole_graph:
        line += f"   whole-graph compiled: {t_whole:.3f} s ({t_fast / t_whole:.2f}x eager)"
    print(line, flush=True)


if __name__ == "__main__":
    main()
