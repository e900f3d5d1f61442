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


def test_mqar_every_key_asked_once_and_answered_with_its_value(tmp_path):
    path = write_task_file(mqar.generate(1, 3, pairs=10, gaps=[0, 100]), tmp_path / "m.jsonl")
    for e in read_task_file(path):
        pairs, queries = e.text.split(". ", 1)[0], e.text.rsplit(". ", 1)[1]
        table = dict(p.split("=") for p in pairs.split(" "))
        assert len(table) == 10
        asked = [q.split("=")[0] for q in queries.rstrip(".").split(" ")]
        assert sorted(asked) == sorted(table)
        for a in e.answers:
            key = e.text[a.start - 2]
            assert a.value == table[key]
            assert e.text[a.start - a.distance - 2 : a.start - a.distance + 1] == f"{key}={a.value}"
        assert min(a.distance for a in e.answers) > e.extra["gap"]


def test_generator_options_out_of_range_are_refused():
    with pytest.raises(TaskError, match="shorter than a key"):
        passkey.generate(0, 1, [5])
    with pytest.raises(TaskError, match="--pairs"):
        mqar.generate(0, 1, pairs=27)


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
    ],
)  # fmt: skip
def test_bad_task_file_names_file_line_and_field(case, line, expected, tmp_path):
    path = tmp_path / f"{case}.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(TaskError) as err:
        read_task_file(path)
    assert str(err.value).startswith(str(path)) and expected in str(err.value)
    assert "\n" not in str(err.value)
