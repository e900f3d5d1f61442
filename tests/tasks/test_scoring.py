"""The recall metric on hand-built models: one that copies from any distance scores 100% on
passkey and MQAR (text and token ids), beyond its pieces and beyond the context; ones that
cannot copy score at chance (a constant guess: exactly the share of that digit among the
answers; a guesser: 1 / the answer alphabet, within a tolerance)."""

from __future__ import annotations

import pytest

from nlc.tasks import mqar, passkey
from nlc.tasks.evaluate import chance
from nlc.tasks.report import make_task_report, render_task_table
from nlc.tasks.score import score_examples, tokenize_example
from tests.tasks.models import Constant, CopyFromFarBack, FakeRun, Guesser

DISTANCES = [16, 64, 256, 600]


def report_of(model, examples, piece=32):
    run = FakeRun(model)
    scored = score_examples(run, examples, piece=piece, batch_size=4)
    return make_task_report(scored, {"run": run.run, "context": run.context}, chance(examples))


def test_byte_tokens_of_an_example_are_its_bytes_and_answers_line_up():
    (example,) = passkey.generate(0, 1, [40])
    tokens, ranges = tokenize_example(example, FakeRun(Constant(0)).tokenizer, 256)
    assert tokens == list(example.text.encode())
    (a,) = example.answers
    assert ranges == [(a.start, a.end)]


@pytest.mark.parametrize("piece", [32, 1000])
def test_a_model_that_copies_from_far_back_scores_100_percent_on_passkey(piece):
    report = report_of(CopyFromFarBack(), passkey.generate(0, 5, DISTANCES), piece)
    assert report["accuracy"] == 1.0 and report["exact"] == 1.0
    assert report["beyond_context"] == 1.0  # 64..600 tokens back, pieces of 32
    assert [r["distance"] for r in report["by_distance"]] == ["16", "64", "256", "600"]
    assert all(r["accuracy"] == 1.0 and r["answers"] == 5 for r in report["by_distance"])


def test_a_model_that_copies_scores_100_percent_on_mqar():
    examples = mqar.generate(0, 3, seq_len=96, pairs=12, gaps=[0, 200])
    report = report_of(CopyFromFarBack(), examples)
    assert report["accuracy"] == 1.0 and report["answers"] == 2 * 3 * 12
    assert report["beyond_context"] == 1.0  # the gap of 200 puts them past the context 32
    # many distances: power-of-two buckets
    assert all("-" in r["distance"] for r in report["by_distance"])
    assert report["chance"] == pytest.approx(1 / 43)


def test_a_model_that_cannot_copy_scores_chance_on_mqar():
    examples = mqar.generate(5, 60, seq_len=64, pairs=8, vocab=20)  # 480 answers, chance 10%
    report = report_of(Guesser(mqar.TEXT_VALUES[:10]), examples)
    assert report["chance"] == pytest.approx(0.1)
    assert abs(report["accuracy"] - 0.1) < 0.045  # 3.3 standard deviations


def test_mqar_in_token_ids_is_scored_on_its_ids():
    """The tokens form: the scorer feeds the ids as they are (no tokenizer)."""
    examples = mqar.generate(6, 40, vocab=240, seq_len=64, pairs=8)  # ids < 247: the vocab 256
    assert examples[0].tokens is not None
    copied = report_of(CopyFromFarBack(), examples)
    assert copied["accuracy"] == 1.0 and copied["chance"] == pytest.approx(1 / 120)
    ids = "".join(map(chr, examples[0].choices))  # the Guesser takes characters
    guessed = report_of(Guesser(ids), examples)  # 320 answers, chance 0.83%
    assert guessed["accuracy"] < 0.04
    first = examples[0]
    tokens, ranges = tokenize_example(first, None, 256)
    assert tokens == first.tokens and ranges == [(a.start, a.end) for a in first.answers]


def test_a_constant_guess_scores_the_share_of_its_digit():
    examples = passkey.generate(1, 10, DISTANCES)
    report = report_of(Constant(ord("7")), examples)
    digits = "".join(a.value for e in examples for a in e.answers)
    assert report["accuracy"] == pytest.approx(digits.count("7") / len(digits), abs=1e-12)
    assert report["chance"] == pytest.approx(0.1)


def test_a_model_that_cannot_copy_scores_at_chance():
    examples = passkey.generate(2, 40, DISTANCES)  # 800 answer digits: chance 10% +- 1.1%
    report = report_of(Guesser("0123456789"), examples)
    assert abs(report["accuracy"] - 0.1) < 0.04
    assert report["exact"] < 0.01  # five digits right by luck: 1 in 100,000
    table = render_task_table({**report, "task": "passkey", "source": "-", "examples": 160})
    assert "chance 10.0%" in table and table.splitlines()[3].startswith("16 ")
