"""Aligned batches of a task file (`nlc_runtime.training.examples`): every row one whole example, loss
only where it is asked for, N processes see what one process sees with N times the batch, a
resumed run draws the same next batches, and bad input is one line naming FILE:LINE."""

from __future__ import annotations

import io
import json

import pytest
import torch
from nlc_runtime.errors import DataError
from nlc_runtime.training.examples import (
    IGNORE,
    ExampleBatches,
    TaskExamples,
    is_task_file,
    load_examples,
    tokenize_spans,
)
from nlc_runtime.training.tokenizer import ByteTokenizer


def record(key: str, value: str, filler: str = "") -> dict:
    """`key=value. filler key=value.`: one answer, the second value."""
    text = f"{key}={value}. {filler}{key}="
    start = len(text)
    text += f"{value}."
    return {"text": text, "answers": [{"start": start, "end": start + len(value), "value": value}]}


def write(tmp_path, records, name="task.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def examples(tmp_path) -> TaskExamples:
    # 10 examples of different lengths: one value per example, 1 to 3 characters
    records = [record(chr(65 + i), "x" * (1 + i % 3), "ab " * i) for i in range(10)]
    return load_examples(write(tmp_path, records), ByteTokenizer(), 256)


def whole_rows(batches: ExampleBatches, x, y, examples: TaskExamples) -> list[int]:
    """Which example each row is; asserts the row is that whole example, then padding."""
    found = []
    for xr, yr in zip(x.tolist(), y.tolist()):
        row = xr + [yr[-1] if yr[-1] != IGNORE else 0]
        matches = [
            i
            for i, t in enumerate(examples.tokens)
            if row[: len(t) - 1] == t[:-1] and all(v == 0 for v in row[len(t) :])
        ]
        assert len(matches) == 1, row
        found.append(matches[0])
    return found


def test_load_examples_tokenizes_at_the_spans_and_marks_the_answers(examples):
    assert len(examples) == 10
    for tokens, ranges, i in zip(examples.tokens, examples.answers, range(10)):
        ((lo, hi),) = ranges
        assert bytes(tokens[lo:hi]).decode() == "x" * (1 + i % 3)
    assert examples.longest == max(len(t) for t in examples.tokens)
    # the same rule as the scorer's: the byte tokens of the whole text
    tokens, ranges = tokenize_spans("AB=12", [(3, 5)], ByteTokenizer())
    assert tokens == list(b"AB=12") and ranges == [(3, 5)]


def test_every_row_is_one_whole_example_padded_and_loss_only_on_answers(examples):
    batches = ExampleBatches(examples, 4, torch.Generator().manual_seed(0))
    seen = []
    for _ in range(5):  # 20 rows: two epochs of 10
        x, y = batches.next()
        assert x.shape == y.shape == (4, examples.longest - 1)
        assert x.dtype == y.dtype == torch.int64
        ids = whole_rows(batches, x, y, examples)
        for r, i in enumerate(ids):
            tokens, ((lo, hi),) = examples.tokens[i], examples.answers[i]
            scored = (y[r] != IGNORE).nonzero().flatten().tolist()
            assert scored == list(range(lo - 1, hi - 1))  # target t-1 is token t
            assert y[r, lo - 1 : hi - 1].tolist() == tokens[lo:hi]
        seen += ids
    # an epoch is a permutation: every example once per epoch
    assert sorted(seen[:10]) == sorted(seen[10:]) == list(range(10))
    assert batches.epoch == 2


def test_loss_on_all_scores_every_real_target_and_never_padding(examples):
    batches = ExampleBatches(examples, 3, torch.Generator().manual_seed(1), loss_on="all")
    x, y = batches.next()
    for r, i in enumerate(whole_rows(batches, x, y, examples)):
        n = len(examples.tokens[i])
        assert (y[r, : n - 1] != IGNORE).all() and (y[r, n - 1 :] == IGNORE).all()
        assert y[r, : n - 1].tolist() == examples.tokens[i][1:]


def test_a_longer_length_pads_more_and_a_shorter_one_is_refused(examples):
    x, y = ExampleBatches(examples, 2, torch.Generator(), length=100).next()
    assert x.shape == (2, 99)
    with pytest.raises(DataError) as err:
        ExampleBatches(examples, 2, torch.Generator(), length=10)
    assert str(err.value).startswith(f"{examples.source}:2: example of 14 tokens is longer")


def test_two_processes_see_what_one_process_sees_with_twice_the_batch(examples):
    one = ExampleBatches(examples, 6, torch.Generator().manual_seed(3))
    ranks = [ExampleBatches(examples, 3, torch.Generator().manual_seed(3), r, 2) for r in (0, 1)]
    for _ in range(7):  # across epochs (6 rows of 10 examples a step)
        x, y = one.next()
        parts = [b.next() for b in ranks]
        assert torch.equal(x, torch.cat([p[0] for p in parts]))
        assert torch.equal(y, torch.cat([p[1] for p in parts]))


def test_a_resumed_run_draws_the_same_next_batches(examples):
    batches = ExampleBatches(examples, 4, torch.Generator().manual_seed(5))
    for _ in range(3):
        batches.next()
    buffer = io.BytesIO()
    torch.save(batches.state_dict(), buffer)
    expected = [batches.next() for _ in range(6)]
    buffer.seek(0)
    resumed = ExampleBatches(examples, 4, torch.Generator().manual_seed(99))
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for (x, y), (rx, ry) in zip(expected, [resumed.next() for _ in range(6)]):
        assert torch.equal(x, rx) and torch.equal(y, ry)
    assert resumed.epoch == batches.epoch


def test_a_checkpoint_of_other_examples_is_refused(examples):
    state = ExampleBatches(examples, 2, torch.Generator()).state_dict()
    train, _ = examples.split(0.2)
    with pytest.raises(DataError, match="8 examples, but the checkpoint was drawing from 10"):
        ExampleBatches(train, 2, torch.Generator()).load_state_dict(state)


def test_split_holds_out_the_last_examples_and_needs_one_each(examples):
    train, val = examples.split(0.2)
    assert train.tokens == examples.tokens[:8] and val.tokens == examples.tokens[8:]
    assert val.lines == [9, 10] and val.longest == max(len(t) for t in val.tokens)
    with pytest.raises(DataError) as err:
        examples.split(0.0)
    assert str(err.value) == (
        f"{examples.source}: 10 examples cannot be split: the train and validation parts "
        "(10 and 0 examples) each need one at least (validation fraction 0.0)"
    )
    with pytest.raises(DataError, match=r"\(0 and 10 examples\)"):
        examples.split(0.95)


def test_eval_batches_are_the_examples_in_order_the_same_every_time(examples):
    _, val = examples.split(0.5)  # 5 examples
    batches = ExampleBatches(val, 2, None)
    first = list(batches.eval_batches())
    assert len(first) == 3  # 5 examples, 2 a batch: the last filled up with the first
    rows = [i for x, y in first for i in whole_rows(batches, x, y, val)]
    assert rows == [0, 1, 2, 3, 4, 0]
    again = list(batches.eval_batches(2))
    assert len(again) == 2 and all(
        torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again)
    )
    # two processes: each its slice of the same batches
    halves = [ExampleBatches(val, 1, None, r, 2) for r in (0, 1)]
    for (x, y), (x0, y0), (x1, y1) in zip(first, *[h.eval_batches() for h in halves]):
        assert torch.equal(x, torch.cat([x0, x1])) and torch.equal(y, torch.cat([y0, y1]))
    with pytest.raises(ValueError, match="eval_batches only"):
        batches.next()


def test_the_tokens_form_is_read_as_it_is(tmp_path):
    records = [
        {"tokens": [300, 7, 301, 8, 300, 7], "answer_tokens": [[5, 6]]},
        {"tokens": [302, 9, 5, 302, 9], "answer_tokens": [[4, 5]], "text": "ignored"},
    ]
    path = write(tmp_path, records)
    assert is_task_file(path)
    examples = load_examples(path, ByteTokenizer(), 512)
    assert examples.tokens == [r["tokens"] for r in records]
    assert examples.answers == [[(5, 6)], [(4, 5)]] and examples.longest == 6
    x, y = ExampleBatches(examples, 2, None).eval_batches().__next__()
    assert x.tolist() == [[300, 7, 301, 8, 300], [302, 9, 5, 302, 9]]
    assert y.tolist() == [[IGNORE] * 4 + [7], [IGNORE] * 3 + [9, IGNORE]]


def test_is_task_file_reads_the_first_line_only(tmp_path):
    assert is_task_file(write(tmp_path, [record("K", "1")]))
    assert not is_task_file(write(tmp_path, [{"text": "plain"}], "plain.jsonl"))
    (tmp_path / "notes.txt").write_text('{"answers": []}\n')
    assert not is_task_file(tmp_path / "notes.txt")
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n\n" + json.dumps(record("K", "1")) + "\n{oops\n")
    assert is_task_file(broken)  # the bad line is load_examples' to report
    assert not is_task_file(tmp_path / "missing.jsonl") and not is_task_file(tmp_path)


GOOD = record("AB", "12")


@pytest.mark.parametrize(
    "lines, vocab, expected",
    [
        ([GOOD, "{oops"], 256, ":2: not JSON"),
        ([GOOD, [1, 2]], 256, ":2: expected a JSON object"),
        ([{"answers": GOOD["answers"]}], 256, ":1: text: expected a non-empty string"),
        ([GOOD, GOOD, {**GOOD, "answers": []}], 256,
         ":3: answers: expected a non-empty list of answer spans"),
        ([{**GOOD, "answers": [{"start": 10, "end": 30}]}], 256,
         ":1: answers[0]: span 10-30 is outside the text (13 characters)"),
        ([{**GOOD, "answers": [{"start": 10, "end": 12, "value": "13"}]}], 256,
         ":1: answers[0].value: '13' is not the text at 10-12 ('12')"),
        ([{**GOOD, "answers": [{"start": 0, "end": 1}]}], 256,
         ":1: answers[0]: an answer cannot start the text"),
        ([{**GOOD, "answers": [{"start": "10", "end": 12}]}], 256,
         ":1: answers[0]: expected an object with integer start and end"),
        ([GOOD], 60, ":1: text: token id 66 >= the model's vocabulary 60"),
        ([{"tokens": [1, 2, 700], "answer_tokens": [[2, 3]]}], 512,
         ":1: tokens: token id 700 >= the model's vocabulary 512"),
        ([{"tokens": [1, -2], "answer_tokens": [[1, 2]]}], 512,
         ":1: tokens: expected a non-empty list of token ids"),
        ([{"tokens": [1, 2], "answer_tokens": []}], 512,
         ":1: answer_tokens: expected a non-empty list of [start, end] token ranges"),
        ([{"tokens": [1, 2], "answer_tokens": [[0, 1]]}], 512,
         ":1: answer_tokens[0]: range 0-1 is outside the tokens (2)"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_file_line_and_field(lines, vocab, expected, tmp_path):
    path = tmp_path / "task.jsonl"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    with pytest.raises(DataError) as err:
        load_examples(path, ByteTokenizer(), vocab)
    message = str(err.value)
    assert message.startswith(str(path) + expected) and "\n" not in message, message


def test_an_empty_or_missing_file_is_one_line(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match=r"empty.jsonl: no examples \(empty file\)$"):
        load_examples(empty, ByteTokenizer(), 256)
    with pytest.raises(DataError, match="missing.jsonl: no such task file$"):
        load_examples(tmp_path / "missing.jsonl", ByteTokenizer(), 256)
