"""Emitted models against a hand-written nanoGPT-style Transformer of the same size, side by side
in one run on this machine (the yardstick): training tokens/s and their ratio, the
top-level aten ops and autograd nodes of one training step (torch.profiler), and its FLOPs
(torch.utils.flop_counter): the FLOP ratio yardstick / model is the speed ratio the model would
have at the yardstick's FLOP rate, the ceiling of what fewer or faster small operations can win.

    python bench/bench_yardstick.py                          # the five specs, CPU, eager
    python bench/bench_yardstick.py --specs hope --schedule plain
    python bench/bench_yardstick.py --specs hope --compile   # the chunk kernels compiled
    python bench/bench_yardstick.py --specs hope-attention --compile model   # whole forward

Shape: vocab 256, width 128, 2 layers, 4 heads, sequence 256, batch 4, AdamW, float32 (each
spec is the shipped preset with n_layers 2 and context 256; the yardstick has the same width,
heads, layers and tied head). Each model is timed in its own repetitions, interleaved with the
yardstick's, best of `--reps`. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_codegen import HandWritten  # noqa: E402

from nlc.codegen.emit import compile_spec  # noqa: E402
from nlc.train.emitted import load_module  # noqa: E402

SPECS = ["transformer", "titans-lmm", "titans-mac", "hope-attention", "hope"]
BATCH, CONTEXT, LAYERS = 4, 256, 2


def emitted(name: str, schedule: str, tmp: Path, context: int = CONTEXT):
    doc = yaml.safe_load((ROOT / "specs" / f"{name}.yaml").read_text())
    doc["model"].update(n_layers=LAYERS, context=context)
    spec = tmp / f"{name}.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False))
    compile_spec(spec, tmp / name)
    module = load_module(tmp / name, "model")
    torch.manual_seed(0)
    return module.Model(module.Config(schedule=schedule)), doc["model"]


def trainer(model, context: int = CONTEXT):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randint(0, 256, (BATCH, context + 1))

    def step():
        logits, _ = model(x[:, :-1])
        F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten()).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def seconds(step, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def op_counts(step) -> tuple[int, int]:
    """Top-level aten ops of one step (forward, backward and optimizer: each aten op not called
    by another aten op) and its autograd nodes."""
    from torch.profiler import profile

    with profile() as prof:
        step()
    events = prof.events()

    def top(e) -> bool:
        parent = e.cpu_parent
        return parent is None or not parent.name.startswith("aten::")

    aten = sum(1 for e in events if e.name.startswith("aten::") and top(e))
    nodes = sum(1 for e in events if e.name.startswith("autograd::engine::evaluate_function"))
    return aten, nodes


def gflops(step) -> float:
    """FLOPs of one training step (every matrix product, forward and backward), in GFLOP."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default=",".join(SPECS))
    parser.add_argument("--schedule", default="fused", choices=["fused", "plain", "wavefront"])
    parser.add_argument("--context", type=int, default=CONTEXT, help="tokens per sequence")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="steps per timed repetition")
    parser.add_argument(
        "--compile",
        nargs="?",
        const="chunks",
        choices=["chunks", "model"],
        help="compile the emitted models: chunks (default; the memories' chunk kernels, "
        "train.py --compile on CPU) or model (the whole forward, --compile-mode model: its "
        "loops unrolled, a long first step); the yardstick stays eager",
    )
    args = parser.parse_args()
    how = {None: "eager", "chunks": "chunk kernels compiled", "model": "whole forward compiled"}
    how = how[args.compile]
    print(
        f"CPU ({torch.get_num_threads()} threads), {how}, float32, batch {BATCH} x "
        f"{args.context}, {LAYERS} layers, schedule {args.schedule}; ratio = tokens/s over the "
        "eager yardstick's; FLOP ceiling = yardstick FLOPs / model FLOPs per step"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.specs.split(","):
            model, m = emitted(name, args.schedule, Path(tmp), args.context)
            torch.manual_seed(0)
            hand = HandWritten(m["vocab_size"], m["d_model"], m["n_heads"], LAYERS)
            ours, theirs = trainer(model, args.context), trainer(hand, args.context)
            flops, hand_flops = gflops(ours), gflops(theirs)  # eager, before any compile
            first = ""
            if args.compile:
                from nlc_runtime.exec.compile import compile_chunk_kernels, reset_chunk_kernels

                torch._dynamo.reset()
                if args.compile == "chunks":
                    compile_chunk_kernels()
                else:
                    ours = trainer(torch.compile(model), args.context)
                t0 = time.perf_counter()
                ours()
                first = f"  first step {time.perf_counter() - t0:.1f} s (compiling)"
            ours(), theirs()  # warm-up
            t_ours, t_theirs = float("inf"), float("inf")
            for _ in range(args.reps):  # interleaved: both see the same machine load
                t_ours = min(t_ours, seconds(ours, args.steps))
                t_theirs = min(t_theirs, seconds(theirs, args.steps))
            aten, nodes = op_counts(ours)
            hand_aten, _ = op_counts(theirs)
            if args.compile:
                reset_chunk_kernels()
            tps = BATCH * args.context / t_ours
            print(
                f"{name:16s} {tps:9,.0f} tok/s  {t_theirs / t_ours:6.3f}x yardstick  "
                f"{aten:7,} aten ops ({hand_aten:,} yardstick)  {nodes:7,} autograd nodes  "
                f"{flops:6.2f} GFLOP ({hand_flops:.2f}): ceiling {hand_flops / flops:.3f}x{first}"
            )


if __name__ == "__main__":
    main()
