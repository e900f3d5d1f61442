"""Passkey retrieval: a key and its value, filler, the key again; the model must write the
value. After Mohtashami & Jaggi (2023, "Landmark Attention"), keyed so that several keys could
share a text:

    <prefix filler> QXF=73915. <filler> QXF=73915. <trailing filler>
                        ^ value                  ^ answer: distance = answer start - value start

Distances are exact, in characters (= byte tokens): the filler between the two occurrences is
cut to fit. A random-length prefix moves the pair around; trailing filler after the answer
(never scored) makes every example of one distance the same length, so they batch.
"""

from __future__ import annotations

import random
import string

from nlc.tasks.filler import filler
from nlc.tasks.taskfile import Answer, Example, TaskError, check_bounds

DIGITS = string.digits
KEY_LETTERS = string.ascii_uppercase

# option -> (type, default, help); `nlc data make passkey` offers them as flags
OPTIONS = {
    "distances": ("ints", [16, 32, 64, 128, 256, 512, 1024], "distances to test, comma-separated"),
    "digits": ("int", 5, "digits of a value"),
    "key_length": ("int", 3, "capital letters of a key"),
    "prefix": ("int", 32, "most filler characters before the key (random, uniform)"),
}


def min_distance(digits: int, key_length: int) -> int:
    # value, ". ", " ", the key, "=": the shortest gap with no filler at all
    return digits + 2 + 1 + key_length + 1


def size(n: int, distances=OPTIONS["distances"][1], digits=5, key_length=3, prefix=32) -> int:
    """Characters of the examples `generate` writes with these options, in all."""
    return n * sum(prefix + d + digits + key_length + 4 for d in distances)


def generate(
    seed: int,
    n: int,
    distances=OPTIONS["distances"][1],
    digits: int = 5,
    key_length: int = 3,
    prefix: int = 32,
) -> list[Example]:
    """`n` examples per distance, in order of distance; the same seed gives the same file."""
    if digits < 1 or key_length < 1 or prefix < 0:
        raise TaskError("--digits and --key-length must be >= 1, --prefix >= 0")
    shortest = min_distance(digits, key_length)
    for d in distances:
        if d < shortest:
            raise TaskError(
                f"--distances: {d} is shorter than a key and a value ({shortest} with "
                f"--digits {digits} --key-length {key_length})"
            )
    options = {"distances": distances, "digits": digits, "key_length": key_length}
    check_bounds("passkey", n, {**options, "prefix": prefix}, size(n, prefix=prefix, **options))
    rng = random.Random(seed)
    examples = []
    for d in distances:
        for _ in range(n):
            key = "".join(rng.choice(KEY_LETTERS) for _ in range(key_length))
            value = "".join(rng.choice(DIGITS) for _ in range(digits))
            lead = rng.randint(0, prefix)
            head = filler(rng, lead) + f" {key}="
            middle = f"{value}. " + filler(rng, d - shortest) + f" {key}="
            start = len(head) + len(middle)
            text = head + middle + f"{value}. " + filler(rng, prefix - lead)
            assert len(middle) == d and text[start : start + digits] == value
            answer = Answer(start, start + digits, value, d)
            examples.append(Example("passkey", text, [answer], DIGITS, {"key": key}))
    return examples
