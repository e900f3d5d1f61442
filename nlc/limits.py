"""Bounds on the sizes and numbers given on the command line: one table, checked before any
work, so that a mistyped `--n 1000000000` is one line and exit code 2 within a second, never
hours of generating or an allocation of the machine's memory.

The bounds are generous for their purpose (a task file of 50M tokens, 100k sampled tokens)
and shown in each command's help.
"""

from __future__ import annotations

import math

from nlc.errors import Diagnostic, SpecError

# `nlc generate`
MAX_SAMPLE_TOKENS = 100_000  # --tokens
MAX_PROMPT_CHARS = 100_000  # --prompt, in characters (fed in pieces of the run's context)
TEMPERATURE = (1e-3, 100.0)  # --temperature: below, float32 logits / T overflow
MAX_SEED = 2**64 - 1  # torch.manual_seed takes 0 .. 2**64 - 1

# `nlc eval`
MAX_PIECE = 65_536  # --piece: tokens per call (attention's memory grows as its square)
MAX_BATCH = 4_096  # --batch-size
MAX_EVAL_TOKENS = 10**12  # --max-tokens

# Recall tasks (`nlc data make`, `nlc eval --task`): option -> (least, most); list options
# bound every value, and hold at most MAX_VALUES values.
TASK_BOUNDS = {
    "n": (1, 1_000_000),
    "distances": (1, 1_000_000),
    "digits": (1, 100),
    "key_length": (1, 100),
    "prefix": (0, 1_000_000),
    "vocab": (2, 1_000_000),
    "seq_len": (2, 1_000_000),
    "pairs": (1, 500_000),
    "queries": (0, 500_000),
    "gaps": (0, 1_000_000),
    "lengths": (1, 1_024),
    "depths": (0, 100),
    "context": (1, 1_000_000),
}
MAX_VALUES = 1_000
MAX_TASK_SIZE = 50_000_000  # characters (or tokens) of one generated task, all examples


class LimitError(SpecError):
    """A value outside its bound: one line naming the flag, the bound and the value."""

    def __init__(self, flag: str, message: str):
        super().__init__(Diagnostic(flag, None, "", message))


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(flag: str, value, low: int, high: int) -> int:
    """`value` is an integer from `low` to `high`."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        what = (
            f"a positive integer up to {high:,}"
            if low == 1
            else (f"an integer from {low:,} to {high:,}")
        )
        raise LimitError(flag, f"expected {what} (got {value})")
    return value


def check_float(flag: str, value, low: float, high: float) -> float:
    """`value` is a finite number from `low` to `high`."""
    if not _is_number(value) or not math.isfinite(value) or not low <= value <= high:
        raise LimitError(flag, f"expected a number from {low:g} to {high:g} (got {value})")
    return float(value)


def bounds_help(name: str) -> str:
    """`1 to 1,000,000` for a task option's help."""
    low, high = TASK_BOUNDS[name]
    return f"{low:,} to {high:,}"


def check_task(n, options: dict) -> None:
    """`--n` and a task's options within TASK_BOUNDS (the options not bounded there are
    checked by the task's generator)."""
    if n is not None:
        check_int("--n", n, *TASK_BOUNDS["n"])
    for name, value in options.items():
        if name not in TASK_BOUNDS:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, (list, tuple)):
            if len(value) > MAX_VALUES:
                raise LimitError(flag, f"at most {MAX_VALUES:,} values (got {len(value):,})")
            for v in value:
                check_int(flag, v, *TASK_BOUNDS[name])
        else:
            check_int(flag, value, *TASK_BOUNDS[name])


def check_task_size(task: str, size: int) -> None:
    """A task whose examples hold more than MAX_TASK_SIZE characters (tokens) in all."""
    if size > MAX_TASK_SIZE:
        raise LimitError(
            "--n",
            f"{task}: these options make {size:,} characters (tokens) of examples, more than "
            f"{MAX_TASK_SIZE:,}; use fewer examples or shorter ones",
        )
