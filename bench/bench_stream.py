"""What stream training costs against window training, side by side in one process.

Both modes run the emitted train.py's step (the feed's batch, forward, cross-entropy,
backward, AdamW) on the same model and the bundled corpus; `stream` adds what `--stream` does
between calls (carry the state, reset restarted rows, detach). Steps alternate between the
modes in blocks, so both see the same machine load; the ratio is stream tokens/s over window
tokens/s. Nothing here is a test.

    python bench/bench_stream.py                      # demo HOPE, 8 x 128, eager
    python bench/bench_stream.py --spec specs/titans-mac.yaml --steps 60 --compile
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "specs" / "hope.yaml"))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--steps", type=int, default=40, help="timed steps per mode")
    parser.add_argument("--block", type=int, default=5, help="steps per mode before switching")
    parser.add_argument("--compile", action="store_true", help="compile the chunk kernels")
    args = parser.parse_args()

    import torch
    import torch.nn.functional as F
    from nlc_runtime.exec.compile import compile_chunk_kernels
    from nlc_runtime.exec.state import flush_subnormals
    from nlc_runtime.training.data import ByteTokenizer
    from nlc_runtime.training.feed import Carry, read_source

    from nlc.codegen.emit import compile_spec
    from nlc.train.emitted import load_module

    with tempfile.TemporaryDirectory() as tmp:
        compile_spec(args.spec, Path(tmp))
        module = load_module(Path(tmp), "model")
    torch.manual_seed(0)
    flush_subnormals()  # as train.py: a carried memory decays into slow subnormal floats
    model = module.Model(module.Config())
    if args.compile:
        compile_chunk_kernels()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    runs = {}
    for mode in ("window", "stream"):
        options = SimpleNamespace(
            data=None, stream=mode == "stream", stream_length=None, loss_on=None,
            val_fraction=0.1,
        )  # fmt: skip
        source = read_source(options, ByteTokenizer(), 256, None, args.context)
        feed = source.make("train", args.batch_size, torch.Generator().manual_seed(0))
        carry = Carry(model, module.persistent_state, mode == "stream", bool(model.persist))
        runs[mode] = SimpleNamespace(feed=feed, carry=carry, seconds=0.0, steps=0)

    def step(run) -> None:
        x, y, fresh = run.feed.next()
        logits, state = model(x, run.carry.start(0, fresh))
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        run.carry.keep(0, state)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for run in runs.values():  # untimed: the first calls compile, and a stream's state grows
        for _ in range(3):
            step(run)
    while min(r.steps for r in runs.values()) < args.steps:
        for run in runs.values():
            t0 = time.perf_counter()
            for _ in range(args.block):
                step(run)
            run.seconds += time.perf_counter() - t0
            run.steps += args.block
    tokens = args.batch_size * args.context
    rates = {mode: run.steps * tokens / run.seconds for mode, run in runs.items()}
    print(f"{Path(args.spec).stem}, {args.batch_size} x {args.context}, torch {torch.__version__}")
    for mode, rate in rates.items():
        print(f"  {mode:7s} {rate:9,.0f} tokens/s over {runs[mode].steps} steps")
    print(f"  stream / window: {rates['stream'] / rates['window']:.3f}x")


if __name__ == "__main__":
    main()
