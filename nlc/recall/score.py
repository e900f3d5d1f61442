"""A trained run of the recall bench scored on every test cell with the scorer `nlc eval
--task` uses (`nlc.tasks.score`: teacher-forced greedy accuracy on the answer tokens, each
example from a fresh state): accuracy per cell, and per distance within and beyond the window."""

from __future__ import annotations

from pathlib import Path

from nlc.recall.settings import WINDOW
from nlc.tasks.report import rows_by_distance
from nlc.tasks.score import Scored, score_examples
from nlc.tasks.taskfile import read_task_file


def _accuracy(part: list[Scored]) -> float | None:
    tokens = sum(s.tokens for s in part)
    return sum(s.correct for s in part) / tokens if tokens else None


def score_run(run: Path, tests: dict[str, Path]) -> dict:
    """{"cells": {label: accuracy}, "within_window", "beyond_window", "by_distance": rows}."""
    from nlc.train.evaluate import load

    loaded = load(run, "cpu", "float32")
    cells, everything = {}, []
    for label, path in tests.items():
        scored = score_examples(loaded, read_task_file(path), loaded.context, batch_size=16)
        cells[label] = _accuracy(scored)
        everything += scored
    return {
        "accuracy": _accuracy(everything),
        "cells": cells,
        "within_window": _accuracy([s for s in everything if s.distance <= WINDOW]),
        "beyond_window": _accuracy([s for s in everything if s.distance > WINDOW]),
        "by_distance": [
            {k: r[k] for k in ("distance", "min", "max", "answers", "accuracy")}
            for r in rows_by_distance(everything)
        ],
    }
