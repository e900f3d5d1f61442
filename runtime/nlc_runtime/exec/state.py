"""In-context state containers.

A memory's state is a flat ``dict[str, Tensor]`` with batch-leading tensors ("W0", "W1", ... for
the weights, "S0", ... for momentum); composite blocks nest dicts by sub-module name. Plain
dicts keep torch.compile graphs unbroken and map one-to-one onto safetensors files through
`flatten_state` / `unflatten_state`.
"""

from __future__ import annotations

import torch

State = dict  # dict[str, torch.Tensor | State]


def zeros(like: torch.Tensor, *shape: int) -> torch.Tensor:
    """A zero state entry (a fresh cache, momentum, gradient sum), on `like`'s device and dtype
    (`shape`, or like's shape), requiring grad where `like` does: after one segment the entry
    it stands for is computed from the weights and requires grad, and a compiled step that met
    the other kind at the first segment would compile again. Eagerly a leaf (no op); inside a
    compiled forward, which cannot make one, zero times a number of `like`."""
    z = like.new_zeros(shape) if shape else torch.zeros_like(like)
    if not (like.requires_grad and torch.is_grad_enabled()):
        return z
    if torch.compiler.is_compiling():
        return z + like.reshape(-1)[:1].sum() * 0
    return z.requires_grad_()


def weights_of(state: dict, depth: int, prefix: str = "W") -> list[torch.Tensor]:
    return [state[f"{prefix}{i}"] for i in range(depth)]


def flatten_state(state: dict, prefix: str = "") -> dict[str, torch.Tensor]:
    """Nested state -> {"a.b.W0": tensor} (e.g. for safetensors.save_file)."""
    flat = {}
    for k, v in state.items():
        if isinstance(v, dict):
            flat.update(flatten_state(v, f"{prefix}{k}."))
        elif v is not None:
            flat[f"{prefix}{k}"] = v
    return flat


def unflatten_state(flat: dict[str, torch.Tensor]) -> dict:
    out: dict = {}
    for key, v in flat.items():
        node = out
        *path, leaf = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def detach_state(state):
    """Stop-gradient through a (nested) state, e.g. between persisted sequences."""
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    if isinstance(state, list):  # a repeated block's states, one per layer
        return [detach_state(v) for v in state]
    return state.detach() if isinstance(state, torch.Tensor) else state


def flush_subnormals() -> None:
    """Compute subnormal floats as zero on the CPU. A memory whose weights decay (retention,
    weight decay of the inner update) carried along a long stream drifts into subnormal
    numbers, which x86 CPUs compute 10-100x slower: the demo HOPE trained on streams had 27%
    of its carried memory subnormal after 200 steps and its step grew from 1.2 to 7-11 s. Values
    below 1.2e-38 (float32) count for nothing in these models. Where the CPU cannot flush,
    nothing changes."""
    torch.set_flush_denormal(True)
