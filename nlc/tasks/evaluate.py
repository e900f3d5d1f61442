"""`nlc eval RUN --task TASK`: score a run on a recall task (a task name, generated here with
the defaults of `nlc data make` unless `--n`, `--seed` or the task's options say otherwise, or
a task file) and report accuracy by distance; `niah` by length and depth as well.

`--task niah` is generated for the run: lengths are multiples of its context in tokens of its
tokenizer, and the haystack is its own held-out text (the validation split `nlc eval` scores
by default, digits removed) when that is long enough, else the bundled corpus. Those options
come with `options` (`nlc.train.evaluate.niah_options`: reading a run's data is `nlc eval`'s
part, above this package)."""

from __future__ import annotations

from pathlib import Path

from nlc.tasks import TASKS
from nlc.tasks.report import make_task_report, niah_cells
from nlc.tasks.score import score_examples
from nlc.tasks.taskfile import Example, TaskError, read_task_file

DEFAULT_SEED, DEFAULT_N = 0, 20  # `nlc data make`'s defaults, so `--task NAME` == its file


def load_examples(
    task: str, seed: int | None = None, n: int | None = None, options=None
) -> tuple[list[Example], str, str]:
    """The examples, the task's name and where they come from. `options`: the generator's
    (a task name only; for `niah`, the run's context, tokenizer and haystack among them)."""
    if task in TASKS:
        seed = DEFAULT_SEED if seed is None else seed
        n = DEFAULT_N if n is None else n
        examples = TASKS[task].generate(seed, n, **(options or {}))
        per = "cell" if task == "niah" else "setting"
        return examples, task, f"generated: seed {seed}, {n} per {per}"
    path = Path(task)
    if not path.exists():
        raise TaskError(f"{task}: neither a task ({', '.join(TASKS)}) nor a task file")
    examples = read_task_file(path)
    return examples, examples[0].task or path.stem, str(path)


def attention_span(model) -> int | None:
    """How far back the model's attention sees (the smallest window or cache of its attention
    layers), or None: no attention, or attention over the whole sequence."""
    from nlc_runtime.layers.attention import Attention

    spans = [m.span for m in model.modules() if isinstance(m, Attention) and m.span]
    return min(spans) if spans else None


def chance(examples: list[Example]) -> float | None:
    """Per-token chance accuracy: 1 / the answer alphabet, when every example shares one."""
    alphabets = {e.choices for e in examples}
    if len(alphabets) != 1:
        return None
    (alphabet,) = alphabets
    return 1 / len(alphabet) if alphabet else None


def task_report(
    loaded,
    task: str,
    piece: int,
    batch_size: int,
    progress=None,
    seed: int | None = None,
    n: int | None = None,
    options=None,
) -> dict:
    examples, name, source = load_examples(task, seed, n, options)
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
        "distance_unit": "characters (= byte tokens)" if examples[0].tokens is None else "tokens",
    }
    report = make_task_report(scored, meta, chance(examples))
    if all(e.task == "niah" and {"depth", "length"} <= e.extra.keys() for e in examples):
        report.update(niah_cells(examples, scored))
    return report
