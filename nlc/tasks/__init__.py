"""Recall tasks: deterministic generators of examples whose answers are checkable, and the
metric that scores a trained run on them (accuracy on the answer tokens by distance).

- `passkey`: a key and a value, filler, the key again; the model must copy the value.
- `mqar`: multi-query associative recall as Zoology sets it (Arora et al. 2023): key-value
  pairs, then the keys again at power-law distributed places in noise, each followed by its
  value.
- `niah`: needle in a haystack (RULER's S-NIAH, as in Titans' Table 2): a pass key, number or
  word hidden in natural text at a depth, asked for at the end; scored by length and depth.

A task file is JSONL (`taskfile.py`): training data as it is (`nlc train SPEC --data
task.jsonl`; `nlc_runtime.training.examples` batches it one whole example per row, loss on the
answers). This package never imports torch except in `score.py` (and `niah.py`, which
reads the bundled corpus through `nlc_runtime.training.data`).
"""

from __future__ import annotations

from nlc.tasks import mqar, niah, passkey

# name -> module with `generate(seed, n, **options) -> list[Example]` and `OPTIONS`
TASKS = {"passkey": passkey, "mqar": mqar, "niah": niah}
