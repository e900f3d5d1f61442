"""Fixtures of the hostile suites: one small trained run shared by the session (each case
works on its own copy where it might write into it), and the per-command counts printed at
the end (`make fuzz`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlc.cli import main
from tests.hostile.harness import COUNTS
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A run of the tiny Transformer (2 steps, byte tokenizer, a checkpoint and eval results)."""
    folder = tmp_path_factory.mktemp("hostile-run")
    spec = write_spec(folder, TINY_TRANSFORMER)
    run = folder / "run"
    assert main(["train", str(spec), "--out", str(run), "--steps", "2", *FAST]) == 0
    assert main(["eval", str(run), "--max-tokens", "256"]) == 0  # RUN/eval/*.json for compare
    return run


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    terminalreporter.write_sep("-", "hostile command lines")
    terminalreporter.write_line(
        f"{'command':<14}{'tried':>7}{'accepted':>10}{'refused':>9}{'failed':>8}"
    )
    for command, seen in sorted(COUNTS.items()):
        terminalreporter.write_line(
            f"{command:<14}{seen['tried']:>7}{seen['accepted']:>10}{seen['refused']:>9}"
            f"{seen['failed']:>8}"
        )
