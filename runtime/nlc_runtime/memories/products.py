"""Matrix products of a chunk's few tokens, as the compiled chunk kernels want them.

A chunk of c tokens (4 for HOPE's projection memories) makes products whose rows or
contraction are c: a memory read of c tokens, the update's sum of c outer products, the
(c, c) Gram and decay products of the delta rule. Eager, a batched matmul is the fastest way
to each. Compiled (`compile.compile_chunk_kernels`), each matmul stays a library call between
the loops the compiler fuses, and those calls were half of a compiled HOPE step on CPU;
written as a broadcast product and a sum over the short side, the compiler fuses them with the
element-wise work around them (the update W = a W0 + H^T Z becomes one pass over W). Demo
HOPE, chunk kernels compiled, one thread, side by side: step 380 -> 350 ms, 12,909 -> 10,389
aten ops. Same numbers up to rounding (the tests compare compiled and eager logits).
"""

from __future__ import annotations

import torch

FEW = 8
"""A product with at most this many rows or contraction terms is fused when compiled."""


def mm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a @ b (batched, broadcasting); under torch.compile, when a's rows or the contraction
    are few, as a sum of broadcast products."""
    if torch.compiler.is_compiling() and min(a.shape[-2], a.shape[-1]) <= FEW:
        return (a.unsqueeze(-1) * b.unsqueeze(-3)).sum(-2)
    return a @ b
