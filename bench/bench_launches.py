"""Kernel launches per training step of a large preset, counted on the meta device (no GPU, no
memory: shapes only), for each schedule: every aten op that is not a view is one launch (or
more) of an eager GPU step; the sequential depth is the number of chunk steps that must run
one after another.

    python bench/bench_launches.py                                   # hope-760m, 2 x 4096
    python bench/bench_launches.py --specs hope-760m,hope-760m-large-chunk --shape 1x4096

It says how launch-bound a step is before a GPU is at hand: on an H100/H200 an eager kernel
launch costs ~5-10 us of CPU time, so N launches cost at least N * 5 us per step whatever the
arithmetic. The same pass counts the step's FLOPs (torch.utils.flop_counter: every matrix
product, forward and backward), per token: what `bench_train.py --flops-per-token` takes for
MFU on a GPU, where an eager step of a large model is too slow to count them. Nothing here is
a test.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nlc.codegen.emit import compile_spec  # noqa: E402
from nlc.train.emitted import load_module  # noqa: E402


class CountLaunches(TorchDispatchMode):
    """Counts the non-view aten ops dispatched (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.ops: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view:
            self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count(module, schedule: str, batch: int, context: int) -> tuple[int, Counter, float, float]:
    """Launches, the most frequent ops, FLOPs per token and the seconds counting took."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = module.Model(module.Config(schedule=schedule))
    idx = torch.zeros(batch, context, dtype=torch.long, device="meta")
    counter, flops = CountLaunches(), FlopCounterMode(display=False)
    start = time.perf_counter()
    with flops, counter:
        logits, _ = model(idx)
        F.cross_entropy(logits.flatten(0, 1), idx.flatten()).backward()
    per_token = flops.get_total_flops() / (batch * context)
    return sum(counter.ops.values()), counter.ops, per_token, time.perf_counter() - start


def depth(source: str, layers: int, context: int) -> dict[str, int]:
    """Chunk steps in sequence per schedule, from the emitted model: the fused schedule runs
    the blocks one after another, each through its fastest period's chunks; the wavefront runs
    T / piece + L - 1 waves of piece / fastest chunk steps."""
    periods = [int(p) for p in source.split("cuts = (")[1].split(")")[0].split(",") if p.strip()]
    fastest = min(periods)
    out = {"fused": layers * math.ceil(context / fastest)}
    if "wavefront(" in source:
        piece = int(source.split("wavefront(")[1].split(",")[4].strip().split(")")[0])
        waves = math.ceil(context / piece) + layers - 1
        out["wavefront"] = waves * math.ceil(piece / fastest)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", default="hope-760m,hope-760m-large-chunk")
    parser.add_argument("--shape", default="2x4096", help="BATCHxCONTEXT")
    parser.add_argument("--schedules", default="fused,wavefront")
    args = parser.parse_args()
    batch, context = (int(v) for v in args.shape.split("x"))
    print(f"meta device, one training step (forward + backward) at {batch} x {context}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.specs.split(","):
            compile_spec(ROOT / "specs" / f"{name}.yaml", Path(tmp) / name)
            module = load_module(Path(tmp) / name, "model")
            source = (Path(tmp) / name / "model.py").read_text()
            layers = module.Config().__dict__.get("n_layers", 1)
            depths = depth(source, layers, context)
            for schedule in args.schedules.split(","):
                if schedule not in depths:
                    print(f"{name:24s} {schedule:10s} (not emitted: the block keeps its loop)")
                    continue
                total, ops, flops, seconds = count(module, schedule, batch, context)
                top = ", ".join(f"{k} {v:,}" for k, v in ops.most_common(4))
                print(
                    f"{name:24s} {schedule:10s} {total:10,} launches  "
                    f"sequential depth {depths[schedule]:6,} chunk steps  "
                    f"{flops / 1e9:.2f} GFLOP/token  ({seconds:.0f} s to count; most: {top})"
                )


if __name__ == "__main__":
    main()
