"""What train.py --compile / --compile-mode compile, and the line that says so.

`step`: the plain nest's per-segment step compiled once per block and replayed (the loop nest
stays eager, so compile time grows with neither context / chunk nor depth); `chunks`: the
memories' chunk kernels; `model`: the whole (wrapped) forward; `auto`: step on CUDA, chunks on
CPU (demo HOPE on 2 CPU cores: chunks 2.2x eager, step 0.57x; bench/bench_train.py)."""

from __future__ import annotations

import torch

from nlc_runtime.exec.compile import compile_chunk_kernels, compile_step, cpu_compiler_missing


def resolve(mode: str, cuda: bool) -> str:
    """The mode `auto` stands for on this device; any other mode is itself."""
    if mode == "auto":
        return "step" if cuda else "chunks"
    return mode


def apply(
    model: torch.nn.Module, wrapped: torch.nn.Module, enabled: bool | None, mode: str, cuda: bool
) -> tuple[torch.nn.Module, str | None]:
    """Compile as asked (`enabled`: --compile / --no-compile, None: on for CUDA): the module
    the training step calls and the line to print (None: eager, as asked)."""
    use_compile = cuda if enabled is None else enabled
    # on CPU, torch.compile builds C++: without a compiler, say so and train eagerly
    no_compiler = cpu_compiler_missing() if use_compile and not cuda else None
    if no_compiler:
        return wrapped, f"--compile: {no_compiler}; training eagerly"
    if not use_compile:
        return wrapped, None
    mode = resolve(mode, cuda)
    step_model, compiled = wrapped, mode
    if mode == "step":
        compiled = compile_step(model)
    elif mode == "chunks":
        compile_chunk_kernels()
    else:
        step_model = torch.compile(wrapped)
    return step_model, f"torch.compile ({compiled}): the first step includes compiling"
