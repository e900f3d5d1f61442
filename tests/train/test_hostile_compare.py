"""`nlc compare` on run folders whose files are malformed (written here by hand, no training):
metrics.jsonl, summary.json and RUN/eval/*.json that are not UTF-8, not JSON, of the wrong
shape or not files at all are one line naming the file and exit 2, never a traceback; and
`--png` writes exactly the path it prints."""

from __future__ import annotations

import json

import pytest

from nlc.cli import main
from tests.train.hostile import one_line

METRICS = [
    {"step": 0, "val_loss": 5.5, "val_ppl": 245.0},
    {"step": 1, "loss": 5.4, "lr": 0.01, "tokens": 128, "tok_per_s": 16000.0, "seconds": 0.01},
    {"step": 2, "loss": 5.3, "lr": 0.01, "tokens": 256, "tok_per_s": 16000.0, "seconds": 0.02},
    {"step": 2, "val_loss": 5.2, "val_ppl": 181.0},
]
SUMMARY = {"parameters": 16480, "steps": 2, "tokens": 256, "complete": True}


def make_run(folder):
    folder.mkdir()
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in METRICS))
    (folder / "summary.json").write_text(json.dumps(SUMMARY))
    (folder / "eval").mkdir()
    (folder / "eval" / "val.json").write_text(json.dumps({"mode": "windows", "loss": 5.1}))
    return folder


def append(path, text: str):
    with open(path, "a") as f:
        f.write(text + "\n")


def test_a_well_formed_run_compares(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    png = tmp_path / "c.png"
    capsys.readouterr()
    assert main(["compare", str(run), "--png", str(png), "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["runs"][0]
    assert row["parameters"] == 16480 and row["final_val_loss"] == 5.2
    assert row["evals"] == {"val": {"loss": 5.1, "bits_per_byte": None}}


DAMAGE = {
    "metrics-not-utf8": ("metrics.jsonl:5", lambda r: open(r / "metrics.jsonl", "ab").write(
        b'{"step": 3, "loss": "\xff\xfe"}\n')),
    "metrics-loss-string": ("loss", lambda r: append(
        r / "metrics.jsonl", '{"step": 3, "loss": "low", "tokens": 384, "seconds": 0.03}')),
    "metrics-tokens-string": ("tokens", lambda r: append(
        r / "metrics.jsonl", '{"step": 3, "loss": 5.0, "tokens": "many", "seconds": 0.03}')),
    "metrics-seconds-list": ("seconds", lambda r: append(
        r / "metrics.jsonl", '{"step": 3, "loss": 5.0, "tokens": 384, "seconds": [1]}')),
    "metrics-step-1e400": ("step", lambda r: append(
        r / "metrics.jsonl", '{"step": 1e400, "loss": 5.0, "tokens": 384, "seconds": 0.03}')),
    "metrics-step-string": ("step", lambda r: append(
        r / "metrics.jsonl", '{"step": "3", "val_loss": 5.0}')),
    "metrics-val-string": ("val_loss", lambda r: append(
        r / "metrics.jsonl", '{"step": 2, "val_loss": "good"}')),
    "metrics-folder": ("metrics.jsonl", lambda r: (
        (r / "metrics.jsonl").unlink(), (r / "metrics.jsonl").mkdir())),
    "summary-not-json": ("summary.json", lambda r: (r / "summary.json").write_text("{torn")),
    "summary-not-utf8": ("summary.json", lambda r: (r / "summary.json").write_bytes(b"\xff")),
    "summary-parameters-string": ("parameters", lambda r: (r / "summary.json").write_text(
        '{"parameters": "16k", "complete": true}')),
    "summary-parameters-list": ("parameters", lambda r: (r / "summary.json").write_text(
        '{"parameters": [1], "complete": true}')),
    "summary-complete-string": ("complete", lambda r: (r / "summary.json").write_text(
        '{"parameters": 1, "complete": "yes"}')),
    "summary-folder": ("summary.json", lambda r: (
        (r / "summary.json").unlink(), (r / "summary.json").mkdir())),
    "eval-not-json": ("val.json", lambda r: (r / "eval" / "val.json").write_text("{torn")),
    "eval-a-list": ("val.json", lambda r: (r / "eval" / "val.json").write_text("[1, 2]")),
    "eval-loss-string": ("loss", lambda r: (r / "eval" / "val.json").write_text(
        '{"mode": "windows", "loss": "low"}')),
    "eval-accuracy-string": ("accuracy", lambda r: (r / "eval" / "task-x.json").write_text(
        '{"mode": "task", "accuracy": "most"}')),
    "eval-accuracy-dict": ("beyond_context", lambda r: (r / "eval" / "task-x.json").write_text(
        '{"mode": "task", "accuracy": 0.5, "beyond_context": {}}')),
    "eval-folder": ("x.json", lambda r: (r / "eval" / "x.json").mkdir()),
}  # fmt: skip


@pytest.mark.parametrize("damage", DAMAGE)
def test_malformed_run_files_are_one_line_and_exit_2(tmp_path, capsys, damage):
    words, apply = DAMAGE[damage]
    run = make_run(tmp_path / "run")
    apply(run)
    capsys.readouterr()
    assert main(["compare", str(run), "--png", str(tmp_path / "c.png")]) == 2
    one_line(capsys, "nlc compare: error: ", words)
    assert not (tmp_path / "c.png").exists()


@pytest.mark.parametrize("name", ["plot", "plot.png", "plot.pdf"])
def test_png_is_written_where_it_says(tmp_path, capsys, name):
    """`--png plot` wrote plot.png and printed `plot`: the file is the path given, a PNG."""
    run = make_run(tmp_path / "run")
    out = tmp_path / "out" / name
    capsys.readouterr()
    assert main(["compare", str(run), "--png", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"plot: {out}"
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.parent.iterdir()) == [name]


def test_png_over_a_folder_or_another_file_is_refused(tmp_path, capsys):
    run = make_run(tmp_path / "run")
    folder = tmp_path / "plots"
    folder.mkdir()
    capsys.readouterr()
    assert main(["compare", str(run), "--png", str(folder)]) == 2
    one_line(capsys, "nlc compare: error: ", "--png", "folder")
    assert list(folder.iterdir()) == [] and not (tmp_path / "plots.png").exists()
    assert main(["compare", str(run), "--png", str(run / "metrics.jsonl")]) == 2
    one_line(capsys, "nlc compare: error: ", "metrics.jsonl")
    assert (run / "metrics.jsonl").read_text().startswith('{"step": 0')
