"""Task generators: the same seed gives the same file, answers are where the file says and
say what the text says, distances are exact, keys occur only where they were put, and a bad
task file is refused with one line naming the file, line and field."""

from __future__ import annotations

import json

import pytest

from nlc.tasks import mqar, passkey
from nlc.tasks.taskfile import TaskError, read_task_file, write_task_file


@pytest.mark.parametrize("module", [passkey, mqar], ids=["passkey", "mqar"])
def test_same_seed_same_examples_other_seed_others(module, tmp_path):
    a = write_task_file(module.generate(7, 5), tmp_path / "a.jsonl").read_bytes()
    b = write_task_file(module.generate(7, 5), tmp_path / "b.jsonl").read_bytes()
    c = write_task_file(module.generate(8, 5), tmp_path / "c.jsonl").read_bytes()
    assert a == b and a != c


def test_passkey_answers_are_the_value_at_the_stated_distance(tmp_path):
    distances = [12, 40, 300]
    path = write_task_file(passkey.generate(3, 4, distances, prefix=20), tmp_path / "p.jsonl")
    examples = read_task_file(path)  # reading checks text[start:end] == value
    assert [e.answers[0].distance for e in examples] == [d for d in distances for _ in range(4)]
    for e in examples:
        (a,) = e.answers
        key = e.extra["key"]
        # the value occurs `distance` characters before the answer, right after the key
        assert e.text[a.start - a.distance : a.end - a.distance] == a.value
        assert e.text[a.start - a.distance - len(key) - 1 : a.start - a.distance] == key + "="
        assert e.text[a.start - len(key) - 1 : a.start] == key + "="
        assert e.text.count(key) == 2 and e.text.count("=") == 2
        assert a.value.isdigit() and len(a.value) == 5 and e.choices == "0123456789"
    # examples of one distance have one length (they batch)
    for d in distances:
        assert len({len(e.text) for e in examples if e.answers[0].distance == d}) == 1


def test_mqar_follows_zoology_pairs_then_queries_in_noise(tmp_path):
    examples = mqar.generate(1, 5, seq_len=64, pairs=10, gaps=[0, 100])
    path = write_task_file(examples, tmp_path / "m.jsonl")
    for e in read_task_file(path):  # reading checks text[start:end] == value
        gap = e.extra["gap"]
        assert len(e.text) == 64 + gap and e.tokens is None
        keys, values = e.text[0:20:2], e.text[1:20:2]
        assert set(keys) <= set(mqar.TEXT_KEYS) and set(values) <= set(mqar.TEXT_VALUES)
        assert len(set(keys)) == len(set(values)) == 10  # distinct, as Zoology draws them
        table = dict(zip(keys, values))
        assert e.choices == mqar.TEXT_VALUES and len(e.answers) == 10
        for a in e.answers:
            key = e.text[a.start - 1]
            assert a.value == table[key] and a.end == a.start + 1
            assert (a.start - 1 - 20 - gap) % 2 == 0  # a query fills a 2-token slot
            # the value `distance` back is the one after the key in the pairs
            assert e.text[a.start - a.distance - 1 : a.start - a.distance + 1] == key + a.value
            assert e.text.count(key) == 2  # a key occurs only where it was put
            assert a.distance > gap
        asked = [e.text[a.start - 1] for a in e.answers]
        assert sorted(asked) == sorted(keys)
        rest = set(e.text[20:]) - set(asked) - {a.value for a in e.answers}
        assert rest <= set(mqar.TEXT_NOISE)


def test_mqar_asks_some_keys_and_fits_a_small_vocabulary():
    for e in mqar.generate(2, 20, vocab=12, seq_len=24, pairs=6, queries=2):
        assert len(e.answers) == 2 and len(e.text) == 24
        assert set(e.text[:12:2]) <= set(mqar.TEXT_KEYS[:6])
        assert e.choices == mqar.TEXT_VALUES[:6]


def test_mqar_query_places_follow_the_power_law():
    """Zoology's skew: with alpha ~1 most queries come soon after the pairs; alpha 0 is
    uniform over the slots."""

    def early_share(alpha: float) -> float:
        slots = [
            (a.start - 1 - 8) // 2
            for e in mqar.generate(3, 300, seq_len=256, pairs=4, alpha=alpha)
            for a in e.answers
        ]
        assert min(slots) >= 0 and max(slots) < 124
        return sum(s < 31 for s in slots) / len(slots)  # the first quarter of the slots

    skewed, uniform = early_share(0.99), early_share(0.0)
    assert skewed > 0.6  # 0.75 for a lone query; a little less without replacement
    assert abs(uniform - 0.25) < 0.05


def test_mqar_beyond_byte_symbols_writes_token_ids(tmp_path):
    examples = mqar.generate(4, 6, vocab=1000, seq_len=64, pairs=8)
    path = write_task_file(examples, tmp_path / "t.jsonl")
    record = json.loads(path.read_text().splitlines()[0])
    assert "text" not in record and len(record["tokens"]) == 64
    assert record["answer_tokens"][0][1] - record["answer_tokens"][0][0] == 1
    for e, original in zip(read_task_file(path), examples):
        assert e.tokens == original.tokens and e.answers == original.answers
        assert e.choices == tuple(range(7 + 500, 7 + 1000))  # noise 1-6, keys, values
        assert min(e.tokens) >= 1 and max(e.tokens) < 1000 + 7
        keys = e.tokens[0:16:2]
        assert all(7 <= k < 507 for k in keys)
        for a in e.answers:
            (value,) = a.value
            assert e.tokens[a.start - a.distance] == value in e.choices
            assert e.tokens[a.start - a.distance - 1] == e.tokens[a.start - 1] in keys


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"vocab": 1}, "--vocab: expected 2 or more"),
        ({"pairs": 44}, "--pairs: expected 1 to 43"),
        ({"pairs": 0}, "--pairs: expected 1 to 43"),
        ({"vocab": 10, "pairs": 6}, "--pairs: expected 1 to 5"),
        ({"pairs": 4, "queries": 5}, "--queries: expected 0 (all) to --pairs 4"),
        ({"pairs": 8, "seq_len": 31}, "--seq-len: 31 tokens cannot hold 8 pairs and 8 queries"),
        ({"alpha": -1.0}, "--alpha: expected a number >= 0"),
        ({"alpha": float("nan")}, "--alpha: expected a number >= 0"),
        ({"gaps": [0, -1]}, "--gaps: expected numbers >= 0"),
    ],
)
def test_mqar_options_out_of_range_are_one_line(options, expected):
    with pytest.raises(TaskError) as err:
        mqar.generate(0, 1, **options)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


def test_generator_options_out_of_range_are_refused():
    with pytest.raises(TaskError, match="shorter than a key"):
        passkey.generate(0, 1, [5])


@pytest.mark.parametrize(
    "case, line, expected",
    [
        ("not-json", "{oops", ":1: not JSON"),
        ("no-text", json.dumps({"answers": []}), ":1: text: expected a non-empty string"),
        (
            "wrong-value",
            json.dumps({"text": "AB=12 AB=12", "answers": [
                {"start": 9, "end": 11, "value": "13", "distance": 6}]}),
            ":1: answers[0].value: '13' is not the text at 9-11 ('12')",
        ),
        (
            "outside",
            json.dumps({"text": "AB=12", "answers": [
                {"start": 3, "end": 9, "value": "12", "distance": 1}]}),
            ":1: answers[0]: span 3-9 is outside the text",
        ),
        (
            "distance",
            json.dumps({"text": "AB=12", "answers": [
                {"start": 3, "end": 5, "value": "12", "distance": "far"}]}),
            ":1: answers[0].distance: expected an integer",
        ),
        (
            "tokens-range",
            json.dumps({"tokens": [5, 6, 7], "answer_tokens": [[2, 4]], "distances": [1]}),
            ":1: answer_tokens[0]: range 2-4 is outside the tokens (3)",
        ),
        (
            "tokens-distances",
            json.dumps({"tokens": [5, 6, 7], "answer_tokens": [[2, 3]]}),
            ":1: distances: expected one integer per answer range (1)",
        ),
        (
            "tokens-ids",
            json.dumps({"tokens": [5, "x"], "answer_tokens": [[1, 2]], "distances": [1]}),
            ":1: tokens: expected a non-empty list of token ids",
        ),
    ],
)  # fmt: skip
def test_bad_task_file_names_file_line_and_field(case, line, expected, tmp_path):
    path = tmp_path / f"{case}.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(TaskError) as err:
        read_task_file(path)
    assert str(err.value).startswith(str(path)) and expected in str(err.value)
    assert "\n" not in str(err.value)
