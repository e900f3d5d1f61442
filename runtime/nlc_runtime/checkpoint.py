"""Checkpoints of a training run: RUN/ckpt/model.safetensors and RUN/ckpt/train_state.pt.

- The weights go to safetensors (tied weights stored once), everything else — optimizer
  moments, step, RNG states, the persisted in-context memories, the best validation loss —
  to a tensors-and-containers file read back with `torch.load(weights_only=True)`. Loading
  never runs code from the files.
- Each file is written to a temporary name in the same folder, flushed, then renamed: a crash
  leaves the previous file whole. Both files carry the same random save id; a pair from two
  different saves (a crash between the two renames) is reported, not silently mixed.
- Any unreadable file raises `CheckpointError` with a one-line message.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import torch

WEIGHTS = "model.safetensors"
STATE = "train_state.pt"


class CheckpointError(Exception):
    """A checkpoint that is missing, truncated, corrupt or does not fit the model."""


def _atomic(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(
    folder: str | Path, weights: torch.nn.Module | dict[str, torch.Tensor], state: dict
) -> Path:
    """Write `weights` (a model, or its full state dict gathered from shards) and the training
    `state` (a dict of tensors, numbers, strings, lists and dicts) into `folder`, atomically
    per file."""
    from safetensors.torch import save_file, save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_id = uuid.uuid4().hex
    meta = {"save_id": save_id}
    _atomic(folder / STATE, lambda tmp: torch.save({**state, "save_id": save_id}, tmp))
    if isinstance(weights, torch.nn.Module):  # save_model stores tied weights once
        _atomic(folder / WEIGHTS, lambda tmp: save_model(weights, tmp, metadata=meta))
    else:
        flat = {k: v.detach().contiguous() for k, v in weights.items()}
        _atomic(folder / WEIGHTS, lambda tmp: save_file(flat, tmp, metadata=meta))
    return folder


def save_rank_state(folder: str | Path, rank: int, step: int, state: dict) -> None:
    """One process's own in-context memories (DDP: each rank carries its sequences')."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"memory.rank{rank}.pt"
    _atomic(path, lambda tmp: torch.save({"step": step, "memory": state}, tmp))


def load_rank_state(folder: str | Path, rank: int, step: int, map_location: str) -> dict | None:
    """The memories `save_rank_state` wrote at `step`, or None when there are none."""
    path = Path(folder) / f"memory.rank{rank}.pt"
    if not path.exists():
        return None
    try:
        saved = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{path}: unreadable (truncated or corrupt): {type(err).__name__}"
        ) from None
    if saved.get("step") != step:
        raise CheckpointError(f"{path}: from step {saved.get('step')}, checkpoint is at {step}")
    return saved["memory"]


def load_checkpoint(folder: str | Path, model: torch.nn.Module, map_location: str = "cpu") -> dict:
    """Load weights into `model` and return the training state saved beside them."""
    from safetensors import safe_open
    from safetensors.torch import load_model

    folder = Path(folder)
    weights, state_file = folder / WEIGHTS, folder / STATE
    for path in (weights, state_file):
        if not path.exists():
            raise CheckpointError(f"{path}: no checkpoint here (missing file)")
    try:
        state = torch.load(state_file, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"{state_file}: unreadable (truncated or corrupt): {type(err).__name__}"
        ) from None
    if not isinstance(state, dict) or "save_id" not in state:
        raise CheckpointError(f"{state_file}: not an nlc training state")
    try:
        with safe_open(str(weights), framework="pt") as f:
            meta = f.metadata() or {}
        missing, unexpected = load_model(model, str(weights), strict=False, device=map_location)
    except Exception as err:
        raise CheckpointError(
            f"{weights}: unreadable (truncated or corrupt): {type(err).__name__}: {err}"
        ) from None
    if missing or unexpected:
        raise CheckpointError(
            f"{weights}: does not fit this model (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(unexpected)[:3]})"
        )
    if meta.get("save_id") != state["save_id"]:
        raise CheckpointError(f"{folder}: weights and training state come from different saves")
    return state
