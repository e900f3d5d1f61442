"""What a user of a training run sees: a progress line and the metrics files.

`Metrics` writes RUN/metrics.jsonl (one JSON object per line), TensorBoard events to
RUN/tensorboard when the `tensorboard` package is installed (the `tensorboard` extra; without
it, one line says they are off), and, with `--wandb PROJECT`, the same records to Weights &
Biases (the `wandb` extra, imported only then; off by default, never required); `Progress`
prints one status line with loss, tokens/s and
ETA, redrawn in place on a terminal and about 20 lines per run otherwise (logs, CI).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def _step(line: str) -> int | None:
    """The step of one metrics record; None for a line a killed process left torn."""
    try:
        record = json.loads(line)
        return int(record["step"]) if isinstance(record, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


class Metrics:
    def __init__(
        self,
        out: Path,
        resume_step: int,
        enabled: bool,
        wandb: str | None = None,
        config: dict | None = None,
    ):
        self.enabled = enabled
        self.writer = self.wandb = None
        if not enabled:
            return
        self.path = Path(out) / "metrics.jsonl"
        kept = []
        if self.path.exists():  # on resume, drop records past the checkpoint: they are redone
            lines = self.path.read_text().splitlines()
            steps = [(x, _step(x)) for x in lines]
            kept = [x for x, step in steps if step is not None and step <= resume_step]
        self.path.write_text("".join(x + "\n" for x in kept) if resume_step else "")
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(Path(out) / "tensorboard"), purge_step=resume_step + 1)
        except ImportError:  # tensorboard is optional: say so once, not silently
            print(
                "metrics: TensorBoard events off (pip install 'nlc[tensorboard]'); "
                "metrics.jsonl is written",
                file=sys.stderr,
            )
        if wandb:
            self.wandb = _wandb_run(wandb, Path(out), config or {})

    def log(self, **record) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step":
                    self.writer.add_scalar(key, value, record["step"])
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in record.items() if k != "step"}, step=record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()


def _wandb_run(project: str, out: Path, config: dict):
    """A W&B run for `project`, named after the run folder; a resumed run continues the same
    W&B run (its id is kept in RUN/wandb_id). The flag's parser already checked the import."""
    import wandb

    id_file = out / "wandb_id"
    run_id = id_file.read_text().strip() if id_file.exists() else wandb.util.generate_id()
    id_file.write_text(run_id + "\n")
    return wandb.init(
        project=project, name=out.resolve().name, id=run_id, resume="allow", dir=str(out),
        config={k: v for k, v in config.items() if isinstance(v, (str, int, float, bool))},
    )  # fmt: skip


class Progress:
    def __init__(self, start: int, total: int, enabled: bool):
        self.start, self.total, self.enabled = start, total, enabled
        self.tty = enabled and sys.stderr.isatty()
        self.every = max(1, (total - start) // 20)

    def update(self, step: int, loss: float, tok_s: float, seconds: float) -> None:
        if not self.enabled:
            return
        eta = seconds / max(1, step - self.start) * (self.total - step)
        line = (
            f"step {step}/{self.total} | loss {loss:.4f} | {tok_s:,.0f} tok/s"
            f" | ETA {int(eta) // 60}m{int(eta) % 60:02d}s"
        )
        if self.tty:
            sys.stderr.write("\r" + line.ljust(72))
            sys.stderr.flush()
        elif (step - self.start) % self.every == 0 or step == self.total:
            print(line, file=sys.stderr, flush=True)

    def say(self, text: str) -> None:
        if self.enabled:
            if self.tty:
                sys.stderr.write("\r" + " " * 72 + "\r")
            print(text, flush=True)
