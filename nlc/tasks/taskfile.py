"""The task file: JSONL, one example per line, answers given as character spans of the text.

    {"task": "passkey", "text": "... QXF=73915. ... QXF=73915. ...",
     "answers": [{"start": 120, "end": 125, "value": "73915", "distance": 64}],
     "choices": "0123456789"}

- `text`: the whole example; what `nlc train --data` reads from a .jsonl file, so a task file
  is training data as it is.
- `answers`: the spans to score, in order, not overlapping; `text[start:end] == value` is
  checked on reading, so a file whose answers do not match its text is refused.
- `distance`: characters from the start of the value's earlier occurrence (the one to recall)
  to the start of the answer; with the byte tokenizer (the default) characters are tokens,
  since the generators write ASCII.
- `choices`: the alphabet answers are drawn from: chance accuracy per token is 1/len.

Spans rather than token positions keep the file independent of the tokenizer: the scorer
tokenizes the text piece by piece at the span edges (`nlc_runtime.training.examples.tokenize_spans`,
the rule training on a task file uses too).

A task whose symbols do not fit the tokenizer (MQAR over thousands of symbols; the byte
tokenizer has 256) writes token ids instead of text, the tokens form:

    {"task": "mqar", "tokens": [9, 42, 17, 3, 9, 42], "answer_tokens": [[5, 6]],
     "distances": [4], "choices": [40, 41, 42, 43]}

- `tokens`: the example's token ids, fed to the model as they are (every id below the
  model's vocabulary);
- `answer_tokens`: each answer's [start, end) range of token indices, in order, not
  overlapping; `distances`: one per answer, in tokens;
- `choices`: the token ids answers are drawn from.
A record with `tokens` is read in this form (a `text` beside it is ignored).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


class TaskError(Exception):
    """A task file or task option that cannot be used: one line for the user, exit code 2."""


@dataclass(frozen=True)
class Answer:
    start: int  # characters of the text, or token indices in the tokens form
    end: int
    value: str | tuple[int, ...]  # the text at start:end, or the token ids
    distance: int


@dataclass
class Example:
    task: str
    text: str
    answers: list[Answer]
    choices: str | tuple[int, ...]  # characters, or token ids in the tokens form
    extra: dict = field(default_factory=dict)  # generator settings worth keeping (key, gap)
    tokens: list[int] | None = None  # the tokens form: ids instead of text (text is "")

    @property
    def length(self) -> int:
        """Characters of the text, or tokens in the tokens form."""
        return len(self.text) if self.tokens is None else len(self.tokens)

    def to_json(self) -> str:
        if self.tokens is not None:
            record = {
                "task": self.task,
                "tokens": self.tokens,
                "answer_tokens": [[a.start, a.end] for a in self.answers],
                "distances": [a.distance for a in self.answers],
                "choices": list(self.choices),
                **self.extra,
            }
            return json.dumps(record, separators=(",", ":"))
        record = {
            "task": self.task,
            "text": self.text,
            "answers": [asdict(a) for a in self.answers],
            "choices": self.choices,
            **self.extra,
        }
        return json.dumps(record, separators=(",", ":"))


TASK_FILE_START = b"{"  # a task file's first byte: what `write_task_file` may replace


def write_task_file(examples: list[Example], out: Path) -> Path:
    """Write atomically (a reader never sees half a file) through `nlc.files.write_file`: a
    regular file only, replacing an earlier task file (JSONL) but nothing else."""
    from nlc.files import WriteError, write_file

    try:
        write_file(out, "".join(e.to_json() + "\n" for e in examples), replaces=TASK_FILE_START)
    except WriteError as err:
        raise TaskError(str(err)) from None
    return out


def check_bounds(task: str, n: int, options: dict, size: int) -> None:
    """`n`, the options and the task's size in all (characters or tokens) within the bounds of
    `nlc.limits`; a generator calls it after its own checks, before any work."""
    from nlc.limits import LimitError, check_task, check_task_size

    try:
        check_task(n, options)
        check_task_size(task, size)
    except LimitError as err:
        raise TaskError(str(err)) from None


def _int(record: dict, key: str, where: str) -> int:
    value = record.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TaskError(f"{where}.{key}: expected an integer (got {value!r})")
    return value


def _ids(value) -> bool:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    )


def _extra(record: dict, *known: str) -> dict:
    return {k: v for k, v in record.items() if k not in ("task", "choices", *known)}


def parse_tokens_example(record: dict, where: str) -> Example:
    """A record of the tokens form, checked: ids, ranges inside the tokens, one distance each."""
    tokens, ranges = record.get("tokens"), record.get("answer_tokens")
    distances = record.get("distances")
    if not _ids(tokens) or not tokens:
        raise TaskError(f"{where}: tokens: expected a non-empty list of token ids (integers >= 0)")
    if (
        not isinstance(ranges, list)
        or not ranges
        or not all(_ids(r) and len(r) == 2 for r in ranges)
    ):
        raise TaskError(f"{where}: answer_tokens: expected a non-empty list of [start, end] ranges")
    if not _ids(distances) or len(distances) != len(ranges):
        raise TaskError(
            f"{where}: distances: expected one integer per answer range ({len(ranges)})"
        )
    choices = record.get("choices", [])
    if not _ids(choices):
        raise TaskError(f"{where}: choices: expected a list of token ids (got {choices!r})")
    parsed, previous_end = [], 1
    for i, ((start, end), distance) in enumerate(zip(ranges, distances)):
        if not previous_end <= start < end <= len(tokens):
            raise TaskError(
                f"{where}: answer_tokens[{i}]: range {start}-{end} is outside the tokens "
                f"({len(tokens)}), empty, at the first token, or overlaps the range before it"
            )
        if distance <= 0:
            raise TaskError(f"{where}: distances[{i}]: expected a positive integer (got 0)")
        parsed.append(Answer(start, end, tuple(tokens[start:end]), distance))
        previous_end = end
    extra = _extra(record, "tokens", "answer_tokens", "distances", "text")
    task = str(record.get("task", ""))
    return Example(task, "", parsed, tuple(choices), extra, list(tokens))


def parse_example(record, where: str) -> Example:
    """One line's record, checked: every answer lies in the text and says what the text says
    (or, in the tokens form, in the tokens)."""
    if not isinstance(record, dict):
        raise TaskError(f"{where}: expected a JSON object")
    if "tokens" in record:
        return parse_tokens_example(record, where)
    text, answers = record.get("text"), record.get("answers")
    if not isinstance(text, str) or not text:
        raise TaskError(f"{where}: text: expected a non-empty string")
    if not isinstance(answers, list) or not answers:
        raise TaskError(f"{where}: answers: expected a non-empty list of spans")
    choices = record.get("choices", "")
    if not isinstance(choices, str):
        raise TaskError(f"{where}: choices: expected a string (got {choices!r})")
    parsed, previous_end = [], 0
    for i, a in enumerate(answers):
        at = f"{where}: answers[{i}]"
        if not isinstance(a, dict):
            raise TaskError(f"{at}: expected an object with start, end, value, distance")
        start, end, distance = _int(a, "start", at), _int(a, "end", at), _int(a, "distance", at)
        if not previous_end <= start < end <= len(text):
            raise TaskError(
                f"{at}: span {start}-{end} is outside the text ({len(text)} characters), "
                "empty, or overlaps the answer before it"
            )
        if start == 0:
            raise TaskError(f"{at}: an answer cannot start the text (nothing predicts it)")
        if a.get("value") != text[start:end]:
            raise TaskError(
                f"{at}.value: {a.get('value')!r} is not the text at {start}-{end} "
                f"({text[start:end]!r})"
            )
        if distance <= 0:
            raise TaskError(f"{at}.distance: expected a positive integer (got {distance})")
        parsed.append(Answer(start, end, text[start:end], distance))
        previous_end = end
    extra = _extra(record, "text", "answers")
    return Example(str(record.get("task", "")), text, parsed, choices, extra)


def read_task_file(path: Path) -> list[Example]:
    """Every example of a task file; a bad line raises TaskError naming FILE:LINE and field."""
    from nlc_runtime.training.jsonl import read_records

    examples = [
        parse_example(record, f"{path}:{number}")
        for number, record in read_records(path, TaskError)
    ]
    if not examples:
        raise TaskError(f"{path}: no examples (empty file)")
    return examples
