"""A trained run, loaded for use (`nlc generate`, `nlc eval`): the model of RUN/code/model.py
with the weights of RUN/ckpt (safetensors: nothing from the checkpoint is executed), its
tokenizer, and the in-context state the spec persists."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class RunError(Exception):
    """A run folder that cannot be used: one line for the user, exit code 2."""


@dataclass
class Run:
    folder: Path
    model: object  # torch.nn.Module, in eval mode on the requested device and dtype
    config: object  # the emitted Config
    tokenizer: object
    carried: dict | None  # the memories the spec persists (`persist: true`), as saved

    @property
    def uses_targets(self) -> bool:
        """The model learns in context from the LM loss (CMS signal lm): pass it targets."""
        return bool(getattr(self.model, "uses_targets", False))


# what load_run reads: the code it imports, the weights and state it loads, the tokenizer
READ = ("code", "code/model.py", "ckpt", "tokenizer.json")


def check_inside(folder: Path) -> None:
    """Every file and folder `load_run` reads lies inside the run, links resolved: a run is
    never a way to execute model.py or load weights from elsewhere."""
    from nlc.files import is_inside

    paths = [folder / rel for rel in READ]
    if (folder / "ckpt").is_dir():
        paths += sorted((folder / "ckpt").iterdir())
    for path in paths:
        if (path.exists() or path.is_symlink()) and not is_inside(path, folder):
            raise RunError(f"{path}: a link out of the run folder ({path.resolve()}); not read")


def load_run(folder: Path, device: str = "cpu", dtype: str = "float32") -> Run:
    import torch
    from nlc_runtime.training.checkpoint import CheckpointError, load_checkpoint, recorded_tokenizer
    from nlc_runtime.training.data import DataError, make_tokenizer

    from nlc.train.emitted import load_module

    if not folder.is_dir():
        raise RunError(f"{folder}: no such run folder")
    if not (folder / "code" / "model.py").exists():
        raise RunError(f"{folder}: not a run folder (no code/model.py)")
    check_inside(folder)
    from nlc_runtime.exec.state import flush_subnormals

    flush_subnormals()  # long streams (eval --stream, generate) carry decaying memories
    module = load_module(folder / "code", "model")
    cfg = module.Config()
    model = module.Model(cfg)
    try:
        saved = load_checkpoint(folder / "ckpt", model)
    except CheckpointError as err:
        raise RunError(str(err)) from None
    try:
        model.to(device=torch.device(device), dtype=getattr(torch, dtype)).eval()
    except (RuntimeError, AssertionError) as err:  # unknown device, or no CUDA in this torch
        raise RunError(f"--device {device}: {str(err).splitlines()[0]}") from None
    # the tokenizer the weights learned, as their checkpoint records it (a checkpoint from
    # before the record: RUN/tokenizer.json when there is one, else bytes)
    recorded, weights = recorded_tokenizer(folder / "ckpt")
    file = folder / "tokenizer.json"
    if recorded is None:
        kind = "bpe" if file.exists() else "byte"
    else:
        kind = "byte" if recorded == "byte" else "bpe"
        if kind == "byte" and file.exists():
            raise RunError(
                f"{file}: the checkpoint {weights} was trained with the byte tokenizer, not "
                "this file (remove it)"
            )
    try:
        tokenizer = make_tokenizer(kind, folder, cfg.vocab_size, recorded, weights)
    except DataError as err:
        raise RunError(str(err)) from None
    return Run(folder, model, cfg, tokenizer, saved.get("memory") or None)
