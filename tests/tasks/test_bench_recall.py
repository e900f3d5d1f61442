"""`nlc bench recall`: the command line refuses bad input with one line and exit code 2
before training anything, the bench's specs are shipped and valid, and the quick mode trains
every default spec 2 steps and writes the table, the JSON and the PNG."""

from __future__ import annotations

import json

import pytest

from nlc.cli import main
from nlc.recall import settings
from nlc.recall.data import write_test_file, write_train_file
from nlc.recall.train import spec_path
from nlc.tasks.taskfile import read_task_file


@pytest.mark.parametrize(
    "argv, message",
    [
        (["no-such-spec"], "unknown spec 'no-such-spec'"),
        (["--minutes", "0"], "--minutes: expected a positive number (got 0)"),
        (["--minutes", "nan"], "--minutes: expected a positive number"),
        (["--steps", "-1"], "--steps: expected a positive integer"),
        (["transformer", "transformer"], "a spec named twice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    out = tmp_path / "bench"
    assert main(["bench", "recall", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nlc bench recall: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing written, nothing trained


def test_a_bad_flag_value_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench", "recall", "--minutes", "soon"])
    assert exc.value.code == 2


def test_the_spec_sets_are_shipped_and_valid(capsys):
    for name in settings.FULL_SPECS:
        assert main(["check", str(spec_path(name))]) == 0, name


def test_the_data_is_seeded_and_mixes_the_pair_counts(tmp_path):
    s = settings.quick()
    a = write_train_file(s, tmp_path)
    assert a.read_text() == write_train_file(s, tmp_path).read_text()
    examples = read_task_file(a)
    assert len(examples) == s.train_examples * len(s.train_pairs)
    cell = s.cells[-1]
    test = read_task_file(write_test_file(s, cell, tmp_path))
    assert {len(e.text) for e in test} == {cell.seq_len}


@pytest.mark.slow
def test_quick_mode_writes_the_table_json_and_png(tmp_path, capsys):
    out = tmp_path / "bench"
    argv = ["bench", "recall", "--quick", "--out", str(out), "--json"]
    assert main([*argv, "transformer", "recall/swa-titans"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["spec"] for r in report["results"]] == ["transformer", "swa-titans"]
    for r in report["results"]:
        assert r["steps"] == 2 and set(r["cells"]) == {c.label for c in settings.quick().cells}
        assert 0 <= r["accuracy"] <= 1 and r["by_distance"]
    assert json.loads((out / "recall.json").read_text()) == report
    assert (out / "recall.png").read_bytes()[:4] == b"\x89PNG"
