"""Benchmark of `nlc train`'s training step: tokens/s, compile time, peak memory and FLOP use.

For each spec and mode (eager, compiled) one fresh process builds the emitted model and runs
the step the emitted train.py runs (forward, cross-entropy, backward, AdamW; bf16 autocast on
CUDA), so each line's peak memory is its own. Random tokens: throughput does not depend on the
text. Nothing here is a test.

    python bench/bench_train.py                                  # demo HOPE + transformer, CPU
    python bench/bench_train.py --specs specs/hope-760m.yaml --device cuda --shape 2x4096 \
        --modes compiled,graphs --recompute --flops-per-token 10.70e9

Modes: eager (the fused schedule, the default); plain (the reference loop nest, eager);
wavefront (fused, the repeated blocks overlapped and batched per wave; wavefront-chunks with
the chunk kernels compiled);
compiled (what train.py does with --compile on CUDA: the plain nest's per-segment step compiled
once per repeated block and replayed, `compile_step`); chunks (the fused schedule with the
memories' chunk kernels compiled); graphs (the step compiled with mode="reduce-overhead", i.e.
replayed as CUDA graphs: the segment loop of a large HOPE is launch-bound on a GPU).

Columns: tokens/s over the timed steps (after two untimed steps that include compilation);
first-step seconds (compile time for `compiled`); peak memory (CPU: the process's peak
resident set; CUDA: peak allocated by torch); FLOPs per token counted by
torch.utils.flop_counter on one eager step (every matrix product, attention and the memories'
inner updates included), and, on a GPU, MFU = counted FLOP/s over the chip's dense bf16 peak
and the usual 6N estimate beside it. Without an eager row, `--flops-per-token` supplies the
count (an eager step of a large model on a GPU is slow: count it once on the meta device, e.g.
12.51 GFLOP/token for hope-760m at 1 x 4096, which took 285 s on CPU).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Dense bf16 peak of the chips this project meets (datasheet, without sparsity), TFLOP/s.
PEAK_BF16 = {"H100": 989.4, "H200": 989.4, "A100": 312.0}


def run_one(
    spec: str, mode: str, device: str, batch: int, context: int, steps: int, recompute: bool
) -> dict:
    """One configuration in this process; returns its numbers."""
    import torch
    import torch.nn.functional as F
    from nlc_runtime.exec.compile import compile_chunk_kernels, compile_step
    from torch.utils.flop_counter import FlopCounterMode

    from nlc.codegen.emit import compile_spec
    from nlc.train.emitted import load_module

    with tempfile.TemporaryDirectory() as tmp:
        compile_spec(spec, Path(tmp))
        module = load_module(Path(tmp), "model")
    cuda = device.startswith("cuda")
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(0)
    cfg = module.Config()
    cfg.recompute = recompute  # activation checkpointing of each block
    model = module.Model(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_embed = sum(p.numel() for n, p in model.named_parameters() if "embed" in n)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=cuda)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)
    if mode in ("plain", "compiled", "graphs"):
        model.cfg.schedule = "plain"
    elif mode in ("wavefront", "wavefront-chunks"):
        model.cfg.schedule = "wavefront"
    if mode in ("compiled", "graphs"):  # what train.py's --compile-mode auto (step) does
        kw = {"mode": "reduce-overhead"} if mode == "graphs" else {}
        compile_step(model, **kw)
    elif mode in ("chunks", "wavefront-chunks"):
        compile_chunk_kernels()
    x = torch.randint(0, cfg.vocab_size, (batch, context + 1), device=device)

    def step() -> None:
        with autocast:
            logits, _ = model(x[:, :-1])
            loss = F.cross_entropy(logits.flatten(0, 1).float(), x[:, 1:].flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    step()  # untimed: allocators, autotuning and (compiled) compilation
    sync()
    first = time.perf_counter() - t0
    # live, so a run cut off by a time limit still says how far it got
    print(f"  {Path(spec).name} {mode}: first step {first:.1f}s", file=sys.stderr, flush=True)
    step()  # untimed too: recompilations for shapes marked dynamic on the first step
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = time.perf_counter() - t0
    tokens = batch * context
    out = {
        "spec": Path(spec).name,
        "mode": mode,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "params": n_params,
        "tokens_per_s": steps * tokens / seconds,
        "first_step_s": first,
        "peak_mib": (
            torch.cuda.max_memory_allocated() / 2**20
            if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ),
    }
    if mode == "eager":  # FLOPs are the same in both modes; count them once, eagerly
        with FlopCounterMode(display=False) as counter:
            step()
        out["flops_per_token"] = counter.get_total_flops() / tokens
        out["six_n_per_token"] = 6 * (n_params - n_embed)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default="specs/hope.yaml,specs/transformer.yaml")
    parser.add_argument("--modes", default="eager,compiled")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shape", default="8x128", help="BATCHxCONTEXT")
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--recompute", action="store_true", help="activation checkpointing")
    parser.add_argument("--json", default=None, help="also write the rows to this file")
    parser.add_argument(
        "--flops-per-token", type=float, default=None, help="for MFU when no eager row counts it"
    )
    parser.add_argument("--one", nargs=2, metavar=("SPEC", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    batch, context = (int(v) for v in args.shape.split("x"))
    if args.one:
        row = run_one(
            args.one[0], args.one[1], args.device, batch, context, args.steps, args.recompute
        )
        print(json.dumps(row))
        return
    rows = []
    for spec in args.specs.split(","):
        for mode in args.modes.split(","):
            cmd = [sys.executable, __file__, "--one", spec, mode, "--device", args.device]
            cmd += ["--shape", args.shape, "--steps", str(args.steps)]
            cmd += ["--recompute"] if args.recompute else []
            proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
            if proc.returncode != 0:  # its traceback went to stderr above
                print(f"{spec} {mode}: failed (exit {proc.returncode})", flush=True)
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            if args.flops_per_token and "flops_per_token" not in rows[-1]:
                rows[-1]["flops_per_token"] = args.flops_per_token
                rows[-1]["flops_given"] = True
            print(format_row(rows[-1], rows), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")


def format_row(row: dict, rows: list[dict]) -> str:
    text = (
        f"{row['spec']:18s} {row['mode']:8s} {row['params'] / 1e6:8.2f}M  "
        f"{row['tokens_per_s']:10,.0f} tok/s  first step {row['first_step_s']:6.1f}s  "
        f"peak {row['peak_mib']:8,.0f} MiB"
    )
    counted = next((r for r in rows if r["spec"] == row["spec"] and "flops_per_token" in r), None)
    if counted is not None:
        flops = counted["flops_per_token"]
        text += f"  {flops / 1e6:,.1f} MFLOP/token" + (
            " (given)" if counted.get("flops_given") else ""
        )
        peak = next((v for k, v in PEAK_BF16.items() if k in row["device"]), None)
        if peak is not None:
            achieved = flops * row["tokens_per_s"] / 1e12
            text += f"  {achieved:,.1f} TFLOP/s, MFU {achieved / peak:.1%}"
            if "six_n_per_token" in counted:
                text += (
                    f" (6N: {counted['six_n_per_token'] * row['tokens_per_s'] / 1e12 / peak:.1%})"
                )
    if row["mode"] != "eager" and any(
        r["spec"] == row["spec"] and r["mode"] == "eager" for r in rows
    ):
        text += f"  {row['tokens_per_s'] / eager_tps(rows, row):.2f}x eager"
    return text


def eager_tps(rows: list[dict], row: dict) -> float:
    return next(
        r["tokens_per_s"] for r in rows if r["spec"] == row["spec"] and r["mode"] == "eager"
    )


if __name__ == "__main__":
    main()
