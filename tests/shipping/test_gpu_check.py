"""bench/gpu_check.sh is what a session lent a GPU runs first, with minutes to spare: its dry run
(the same commands on CPU at toy shapes) must go through, so a device session never spends
its time on a broken flag or path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gpu_check_dry_run_goes_through(tmp_path):
    env = {
        **os.environ,
        "DRY": "1",
        "OUT": str(tmp_path / "out"),
        # the script calls python3: this interpreter's, with nlc and torch
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    proc = subprocess.run(
        ["bash", "bench/gpu_check.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "out"
    assert not (out / "skipped.txt").exists(), (out / "skipped.txt").read_text()
    for name in ("bench_large", "bench_760m_wave"):
        rows = json.loads((out / f"{name}.json").read_text())
        assert len(rows) == 1 and rows[0]["tokens_per_s"] > 0, rows
        assert rows[0]["flops_given"], rows  # MFU from the meta-device count
    summary = json.loads((out / "train_hope_summary.json").read_text())
    assert summary, summary
    assert "done in" in proc.stdout
