"""Checkpoints of a training run: RUN/ckpt/model.safetensors and RUN/ckpt/train_state.pt.

- The weights go to safetensors (tied weights stored once), everything else — optimizer
  moments, step, RNG states, the persisted in-context memories, the best validation loss —
  to a tensors-and-containers file read back with `torch.load(weights_only=True)`. Loading
  never runs code from the files.
- Each file is written to a temporary name in the same folder, flushed, then renamed; before
  a save the current pair becomes the previous one (`model.prev.safetensors`,
  `train_state.prev.pt`), so a process killed at any moment leaves at least one complete
  pair. Both files of a pair carry the same random save id, and the state the SHA-256 of the
  weights file: loading takes the newest pair whose ids agree and whose weights hash right
  (random bytes in a payload are caught), and says so when it falls back to the previous.
- Weights that are not finite are never saved (`FloatingPointError`): the last good pair stays.
- Any unreadable file raises `CheckpointError` with a one-line message.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import torch

from nlc_runtime.training.files import file_sha256

WEIGHTS = "model.safetensors"
STATE = "train_state.pt"


class CheckpointError(Exception):
    """A checkpoint that is missing, truncated, corrupt or does not fit the model."""


def _previous(path: Path) -> Path:
    """model.safetensors -> model.prev.safetensors (the pair saved before)."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _atomic(path: Path, write) -> None:
    """`write(tmp)`, then `tmp` renamed onto `path`. tmp lies in a private folder beside path:
    a writer may make temporary files of its own next to its target (safetensors >= 0.8 writes
    a `.tmp` file with a random suffix and renames it), and a kill must leave nothing that the
    next save's cleanup (`_remove_stale`) does not recognise."""
    tmpdir = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = os.path.join(tmpdir, path.name)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _remove_stale(folder: Path) -> None:
    """What a process killed while saving left: its private temporary folders (and the
    temporary files of older versions), of this rank's files only (not other ranks' files in
    progress)."""
    for name in (WEIGHTS, STATE):
        for stale in folder.glob(f".{name}.*.tmp"):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def save_checkpoint(
    folder: str | Path,
    weights: torch.nn.Module | dict[str, torch.Tensor],
    state: dict,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write `weights` (a model, or its full state dict gathered from shards) and the training
    `state` (a dict of tensors, numbers, strings, lists and dicts) into `folder`, atomically
    per file. `metadata` (strings) goes into the safetensors header beside the save id:
    train.py puts the spec and the model's Config there, so the weights say what they are."""
    from safetensors.torch import save_file, save_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    for name, value in tensors.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise FloatingPointError(
                f"weight {name} is not finite: not saved (the last checkpoint is kept)"
            )
    _remove_stale(folder)
    save_id = uuid.uuid4().hex
    meta = {**(metadata or {}), "save_id": save_id}
    for path in (folder / WEIGHTS, folder / STATE):  # the current pair becomes the previous
        if path.exists():
            os.replace(path, _previous(path))
    if isinstance(weights, torch.nn.Module):  # save_model stores tied weights once
        _atomic(folder / WEIGHTS, lambda tmp: save_model(weights, tmp, metadata=meta))
    else:
        flat = {k: v.detach().contiguous() for k, v in weights.items()}
        _atomic(folder / WEIGHTS, lambda tmp: save_file(flat, tmp, metadata=meta))
    digest = file_sha256(folder / WEIGHTS)
    record = {**state, "save_id": save_id, "weights_sha256": digest}
    _atomic(folder / STATE, lambda tmp: torch.save(record, tmp))
    return folder


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors header metadata of a weights file (`nlc_spec`, `nlc_config` ...)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as err:
        raise CheckpointError(
            f"{path}: unreadable: {type(err).__name__}: {_one_line(err)[:300]}"
        ) from None


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


def recorded_tokenizer(folder: str | Path) -> tuple[str | None, Path | None]:
    """The tokenizer a run's checkpoint says its weights learned (`nlc_tokenizer` in the
    weights' header: `byte` or `sha256:HEX` of RUN/tokenizer.json) and the weights file that
    says so: the current one, else the previous (None, None: no checkpoint, or one from before
    the record; an unreadable header is `load_checkpoint`'s to report)."""
    folder = Path(folder)
    for path in (folder / WEIGHTS, _previous(folder / WEIGHTS)):
        if not path.is_file():
            continue
        try:
            meta = read_metadata(path)
        except CheckpointError:
            continue
        if "nlc_tokenizer" in meta:
            return meta["nlc_tokenizer"], path
        return None, None
    return None, None


def resume_checkpoint(
    folder: str | Path, model: torch.nn.Module, map_location: str = "cpu"
) -> dict | None:
    """`load_checkpoint` for `train.py --resume`, except for a run that has no save to resume
    from: killed before its first save, or inside it (a weights file without its state, or
    the reverse, and nothing saved before). Then nothing is lost by starting again, and that
    is what happens (None: step 0), said in one line; refusing would leave a run that neither
    resumes nor starts anew (`nlc train` keeps a folder with a checkpoint from a new run)."""
    folder = Path(folder)
    files = [folder / WEIGHTS, folder / STATE]
    files += [_previous(f) for f in files]
    saved = any(f.exists() for f in files[2:]) or all(f.exists() for f in files[:2])
    # RUN/summary.json is written after the last save of an invocation: the run had one, and
    # its loss is the user's to see (load_checkpoint says what is missing)
    if saved or (folder.parent / "summary.json").exists():
        return load_checkpoint(folder, model, map_location)
    present = [f.name for f in files[:2] if f.exists()]
    what = f"only {present[0]} (the first save was interrupted)" if present else "no save yet"
    print(f"checkpoint: {folder}: {what}; starting from step 0", file=sys.stderr)
    return None


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_checkpoint(folder: str | Path, model: torch.nn.Module, map_location: str = "cpu") -> dict:
    """Load weights into `model` and return the training state saved beside them: the newest
    complete pair (the current one, else the previous, see the module docstring). Falling back
    says which save it resumes from and why the newer one was not usable."""
    folder = Path(folder)
    weights, state_file = folder / WEIGHTS, folder / STATE
    current = (weights, state_file)
    candidates = [
        current,
        (_previous(weights), _previous(state_file)),
        (_previous(weights), state_file),  # killed between renaming the weights and the state
        (weights, _previous(state_file)),
    ]
    pairs = [(w, s) for w, s in candidates if w.exists() and s.exists()]
    if not pairs:
        missing = weights if not weights.exists() else state_file
        raise CheckpointError(f"{missing}: no checkpoint here (missing file)")
    # why the newest save is not the one resumed from (said when falling back)
    absent = [p.name for p in current if not p.exists()]
    why = f"{folder}: {' and '.join(absent)} missing (a save was interrupted)" if absent else None
    errors = []
    for w, s in pairs:
        try:
            state = _load_pair(w, s, model, map_location)
        except CheckpointError as err:
            errors.append(err)
            if (w, s) == current:
                why = str(err)
            if "does not fit this model" in str(err):
                break  # the model's shape: no other save of this run fits either
            continue
        if (w, s) != current:
            print(
                f"checkpoint: {why}; resuming from the previous save ({w.name} and {s.name}, "
                f"step {state.get('step', '?')})",
                file=sys.stderr,
            )
        return state
    raise errors[0]


def _load_pair(weights: Path, state_file: Path, model, map_location: str) -> dict:
    """One pair: the state, its save id equal to the weights', the weights' hash (when the
    state holds one), then the weights into `model`."""
    from safetensors import safe_open
    from safetensors.torch import load_model

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
    except Exception as err:
        raise CheckpointError(
            f"{weights}: unreadable (truncated or corrupt): {type(err).__name__}: "
            f"{_one_line(err)[:300]}"
        ) from None
    if meta.get("save_id") != state["save_id"]:
        raise CheckpointError(
            f"{weights.parent}: weights and training state come from different saves"
        )
    digest = state.get("weights_sha256")
    if digest is not None and file_sha256(weights) != digest:
        raise CheckpointError(f"{weights}: corrupt (its SHA-256 is not the one saved)")
    _check_shapes(weights, model)
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=map_location)
    except Exception as err:
        raise CheckpointError(
            f"{weights}: unreadable (truncated or corrupt): {type(err).__name__}: "
            f"{_one_line(err)[:300]}"
        ) from None
    if missing or unexpected:
        shapes = model.state_dict()
        if missing:
            name = sorted(missing)[0]
            first = f"{name}: expected shape {list(shapes[name].shape)}, not in the file"
        else:
            first = f"{sorted(unexpected)[0]}: in the file, not in this model"
        more = len(missing) + len(unexpected) - 1
        raise CheckpointError(
            f"{weights}: does not fit this model: {first}"
            + (f" (and {more} more difference(s))" if more else "")
        )
    state.pop("weights_sha256", None)
    return state


def _check_shapes(weights: Path, model: torch.nn.Module) -> None:
    """Every tensor of the file that the model has too is of the model's shape; the first that
    is not, in the model's order, is one line (load_state_dict would list them all)."""
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            found = {name: list(f.get_slice(name).get_shape()) for name in f.keys()}
    except Exception as err:
        raise CheckpointError(
            f"{weights}: unreadable (truncated or corrupt): {type(err).__name__}: "
            f"{_one_line(err)[:300]}"
        ) from None
    wrong = [
        (name, list(tensor.shape), found[name])
        for name, tensor in model.state_dict().items()
        if name in found and list(tensor.shape) != found[name]
    ]
    if wrong:
        name, expected, shape = wrong[0]
        more = f" (and {len(wrong) - 1} more tensor(s) of another shape)" if len(wrong) > 1 else ""
        raise CheckpointError(
            f"{weights}: does not fit this model: {name}: expected shape {expected}, "
            f"found {shape}{more}"
        )
