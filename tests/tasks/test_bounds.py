"""`nlc data make`: every size option has a bound, shown in the help and checked before any
work (`nlc.limits`), so a mistyped size is one line and exit 2 within seconds instead of a
generator that runs for hours; the file written is a regular file, and only an earlier task
file is replaced."""

from __future__ import annotations

import time

import pytest

from nlc.cli import main
from tests.train.hostile import deadline, one_line

HUGE = "1000000000"


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["passkey", "--n", HUGE], "--n"),
        (["passkey", "--distances", f"16,{HUGE}"], "--distances"),
        (["passkey", "--prefix", HUGE], "--prefix"),
        (["passkey", "--digits", HUGE], "--digits"),
        (["passkey", "--key-length", HUGE], "--key-length"),
        (["passkey", "--distances", ",".join(["16"] * 1001)], "--distances"),
        (["passkey", "--n", "1000000", "--distances", "1000"], "--n"),  # in all: too much
        (["mqar", "--gaps", f"0,{HUGE}"], "--gaps"),
        (["mqar", "--seq-len", HUGE], "--seq-len"),
        (["mqar", "--vocab", HUGE, "--seq-len", "64", "--pairs", "4"], "--vocab"),
        (["mqar", "--n", "1000000"], "--n"),  # 256M tokens in all
        (["niah", "--lengths", HUGE], "--lengths"),
        (["niah", "--context", HUGE], "--context"),
        (["niah", "--n", "100000", "--lengths", "1024"], "--n"),
    ],
)
def test_sizes_beyond_their_bound_are_refused_before_any_work(tmp_path, capsys, argv, flag):
    out = tmp_path / "task.jsonl"
    capsys.readouterr()
    start = time.monotonic()
    with deadline(10):
        assert main(["data", "make", *argv, "-o", str(out)]) == 2
    assert time.monotonic() - start < 5
    one_line(capsys, "nlc data make: error: ", flag)
    assert not out.exists()


def test_every_bound_is_in_the_help(capsys):
    from nlc.limits import MAX_TASK_SIZE, TASK_BOUNDS, bounds_help
    from nlc.tasks.cli import all_options

    with pytest.raises(SystemExit):
        main(["data", "make", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"{MAX_TASK_SIZE:,}" in text  # the description: the bound of a task in all
    text = text[text.index("options:") :]
    for name in ["n", *all_options()]:
        if name in TASK_BOUNDS:
            flag = "--" + name.replace("_", "-")
            at = text.index(flag + " ")
            end = text.find(" --", at + len(flag))
            assert bounds_help(name) in text[at : end if end > 0 else None], name


def test_only_an_earlier_task_file_is_replaced(tmp_path, capsys):
    """`-o` naming a file that is not a task file (a checkpoint, a text) keeps it."""
    out = tmp_path / "task.jsonl"
    argv = ["data", "make", "passkey", "--n", "1", "--distances", "16", "-o", str(out)]
    assert main(argv) == 0
    assert main([*argv[:-1], str(out), "--seed", "1"]) == 0  # an earlier task file: replaced
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    capsys.readouterr()
    assert main([*argv[:-1], str(notes)]) == 2
    one_line(capsys, "nlc data make: error: ", "notes.txt")
    assert notes.read_text() == "my notes\n"
