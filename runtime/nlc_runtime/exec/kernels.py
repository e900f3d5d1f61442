"""The chunk kernels: per-chunk bodies that `compile.compile_chunk_kernels` may compile.

A runtime module that has such bodies declares them with `chunk_kernels(...)` and calls them
through the table it gets back; compiling swaps the table's entries, so the module never knows
whether it runs compiled. Nothing here imports a memory: a module registers itself when it is
imported, and a new memory kind needs no edit of this file or of `compile.py`.
"""

from __future__ import annotations

from collections.abc import Callable

# owner -> (its live table, the eager originals, the names that stay eager)
REGISTRY: dict[str, tuple[dict[str, Callable], dict[str, Callable], tuple[str, ...]]] = {}


def chunk_kernels(
    owner: str, kernels: dict[str, Callable], eager: tuple[str, ...] = ()
) -> dict[str, Callable]:
    """Register `kernels` (name -> function) under `owner` (the module's name) and return the
    live table the module calls them through. `eager`: names never compiled (a body that runs
    once per span and meets a new shape per cut would recompile at every cut)."""
    table = dict(kernels)
    REGISTRY[owner] = (table, dict(kernels), tuple(eager))
    return table
