"""Aligned training on task files: one example per row, padded, never cut, loss on the answers.

A task file (what `nlc data make` writes; `nlc.tasks.taskfile` documents it) is JSONL, one
example per line, in one of two forms:

    {"text": "AqBx.Aq", "answers": [{"start": 6, "end": 7, "value": "q", ...}], ...}
    {"tokens": [9, 42, 17, 3, 9, 42], "answer_tokens": [[5, 6]], ...}

- the text form: answers are character spans of `text` (`value`, when given, must be the text
  at the span). The text is tokenized piece by piece at the span edges (`tokenize_spans`), so
  an answer is always whole tokens, whatever the tokenizer.
- the tokens form, for tasks whose symbols do not fit the tokenizer (MQAR over a vocabulary of
  thousands: the byte tokenizer has 256): token ids as they are, and each answer a [start, end)
  range of token indices. A record with `tokens` is read in this form (a `text` beside it, if
  any, is ignored).

Trained as one stream cut at random offsets, examples are cut in half and the answers are a
tiny share of the loss, and nothing learns to recall (Zoology's MQAR is trained this way:
aligned rows, loss on the answers only). `ExampleBatches` gives (x, y) batches in which every
row is one whole example padded to one length (static shapes: torch.compile compiles once),
with y = -100 (cross_entropy's ignore_index) wherever a target is not scored.

    examples = load_examples("task.jsonl", tokenizer, vocab_size)
    train, val = examples.split(0.1)
    batches = ExampleBatches(train, batch_size, generator, rank, world)
    x, y = batches.next()                                   # training: shuffled epochs
    for x, y in ExampleBatches(val, batch_size, None, rank, world).eval_batches(n):
        ...                                                 # evaluation: in order, fixed

Bad input raises `DataError` with one line naming FILE:LINE and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from nlc_runtime.errors import DataError
from nlc_runtime.training.jsonl import read_records

IGNORE = -100  # torch.nn.functional.cross_entropy's default ignore_index
PAD = 0  # the token that fills a row after its example; never a target
LOSS_ON = ("answers", "all")


def is_task_file(path) -> bool:
    """A .jsonl file whose first non-empty line is a JSON object with answers (`answers` or
    `answer_tokens`). Reads only up to that line: train.py asks this of every --data."""
    path = Path(path)
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    try:
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    record = json.loads(line)
                    return isinstance(record, dict) and (
                        "answers" in record or "answer_tokens" in record
                    )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        pass  # not a task file: the text reader reports what is wrong with it
    return False


def tokenize_spans(text: str, spans, tokenizer) -> tuple[list[int], list[tuple[int, int]]]:
    """The tokens of `text` and the token range of each (start, end) character span (in order,
    not overlapping). The text is cut at the span edges and tokenized piece by piece: the byte
    tokenizer gives the tokens of the whole text, and BPE never merges across a span edge, so
    an answer is whole tokens. (`nlc eval --task` scores with this too: one rule for both.)"""
    tokens: list[int] = []
    ranges, cursor = [], 0
    for start, end in spans:
        tokens += tokenizer.encode(text[cursor:start])
        answer = tokenizer.encode(text[start:end])
        ranges.append((len(tokens), len(tokens) + len(answer)))
        tokens += answer
        cursor = end
    tokens += tokenizer.encode(text[cursor:])
    return tokens, ranges


def check_vocab(tokens: list[int], vocab_size: int, where: str) -> None:
    """An id the embedding has no row for would fail deep inside the model (or, on CUDA, as
    an asynchronous device assert): refuse it here, naming the example."""
    if tokens and max(tokens) >= vocab_size:
        raise DataError(f"{where}: token id {max(tokens)} >= the model's vocabulary {vocab_size}")


@dataclass
class TaskExamples:
    """The examples of a task file, tokenized: each one's tokens and answer token ranges."""

    tokens: list[list[int]]
    answers: list[list[tuple[int, int]]]
    longest: int
    source: str = ""  # the file, for messages
    lines: list[int] = field(default_factory=list)  # each example's line in it

    def __len__(self) -> int:
        return len(self.tokens)

    def where(self, i: int) -> str:
        """FILE:LINE of example `i`."""
        line = self.lines[i] if i < len(self.lines) else None
        return f"{self.source}:{line}" if line is not None else f"{self.source}: example {i}"

    def _part(self, lo: int, hi: int) -> TaskExamples:
        tokens = self.tokens[lo:hi]
        longest = max((len(t) for t in tokens), default=0)
        return TaskExamples(tokens, self.answers[lo:hi], longest, self.source, self.lines[lo:hi])

    def split(self, val_fraction: float) -> tuple[TaskExamples, TaskExamples]:
        """(train, val): the last `val_fraction` of the examples is held out (the file's order:
        generators write settings in order, so shuffle the file if that matters). Each part
        needs one example at least."""
        n = len(self.tokens)
        cut = int(n * (1.0 - val_fraction))
        if cut < 1 or n - cut < 1:
            raise DataError(
                f"{self.source}: {n} examples cannot be split: the train and validation "
                f"parts ({cut} and {n - cut} examples) each need one at least "
                f"(validation fraction {val_fraction})"
            )
        return self._part(0, cut), self._part(cut, n)


def _int_pair(value) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    )


def _text_record(record: dict, where: str, tokenizer) -> tuple[list[int], list[tuple]]:
    text, answers = record.get("text"), record.get("answers")
    if not isinstance(text, str) or not text:
        raise DataError(f"{where}: text: expected a non-empty string")
    if not isinstance(answers, list) or not answers:
        raise DataError(f"{where}: answers: expected a non-empty list of answer spans")
    spans, previous_end = [], 0
    for i, a in enumerate(answers):
        at = f"{where}: answers[{i}]"
        if not isinstance(a, dict) or not _int_pair([a.get("start"), a.get("end")]):
            raise DataError(f"{at}: expected an object with integer start and end")
        start, end = a["start"], a["end"]
        if not previous_end <= start < end <= len(text):
            raise DataError(
                f"{at}: span {start}-{end} is outside the text ({len(text)} characters), "
                "empty, or overlaps the answer before it"
            )
        if start == 0:
            raise DataError(f"{at}: an answer cannot start the text (nothing predicts it)")
        if "value" in a and a["value"] != text[start:end]:
            raise DataError(
                f"{at}.value: {a['value']!r} is not the text at {start}-{end} ({text[start:end]!r})"
            )
        spans.append((start, end))
        previous_end = end
    tokens, ranges = tokenize_spans(text, spans, tokenizer)
    for i, (lo, hi) in enumerate(ranges):
        # a tokenizer that drops characters (a normalizer) could leave an answer no token
        if lo == hi or lo == 0:
            raise DataError(f"{where}: answers[{i}]: tokenizes to no token, or to the first")
    return tokens, ranges


def _tokens_record(record: dict, where: str) -> tuple[list[int], list[tuple]]:
    tokens, answers = record.get("tokens"), record.get("answer_tokens")
    if (
        not isinstance(tokens, list)
        or not tokens
        or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens)
    ):
        raise DataError(f"{where}: tokens: expected a non-empty list of token ids (integers >= 0)")
    if not isinstance(answers, list) or not answers or not all(map(_int_pair, answers)):
        raise DataError(
            f"{where}: answer_tokens: expected a non-empty list of [start, end] token ranges"
        )
    previous_end = 0
    for i, (start, end) in enumerate(answers):
        if not max(previous_end, 1) <= start < end <= len(tokens):
            raise DataError(
                f"{where}: answer_tokens[{i}]: range {start}-{end} is outside the tokens "
                f"({len(tokens)}), empty, at the first token, or overlaps the range before it"
            )
        previous_end = end
    return tokens, [(start, end) for start, end in answers]


def load_examples(path, tokenizer, vocab_size: int) -> TaskExamples:
    """Every example of a task file, tokenized (a BPE tokenizer still to be trained is fitted on
    the texts first), in file order."""
    path = Path(path)
    records = read_records(path, DataError)
    for number, record in records:
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object")
    if not records:
        raise DataError(f"{path}: no examples (empty file)")
    if hasattr(tokenizer, "fit"):  # BPE trains on the run's text (once; a no-op when loaded)
        texts = [r.get("text") for _, r in records if "tokens" not in r]
        texts = [t for t in texts if isinstance(t, str)]
        if texts:
            tokenizer.fit("\n\n".join(texts))
    out = TaskExamples([], [], 0, str(path), [])
    for number, record in records:
        where = f"{path}:{number}"
        if "tokens" in record:
            tokens, ranges = _tokens_record(record, where)
            check_vocab(tokens, vocab_size, f"{where}: tokens")
        else:
            tokens, ranges = _text_record(record, where, tokenizer)
            check_vocab(tokens, vocab_size, f"{where}: text")
        out.tokens.append(tokens)
        out.answers.append(ranges)
        out.lines.append(number)
    out.longest = max(len(t) for t in out.tokens)
    return out


class ExampleBatches:
    """(x, y) batches of whole examples, one per row, padded with PAD to `length` tokens (the
    longest example by default): x and y are (batch_size, length - 1) int64, y the next tokens
    with IGNORE (-100) wherever the loss does not look: padding always, and with
    loss_on="answers" every target that is not an answer token ("all": every real token).

    Training order: epochs, each a random permutation of all examples drawn from `generator`
    when the previous one runs out. Every process draws the same `batch_size * world` indices
    and keeps its slice [rank * batch_size, (rank + 1) * batch_size), so N processes with batch
    B see exactly what one process with batch N * B sees. `state_dict` holds the epoch's order,
    the position in it and the generator's state: loaded into a fresh instance (any generator)
    the next batches are the ones the saved run would have drawn.

    Evaluation: `eval_batches(n)`, the examples in file order, the same every time; the
    generator is not used (pass None for a validation-only instance)."""

    def __init__(
        self,
        examples: TaskExamples,
        batch_size: int,
        generator: torch.Generator | None,
        rank: int = 0,
        world: int = 1,
        loss_on: str = "answers",
        length: int | None = None,
    ):
        if batch_size < 1 or world < 1 or not 0 <= rank < world:
            raise ValueError(f"batch_size {batch_size}, rank {rank}, world {world}")
        if loss_on not in LOSS_ON:
            raise ValueError(f"loss_on: expected one of {LOSS_ON} (got {loss_on!r})")
        if not examples.tokens:
            raise DataError(f"{examples.source}: no examples")
        self.examples, self.batch_size, self.generator = examples, batch_size, generator
        self.rank, self.world, self.loss_on = rank, world, loss_on
        self.length = length or examples.longest
        for i, tokens in enumerate(examples.tokens):
            if len(tokens) > self.length:
                raise DataError(
                    f"{examples.where(i)}: example of {len(tokens)} tokens is longer than the "
                    f"batch length {self.length}; an example is never cut (raise the length)"
                )
        # every example's tokens end to end, and which of them are scored targets: a few
        # flat tensors rather than a padded (examples, length) one (100k examples x 512
        # tokens would be 400 MB of int64, mostly padding)
        sizes = [len(t) for t in examples.tokens]
        self._offsets = [0]
        for size in sizes:
            self._offsets.append(self._offsets[-1] + size)
        self._flat = torch.tensor([t for ts in examples.tokens for t in ts], dtype=torch.long)
        scored = torch.zeros(len(self._flat), dtype=torch.bool)
        for i, ranges in enumerate(examples.answers):
            base = self._offsets[i]
            if loss_on == "all":
                scored[base + 1 : base + sizes[i]] = True  # token 0 is no one's target
            else:
                for lo, hi in ranges:
                    scored[base + lo : base + hi] = True
        self._scored = scored
        self._order: torch.Tensor | None = None  # drawn at the first batch, not here
        self._position = 0
        self.epoch = 0  # permutations drawn so far (the epoch under way, counting from 1)

    def _rows(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        row = torch.full((len(ids), self.length), PAD, dtype=torch.long)
        scored = torch.zeros((len(ids), self.length), dtype=torch.bool)
        for r, i in enumerate(ids):
            lo, hi = self._offsets[i], self._offsets[i + 1]
            row[r, : hi - lo] = self._flat[lo:hi]
            scored[r, : hi - lo] = self._scored[lo:hi]
        x = row[:, :-1].contiguous()
        y = row[:, 1:].masked_fill(~scored[:, 1:], IGNORE)
        return x, y

    def _draw(self, count: int) -> list[int]:
        n, out = len(self.examples.tokens), []
        while len(out) < count:
            if self._order is None or self._position == n:
                if self.generator is None:
                    raise ValueError("ExampleBatches without a generator: eval_batches only")
                self._order = torch.randperm(n, generator=self.generator)
                self._position, self.epoch = 0, self.epoch + 1
            take = min(count - len(out), n - self._position)
            out += self._order[self._position : self._position + take].tolist()
            self._position += take
        return out

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's next training batch (CPU tensors)."""
        ids = self._draw(self.batch_size * self.world)
        return self._rows(ids[self.rank * self.batch_size : (self.rank + 1) * self.batch_size])

    def eval_batches(self, n_batches: int | None = None):
        """The examples in file order, `batch_size * world` a batch (this process's slice), the
        same batches at every evaluation: the first `n_batches`, at most one pass (None: one
        whole pass). The last batch is filled up with the first examples again, so every row is
        a real example (static shapes, and no process's batch is all padding: a mean loss over
        no target would be NaN)."""
        n, per = len(self.examples.tokens), self.batch_size * self.world
        total = math.ceil(n / per)
        if n_batches is not None:
            total = min(total, n_batches)
        for b in range(total):
            ids = [(b * per + j) % n for j in range(per)]
            yield self._rows(ids[self.rank * self.batch_size : (self.rank + 1) * self.batch_size])

    def state_dict(self) -> dict:
        """Plain ints and tensors (torch.load(weights_only=True) reads them back)."""
        order = self._order if self._order is not None else torch.zeros(0, dtype=torch.long)
        return {
            "examples": len(self.examples.tokens),
            "order": order.clone(),
            "position": self._position,
            "epoch": self.epoch,
            "generator": None if self.generator is None else self.generator.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        n = len(self.examples.tokens)
        if state["examples"] != n:
            raise DataError(
                f"{self.examples.source}: {n} examples, but the checkpoint was drawing from "
                f"{state['examples']}; resume with the task file the run started with"
            )
        order = state["order"]
        self._order = order.clone().long() if len(order) else None
        self._position, self.epoch = int(state["position"]), int(state["epoch"])
        if state.get("generator") is not None and self.generator is not None:
            self.generator.set_state(state["generator"])
