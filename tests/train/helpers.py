"""Tiny specs and helpers for the training tests (runs of a few seconds on a laptop CPU)."""

from __future__ import annotations

import json
from pathlib import Path

TINY_TRANSFORMER = """\
nlc: 1
name: tiny-transformer
model: {vocab_size: 256, d_model: 32, n_heads: 2, context: 32, n_layers: 1}
components:
  - {name: embed, kind: embedding}
  - name: layers
    components:
      - {name: norm1, kind: norm}
      - {name: attn, kind: attention}
      - {name: res1, kind: add, inputs: [in, attn]}
      - {name: norm2, kind: norm}
      - {name: mlp, kind: mlp, hidden: 64}
      - {name: res2, kind: add, inputs: [res1, mlp]}
  - {name: norm_f, kind: norm}
  - {name: head, kind: lm_head, tie: embed}
optimizer: {kind: adamw, lr: 1.0e-2, weight_decay: 0.1}
train: {batch_size: 4, steps: 20, warmup: 2, eval_every: 5}
"""

# A Titans memory that persists across sequences: its state must survive a checkpoint.
TINY_PERSIST = """\
nlc: 1
name: tiny-persist
model: {vocab_size: 256, d_model: 32, n_heads: 2, context: 32, n_layers: 1}
components:
  - {name: embed, kind: embedding}
  - name: layers
    components:
      - {name: norm1, kind: norm}
      - name: memory
        kind: titans_memory
        update:
          period: 8
          objective: l2
          optimizer: {kind: momentum, lr: data_dependent, momentum: data_dependent,
                      retention: data_dependent}
          persist: true
      - {name: res1, kind: add, inputs: [in, memory]}
  - {name: norm_f, kind: norm}
  - {name: head, kind: lm_head, tie: embed}
optimizer: {kind: adamw, lr: 3.0e-3}
train: {batch_size: 2, steps: 20, warmup: 2, eval_every: 5}
"""

FAST = ["--eval-iters", "1", "--device", "cpu"]


def write_spec(folder: Path, text: str, name: str = "tiny.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def metrics(run: Path) -> tuple[dict[int, float], dict[int, float]]:
    """Train and validation losses by step."""
    train, val = {}, {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            train[record["step"]] = record["loss"]
        if "val_loss" in record:
            val[record["step"]] = record["val_loss"]
    return train, val
