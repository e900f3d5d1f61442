"""What a user of a training run sees: a progress line and the metrics files.

`Metrics` writes RUN/metrics.jsonl (one JSON object per line) and TensorBoard events when the
`tensorboard` package is installed; `Progress` prints one status line with loss, tokens/s and
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
    def __init__(self, out: Path, resume_step: int, enabled: bool):
        self.enabled = enabled
        self.writer = None
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
        except ImportError:  # tensorboard is optional
            pass

    def log(self, **record) -> None:
        if not self.enabled:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step":
                    self.writer.add_scalar(key, value, record["step"])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


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
