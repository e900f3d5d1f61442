"""Recall tasks: deterministic generators of examples whose answers are checkable, and the
metric that scores a trained run on them (accuracy on the answer tokens by distance).

- `passkey`: a key and a value, filler, the key again; the model must copy the value.
- `mqar`: multi-query associative recall (Zoology, Arora et al. 2023): key-value pairs, then
  the keys again in another order, each to be followed by its value.

A task file is JSONL (`taskfile.py`); its `text` field makes it training data as it is
(`nlc train SPEC --data task.jsonl`). This package never imports torch except in `score.py`.
"""

from __future__ import annotations

from nlc.tasks import mqar, passkey

# name -> module with `generate(seed, n, **options) -> list[Example]` and `OPTIONS`
TASKS = {"passkey": passkey, "mqar": mqar}
