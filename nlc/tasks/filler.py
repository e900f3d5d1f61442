"""Filler text for the recall tasks: plain lowercase sentences, drawn with the task's random
generator. It holds no capital letter, digit or `=`, the characters keys and values are made
of, so a key occurs in an example only where the generator put it (the answers stay unique).
"""

from __future__ import annotations

import random

# the passkey filler of Mohtashami & Jaggi (2023), and a few more in the same spirit
SENTENCES = (
    "the grass is green. ",
    "the sky is blue. ",
    "the sun is yellow. ",
    "here we go. ",
    "there and back again. ",
    "the river runs to the sea. ",
    "a bird sings in the tree. ",
    "the road goes ever on. ",
)

FORBIDDEN = set("=0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
assert not FORBIDDEN & set("".join(SENTENCES))


def filler(rng: random.Random, length: int) -> str:
    """`length` characters of sentences chosen at random (the last one cut short)."""
    parts, size = [], 0
    while size < length:
        parts.append(rng.choice(SENTENCES))
        size += len(parts[-1])
    return "".join(parts)[:length]
