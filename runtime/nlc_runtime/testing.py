"""Helpers for parity tests (naive vs chunked, interpreter vs emitted code): relative closeness
of tensors and of gradients with respect to every outer parameter and input."""

from __future__ import annotations

import torch


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / max(||b||, tiny), in float64."""
    a, b = a.detach().double(), b.detach().double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def assert_rel_close(a, b, tol: float = 1e-9, what: str = "") -> None:
    """Tensors (or nested dicts/lists of tensors) equal to `tol` in relative norm."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"{what}: keys {a.keys()} != {b.keys()}"
        for k in a:
            assert_rel_close(a[k], b[k], tol, f"{what}.{k}")
        return
    if isinstance(a, (list, tuple)):
        assert len(a) == len(b), what
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_rel_close(x, y, tol, f"{what}[{i}]")
        return
    if not isinstance(a, torch.Tensor):  # the clock, flags
        assert a == b, f"{what}: {a} != {b}"
        return
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    if not b.is_floating_point():  # positions, counters: exactly
        assert torch.equal(a, b), f"{what}: {a} != {b}"
        return
    if b.norm() == 0:
        assert a.norm() == 0, f"{what}: expected zeros, got norm {float(a.norm())}"
        return
    e = rel_err(a, b)
    assert e <= tol, f"{what}: relative error {e:.3e} > {tol:.0e}"


def tensors_of(tree) -> list[torch.Tensor]:
    """All tensors in a nested dict/list, in a deterministic order."""
    if isinstance(tree, dict):
        return [t for k in sorted(tree) for t in tensors_of(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [t for x in tree for t in tensors_of(x)]
    return [tree] if isinstance(tree, torch.Tensor) else []


def scalar_probe(outputs, seed: int = 0) -> torch.Tensor:
    """A random linear functional of all outputs (outputs and returned states), so one backward
    checks the gradient of everything at once."""
    g = torch.Generator().manual_seed(seed)
    total = 0.0
    for t in tensors_of(outputs):
        w = torch.randn(t.shape, generator=g, dtype=torch.float64).to(t.dtype)
        total = total + (w * t).sum()
    return total


def grads(loss: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    return list(torch.autograd.grad(loss, inputs, allow_unused=True, materialize_grads=True))
