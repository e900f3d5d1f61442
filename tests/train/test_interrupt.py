"""Ctrl-C during `nlc train`: the step finishes, a checkpoint is written, the exit is clean,
and `--resume` continues from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT
from tests.train.helpers import FAST, TINY_TRANSFORMER, metrics, write_spec


@pytest.mark.slow
def test_sigint_writes_a_checkpoint_and_exits_cleanly(tmp_path):
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "nlc", "train", str(spec), "--out", str(run)]
    cmd += ["--steps", "100000", "--eval-every", "100000", *FAST]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    metrics_file = run / "metrics.jsonl"
    # wait until a few training steps are logged (torch import and compile take a while)
    while time.time() < deadline:
        if metrics_file.exists() and metrics_file.read_text().count('"loss"') >= 3:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err
    assert b"stopped at step" in out
    assert (run / "ckpt" / "model.safetensors").exists()
    assert (run / "loss.png").exists()
    done = max(metrics(run)[0])
    from nlc.cli import main

    assert main(["train", "--resume", str(run), "--steps", str(done + 2)]) == 0
    assert max(metrics(run)[0]) == done + 2
