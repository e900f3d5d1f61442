"""The recall bench's MQAR files: one training file (a mixture of pair counts at one length)
and one test file per cell, generated with `nlc.tasks.mqar.generate` from fixed seeds (the
test seeds differ from the training one), so every spec and every run sees the same data."""

from __future__ import annotations

from pathlib import Path

from nlc.recall.settings import Cell, Settings
from nlc.tasks import mqar
from nlc.tasks.taskfile import write_task_file

TRAIN_SEED = 1000


def write_train_file(settings: Settings, folder: Path) -> Path:
    examples = []
    for i, pairs in enumerate(settings.train_pairs):
        examples += mqar.generate(
            TRAIN_SEED + i,
            settings.train_examples,
            vocab=settings.vocab,
            seq_len=settings.train_seq_len,
            pairs=pairs,
        )
    # interleaved, so the validation tail (`nlc train` holds out the last 10%) has every count
    n = len(settings.train_pairs)
    mixed = [examples[j * settings.train_examples + i] for i in range(settings.train_examples)
             for j in range(n)]  # fmt: skip
    return write_task_file(mixed, folder / "train.jsonl")


def write_test_file(settings: Settings, cell: Cell, folder: Path) -> Path:
    examples = mqar.generate(
        cell.seq_len * 100 + cell.pairs,  # a seed per cell, none the training seeds
        settings.test_examples,
        vocab=settings.vocab,
        seq_len=cell.seq_len,
        pairs=cell.pairs,
    )
    return write_task_file(examples, folder / f"test-{cell.label}.jsonl")
