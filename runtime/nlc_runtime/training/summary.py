"""A run's totals (kept in every checkpoint, so they span resumes) and RUN/summary.json, the
record of a run that `nlc compare` and the reports read."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Totals:
    """What the run has done so far, every invocation included; the checkpoint keeps these
    fields under these names."""

    tokens: int = 0  # training tokens, all processes
    train_time: float = 0.0  # seconds in training steps (evaluations and saves excluded)
    first_val: float | None = None  # the untrained model's validation loss
    best_val: float = math.inf
    best_step: int = 0

    @classmethod
    def from_checkpoint(cls, saved: dict) -> Totals:
        return cls(saved["tokens"], saved["train_time"], saved["first_val"], saved["best_val"],
                   saved["best_step"])  # fmt: skip

    def validated(self, step: int, val: float) -> None:
        """Count a validation loss at `step`."""
        self.first_val = val if self.first_val is None else self.first_val
        if val < self.best_val:
            self.best_val, self.best_step = val, step


def perplexity(loss: float) -> float:
    return math.exp(min(loss, 50.0))  # capped: a diverged loss is not an overflow


def summary(totals: Totals, parameters: int, steps: int, losses: list[float], total: int) -> dict:
    """summary.json of a run at `steps` steps of `total`; `losses`: this invocation's."""
    t = totals
    return {
        "parameters": parameters,
        "steps": steps,
        "tokens": t.tokens,
        "train_seconds": round(t.train_time, 2),
        "tokens_per_second": round(t.tokens / max(t.train_time, 1e-9), 1),
        "first_val_loss": t.first_val,
        "best_val_loss": t.best_val,
        "best_val_perplexity": perplexity(t.best_val),
        "best_step": t.best_step,
        "final_train_loss": losses[-1] if losses else None,
        # false: stopped early (Ctrl-C, SIGTERM, --stop-after); --resume continues it
        "complete": steps >= total,
    }


def write_summary(out: Path, record: dict) -> Path:
    """Write OUT/summary.json atomically (a temporary file, then a rename): a process killed
    while writing leaves the previous summary or none, never a torn one."""
    path = Path(out) / "summary.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def closing_line(record: dict, totals: Totals, out: Path) -> str:
    """The line train.py prints when it ends."""
    t = totals
    return (
        f"done: {record['parameters'] / 1e6:.2f}M parameters, {record['steps']} steps, "
        f"{t.tokens:,} tokens in {t.train_time:.0f}s ({record['tokens_per_second']:,.0f} "
        f"tok/s); val loss {t.first_val:.4f} -> best {t.best_val:.4f} "
        f"(perplexity {record['best_val_perplexity']:.2f}, step {t.best_step}); "
        f"files in {out}"
    )
