"""Multi-query associative recall (MQAR; Zoology, Arora et al. 2023): key-value pairs, an
optional gap of filler, then the keys again in another order, each followed by its value.

    A=q K=x D=m ... . <gap filler>. D=m A=q K=x ...
                                      ^ answers: distance = answer start - its value's start

Keys are distinct capital letters, values lowercase letters (chance 1/26 per answer). Zoology
uses one token per key and per value; here each is one character, one byte token. The gap
pushes every distance past it: `--gaps 0,256` tests recall within and beyond a window.
"""

from __future__ import annotations

import random
import string

from nlc.tasks.filler import filler
from nlc.tasks.taskfile import Answer, Example, TaskError

KEYS = string.ascii_uppercase
VALUES = string.ascii_lowercase

OPTIONS = {
    "pairs": ("int", 16, "key-value pairs per example (at most 26)"),
    "queries": ("int", 0, "keys asked per example (0: every key)"),
    "gaps": ("ints", [0, 64, 256], "filler characters between the pairs and the queries"),
}


def generate(
    seed: int, n: int, pairs: int = 16, queries: int = 0, gaps=OPTIONS["gaps"][1]
) -> list[Example]:
    """`n` examples per gap, in order of gap; the same seed gives the same file."""
    if not 1 <= pairs <= len(KEYS):
        raise TaskError(f"--pairs: expected 1 to {len(KEYS)} (got {pairs})")
    queries = queries or pairs
    if not 1 <= queries <= pairs:
        raise TaskError(f"--queries: expected 0 (all) to --pairs {pairs} (got {queries})")
    if any(g < 0 for g in gaps):
        raise TaskError(f"--gaps: expected numbers >= 0 (got {gaps})")
    rng = random.Random(seed)
    examples = []
    for gap in gaps:
        for _ in range(n):
            keys = rng.sample(KEYS, pairs)
            values = {k: rng.choice(VALUES) for k in keys}
            text, value_at = "", {}
            for k in keys:
                text += f"{k}="
                value_at[k] = len(text)
                text += f"{values[k]} "
            text = text[:-1] + ". " + (filler(rng, gap) + ". " if gap else "")
            answers = []
            for k in rng.sample(keys, queries):
                text += f"{k}="
                start = len(text)
                answers.append(Answer(start, start + 1, values[k], start - value_at[k]))
                text += f"{values[k]} "
            examples.append(Example("mqar", text[:-1] + ".", answers, VALUES, {"gap": gap}))
    return examples
