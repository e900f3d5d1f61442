"""`nlc compare` on two tiny runs: the table's numbers are the runs' own (summary, metrics,
saved evaluations), the PNG is written, and bad input is one line and exit code 2."""

from __future__ import annotations

import json

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, metrics, write_spec


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    runs = []
    for name, width in (("narrow", 16), ("wide", 32)):
        spec = write_spec(root, TINY_TRANSFORMER.replace("d_model: 32", f"d_model: {width}"))
        run = root / name
        argv = ["train", str(spec), "--out", str(run), "--steps", "4", "--eval-every", "2"]
        assert main([*argv, "--batch-size", "2", *FAST]) == 0
        runs.append(run)
    # one saved evaluation of each kind on the wide run only
    assert main(["eval", str(runs[1]), "--max-tokens", "100", "--json"]) == 0
    task = root / "pk.jsonl"
    assert main(["data", "make", "passkey", "-o", str(task), "--n", "2", "--distances",
                 "16,64"]) == 0  # fmt: skip
    assert main(["eval", str(runs[1]), "--task", str(task), "--json"]) == 0
    return runs


def test_compare_table_json_and_plot(two_runs, tmp_path, capsys):
    png = tmp_path / "out" / "cmp.png"
    capsys.readouterr()
    assert main(["compare", *map(str, two_runs), "--png", str(png), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert png.read_bytes()[:4] == b"\x89PNG" and result["png"] == str(png)
    rows = {r["run"]: r for r in result["runs"]}
    for run in two_runs:
        row, summary = rows[str(run)], json.loads((run / "summary.json").read_text())
        _, val = metrics(run)
        assert row["parameters"] == summary["parameters"] and row["tokens"] == 4 * 2 * 32
        assert row["best_val_loss"] == min(val.values())
        assert row["final_val_loss"] == val[4] and row["complete"] is True
        assert row["seconds"] == pytest.approx(summary["train_seconds"], abs=0.01)
    assert rows[str(two_runs[0])]["parameters"] < rows[str(two_runs[1])]["parameters"]
    # the shortest run is read at its own end: its final validation loss
    # (the table rounds seconds: under load both runs may show the same figure)
    fastest = min(r["seconds"] for r in result["runs"])
    shortest = [r for r in result["runs"] if r["seconds"] == fastest]
    assert any(r["val_loss_at_equal_time"] == r["final_val_loss"] for r in shortest)
    evals = rows[str(two_runs[1])]["evals"]
    assert set(evals) == {"val-first100", "task-pk"} and rows[str(two_runs[0])]["evals"] == {}
    saved = json.loads((two_runs[1] / "eval" / "val-first100.json").read_text())
    assert evals["val-first100"]["loss"] == saved["loss"]

    capsys.readouterr()
    assert main(["compare", *map(str, two_runs), "--png", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["run", "params"] and "task-pk" in lines[0]
    assert lines[2].startswith(str(two_runs[0])) and lines[2].split()[-2:] == ["-", "-"]
    assert f"{rows[str(two_runs[1])]['final_val_loss']:.4f}" in lines[3]
    assert lines[-1] == f"plot: {png}"


def test_compare_missing_or_untrained_run_is_one_line_and_exit_2(two_runs, tmp_path, capsys):
    for bad, expected in ((tmp_path / "nowhere", "no such run folder"), (tmp_path, "no metrics")):
        capsys.readouterr()
        assert main(["compare", str(two_runs[0]), str(bad), "--png", str(tmp_path / "c.png")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("nlc compare: error: ") and expected in err and err.count("\n") == 1
