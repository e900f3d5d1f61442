"""The loss curve of a run: RUN/metrics.jsonl -> RUN/loss.png (train and validation)."""

from __future__ import annotations

import json
from pathlib import Path

from nlc.files import WriteError, save_figure


def read_metrics(path: Path) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """(step, train loss) and (step, validation loss) pairs."""
    train, val = [], []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:  # a line a killed run left torn
            continue
        if not isinstance(record, dict) or "step" not in record:
            continue
        if "loss" in record:
            train.append((record["step"], record["loss"]))
        if "val_loss" in record:
            val.append((record["step"], record["val_loss"]))
    return train, val


def write_loss_plot(metrics: Path, out: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    train, val = read_metrics(metrics)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    if train:
        ax.plot(*zip(*train), color="#9ab", lw=1, label="train loss")
    if val:
        ax.plot(*zip(*val), "o-", color="#c33", lw=2, ms=4, label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy (nats / token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return save_figure(fig, out, WriteError)
