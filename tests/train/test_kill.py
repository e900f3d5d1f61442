"""`kill -9` of `nlc train` at random moments, 20 times, each time resumed: the run always
resumes, and its loss trajectory is the uninterrupted run's, step for step.

A checkpoint is saved after every step (`--ckpt-every 1`), so a kill lands in the middle of
training steps, evaluations and checkpoint writes alike; the kill moment is a random delay
after a random number of new steps (seeded). A resumed run recomputes the steps after its
last complete checkpoint, so metrics.jsonl may log a step twice: the last record counts."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from nlc.cli import main
from tests.conftest import ROOT
from tests.train.helpers import FAST, TINY_PERSIST, TINY_TRANSFORMER, write_spec

KILLS = 20
STEPS = 300
ARGS = ["--steps", str(STEPS), "--ckpt-every", "1", "--eval-every", "25", "--batch-size", "2"]


def _losses(run) -> dict[int, float]:
    """Training loss by step, the last record of each step (torn lines skipped)."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "loss" in record:
            out[record["step"]] = record["loss"]
    return out


def _logged_steps(run) -> int:
    path = run / "metrics.jsonl"
    return path.read_text().count('"loss"') if path.exists() else 0


@pytest.mark.slow
def test_a_run_killed_20_times_resumes_every_time_on_the_same_trajectory(tmp_path):
    _killed_and_resumed(tmp_path, TINY_TRANSFORMER, ARGS, KILLS, STEPS)


@pytest.mark.slow
def test_a_stream_run_killed_resumes_on_the_same_trajectory(tmp_path):
    """--stream: the stream cursors and the carried memory state are in the checkpoint, so a
    killed stream run resumes exactly (the memory's state reaches every later loss)."""
    spec = TINY_PERSIST.replace("          persist: true\n", "")
    args = [*ARGS[2:], "--steps", "60", "--stream", "--stream-length", "96"]
    _killed_and_resumed(tmp_path, spec, args, 6, 60)


def _killed_and_resumed(tmp_path, text: str, args: list[str], kills_wanted: int, steps: int):
    spec = write_spec(tmp_path, text)
    reference = tmp_path / "reference"
    assert main(["train", str(spec), "--out", str(reference), *args, *FAST]) == 0
    expected = _losses(reference)
    assert sorted(expected) == list(range(1, steps + 1))

    rng = random.Random(0)
    run = tmp_path / "killed"
    first = [sys.executable, "-m", "nlc", "train", str(spec), "--out", str(run), *args, *FAST]
    resume = [sys.executable, "-m", "nlc", "train", "--resume", str(run), *args, *FAST]
    kills = 0
    while kills < kills_wanted:
        cmd = first if not (run / "options.json").exists() else resume
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start = _logged_steps(run)
        target = start + rng.randint(0, 2)
        deadline = time.time() + 120
        while _logged_steps(run) < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.04))  # anywhere inside a step, an eval or a save
        if proc.poll() is not None:  # the run finished before the kill: nothing left to kill
            assert proc.returncode == 0, proc.stderr.read().decode()
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        kills += 1
    # the run is now resumed to its end, as often as it takes (each resume must succeed)
    while not (run / "summary.json").exists() or not json.loads(
        (run / "summary.json").read_text()
    ).get("complete"):
        done = subprocess.run(resume, cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert kills == kills_wanted, f"the run finished after {kills} kills: make STEPS larger"
    assert _losses(run) == expected
    assert not list(run.rglob("*.tmp*")), "temporary files left behind"
