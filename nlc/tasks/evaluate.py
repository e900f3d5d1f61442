"""`nlc eval RUN --task TASK`: score a run on a recall task (a task name, generated here with
the defaults of `nlc data make`, or a task file) and report accuracy by distance."""

from __future__ import annotations

from pathlib import Path

from nlc.tasks import TASKS
from nlc.tasks.report import make_task_report
from nlc.tasks.score import score_examples
from nlc.tasks.taskfile import Example, TaskError, read_task_file

DEFAULT_SEED, DEFAULT_N = 0, 20  # `nlc data make`'s defaults, so `--task NAME` == its file


def load_examples(task: str) -> tuple[list[Example], str, str]:
    """The examples, the task's name and where they come from."""
    if task in TASKS:
        examples = TASKS[task].generate(DEFAULT_SEED, DEFAULT_N)
        return examples, task, f"generated: seed {DEFAULT_SEED}, {DEFAULT_N} per setting"
    path = Path(task)
    if not path.exists():
        raise TaskError(f"{task}: neither a task ({', '.join(TASKS)}) nor a task file")
    examples = read_task_file(path)
    return examples, examples[0].task or path.stem, str(path)


def attention_span(model) -> int | None:
    """How far back the model's attention sees (the smallest window or cache of its attention
    layers), or None: no attention, or attention over the whole sequence."""
    from nlc_runtime.attention import Attention

    spans = [m.span for m in model.modules() if isinstance(m, Attention) and m.span]
    return min(spans) if spans else None


def chance(examples: list[Example]) -> float | None:
    """Per-token chance accuracy: 1 / the answer alphabet, when every example shares one."""
    alphabets = {e.choices for e in examples}
    return 1 / len(alphabets.pop()) if len(alphabets) == 1 and "" not in alphabets else None


def task_report(loaded, task: str, piece: int, batch_size: int, progress=None) -> dict:
    examples, name, source = load_examples(task)
    scored = score_examples(loaded, examples, piece, batch_size, progress)
    meta = {
        "run": str(loaded.run),
        "task": name,
        "source": source,
        "mode": "task",
        "examples": len(examples),
        "context": loaded.context,
        "attention_span": attention_span(loaded.model),
        "piece": piece,
        "distance_unit": "characters (= byte tokens)",
    }
    return make_task_report(scored, meta, chance(examples))
