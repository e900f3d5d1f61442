"""torch.compile for the chunked memories on long sequences.

The chunked paths are graph-break free, so `torch.compile(model)` works; but it unrolls the
Python loop over chunks, so compile time and the generated code grow with T / chunk (on CPU,
T = 1024 at chunk 16 took minutes to compile and ran slower than eager). `compile_chunk_kernels`
instead compiles the per-chunk bodies once (one graph per chunk shape, reused for every chunk)
and leaves the loop eager (train.py's `--compile-mode chunks`, the CPU default);
`compile_step` compiles the plain nest's per-segment step once per repeated block (`step`, the
CUDA default), so neither grows with the sequence, nor the latter with depth.

Only the bodies that run once per chunk are compiled. Self-modifying Titans' "generate" and
"write" run where a span cuts a chunk (once per span in the fused schedule) and meet a new
shape per group and per cut: compiling them took 24 of the demo HOPE's 61 s first step
(cold compile cache) and made its step slower (303 against 270 ms, 8 x 128, 2 CPU cores).
"""

from __future__ import annotations

import torch

from nlc_runtime.exec.kernels import REGISTRY


def compile_chunk_kernels(**compile_kw) -> None:
    """Swap every registered chunk body (`nlc_runtime.exec.kernels`: the LMM, self-modifying
    Titans, CMS, a wavefront's wave) for a compiled version, used where gradients are on
    (training). A call without gradients (train.py's evaluation) runs the eager body:
    compiling its own graphs took 21 s of the demo HOPE's first evaluation on 2 CPU cores,
    where an eager evaluation forward takes 0.11 s and a compiled one 0.09 s."""
    for table, original, eager in REGISTRY.values():
        for name, fn in original.items():
            if name not in eager:
                table[name] = _when_training(torch.compile(fn, **compile_kw), fn)


def _when_training(compiled, eager):
    def kernel(*args, **kwargs):
        return (compiled if torch.is_grad_enabled() else eager)(*args, **kwargs)

    return kernel


def compile_step(model, **compile_kw) -> str:
    """`--compile-mode step`: the plain nest's per-segment step compiled once and replayed by
    every segment. A model with repeated blocks compiles each block (`Module.compile`): the
    repeats share one compiled graph per block shape, so compile time grows with neither the
    context nor the depth (compiling `Model.step` whole inlines every block: demo HOPE on 2 CPU
    cores, cold cache, first step 75 s at 2 layers and 136 s at 4; per block 47, 49 and, at 8
    layers, 49 s).
    The few ops around the blocks (embedding, final norm, head) stay eager. Without repeated
    blocks, `Model.step` is compiled. Returns what was compiled, for the run's log."""
    model.cfg.schedule = "plain"
    names = sorted(set(model.state_blocks.values()))
    for name in names:
        for block in getattr(model, name):
            block.compile(**compile_kw)
    if names:
        return "step, per block of " + ", ".join(names)
    model.step = torch.compile(model.step, **compile_kw)
    return "step"


def cpu_compiler_missing() -> str | None:
    """Why torch.compile cannot build CPU kernels on this machine (Inductor compiles them with
    a C++ compiler: `g++`, or $CXX), or None when it can (or this torch does not say)."""
    try:
        from torch._inductor.cpp_builder import get_cpp_compiler
    except ImportError:
        return None
    try:
        get_cpp_compiler()
    except Exception as err:  # InvalidCxxCompiler, and whatever a torch version raises instead
        return str(err).splitlines()[0] if str(err) else type(err).__name__
    return None


def reset_chunk_kernels() -> None:
    """Back to the eager chunk bodies."""
    for table, original, _ in REGISTRY.values():
        table.update(original)
