"""`nlc data make` and `nlc eval RUN --task`: a task file is training data as it is, the
evaluation writes a table, JSON, a PNG and RUN/eval/task-NAME.json, and bad input is one line
and exit code 2."""

from __future__ import annotations

import json

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec


def make(tmp_path, *argv) -> str:
    out = tmp_path / "task.jsonl"
    assert main(["data", "make", *argv, "-o", str(out)]) == 0
    return str(out)


@pytest.fixture(scope="module")
def task_run(tmp_path_factory):
    """A tiny transformer trained 2 steps on a passkey file (`nlc train --data task.jsonl`)."""
    root = tmp_path_factory.mktemp("task")
    data = root / "train.jsonl"
    assert main(["data", "make", "passkey", "-o", str(data), "--n", "30",
                 "--distances", "16,24,32"]) == 0  # fmt: skip
    spec = write_spec(root, TINY_TRANSFORMER)
    run = root / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "2", "--data", str(data)]
    assert main([*argv, "--eval-every", "100", *FAST]) == 0
    return run


def test_make_writes_the_same_file_for_the_same_seed(tmp_path, capsys):
    a = make(tmp_path, "mqar", "--n", "2", "--pairs", "5", "--gaps", "0,40", "--seed", "4")
    first = open(a).read()
    assert capsys.readouterr().out.startswith(f"{a}: 4 mqar examples, 20 answers")
    make(tmp_path, "mqar", "--n", "2", "--pairs", "5", "--gaps", "0,40", "--seed", "4")
    assert open(a).read() == first and len(first.splitlines()) == 4


def test_make_mqar_over_a_large_vocabulary_writes_token_ids(tmp_path, capsys):
    a = make(tmp_path, "mqar", "--n", "3", "--vocab", "8192", "--seq-len", "64", "--pairs", "4",
             "--alpha", "0.5")  # fmt: skip
    assert capsys.readouterr().out.startswith(f"{a}: 3 mqar examples, 12 answers, up to 64 tokens")
    assert all("tokens" in json.loads(line) for line in open(a))


def test_eval_task_file_reports_accuracy_by_distance_and_saves_it(task_run, tmp_path, capsys):
    task = make(tmp_path, "passkey", "--n", "3", "--distances", "16,48")
    capsys.readouterr()
    assert main(["eval", str(task_run), "--task", task, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "passkey" and report["examples"] == 6 and report["answers"] == 6
    assert report["answer_tokens"] == 30 and report["chance"] == pytest.approx(0.1)
    assert report["context"] == 32 and report["attention_span"] == 32
    assert [r["distance"] for r in report["by_distance"]] == ["16", "48"]
    assert report["within_context"] is not None and report["beyond_context"] is not None
    saved = task_run / "eval" / "task-task.json"
    assert json.loads(saved.read_text()) == report
    assert (task_run / "eval" / "task-task.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["eval", str(task_run), "--task", task]) == 0  # the table: same numbers
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"run: {task_run}  task: passkey ({task})  examples: 6")
    assert out[2].split() == ["distance", "answers", "tokens", "accuracy", "exact"]
    assert out[3].split()[:3] == ["16", "3", "15"] and out[-1] == f"saved: {saved}"


def test_eval_defaults_to_the_val_split_of_the_data_the_run_trained_on(task_run, capsys):
    from nlc_runtime.training.data import load_tokens, split_tokens

    data = json.loads((task_run / "options.json").read_text())["--data"]
    capsys.readouterr()
    assert main(["eval", str(task_run), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["data"] == f"{data} (val split)"
    assert report["tokens"] == len(split_tokens(load_tokens(data), 32, 0.1)[1]) - 1
    assert (task_run / "eval" / "val.json").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["eval", "{run}", "--task", "nonsense"], "nonsense: neither a task (passkey, mqar, niah)"),
        (["eval", "{tmp}/nowhere", "--task", "passkey"], "no such run folder"),
        (["eval", "{run}", "--task", "{bad}"], "bad.jsonl:2: answers[0].value"),
        (["eval", "{run}", "--task", "passkey", "--stream"], "drop --stream"),
        (["eval", "{run}", "--task", "passkey", "--max-tokens", "9"], "--max-tokens does not"),
        (["data", "make", "sudoku", "-o", "{tmp}/x"], "unknown task 'sudoku'"),
        (["data", "make", "passkey", "-o", "{tmp}/x", "--gaps", "3"], "--gaps is not an option"),
        (["data", "make", "mqar", "-o", "{tmp}/x", "--pairs", "many"], "--pairs: expected an"),
        (["data", "make", "mqar", "-o", "{tmp}/x", "--n", "0"], "--n: expected a positive"),
        (["data", "make", "mqar", "-o", "{tmp}/x", "--alpha", "steep"], "--alpha: expected a n"),
        (["data", "make", "mqar", "-o", "{tmp}/x", "--seq-len", "8"], "--seq-len: 8 tokens"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(task_run, argv, expected, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    good = '{"text": "AB=12 AB=12", "answers": [{"start": 9, "end": 11, "value": "12", '
    bad.write_text(
        good + '"distance": 6}]}\n' + good.replace('"12", ', '"21", ') + '"distance": 6}]}\n'
    )
    filled = [a.format(run=task_run, tmp=tmp_path, bad=bad) for a in argv]
    capsys.readouterr()
    assert main(filled) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: " in err and expected in err, err
