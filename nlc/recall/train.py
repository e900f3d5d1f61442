"""One spec of the recall bench trained: `nlc train SPEC --data train.jsonl` in a subprocess at
the bench's size (`--set` width, layers, heads; `--context` the training length), stopped by
SIGTERM at the time cap (`nlc train` then finishes its step and writes a checkpoint); its log
is kept beside the run (DIR/runs/SPEC.log)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nlc.recall.settings import Settings
from nlc.resources import presets_dir


class BenchError(Exception):
    """Bad input to the bench, or a training that failed: one line for the user."""


def spec_path(name: str) -> Path:
    """A spec file as given, or a shipped one by name (`transformer`, `recall/swa`)."""
    path = Path(name)
    if path.is_file():
        return path
    shipped = presets_dir() / (name if name.endswith(".yaml") else f"{name}.yaml")
    if shipped.is_file():
        return shipped
    raise BenchError(f"unknown spec {name!r}: neither a file nor a shipped spec")


def spec_label(name: str) -> str:
    return Path(name).stem


@dataclass
class Trained:
    run: Path
    steps: int
    seconds: float
    stopped_early: bool
    final_loss: float | None


def train_command(spec: Path, data: Path, run: Path, s: Settings) -> list[str]:
    sets = {"model.d_model": s.width, "model.n_layers": s.layers, "model.n_heads": s.heads,
            "model.vocab_size": 256}  # fmt: skip
    argv = [sys.executable, "-m", "nlc", "train", str(spec), "--data", str(data)]
    argv += ["--out", str(run), "--steps", str(s.steps), "--batch-size", str(s.batch_size)]
    argv += ["--lr", str(s.lr), "--warmup", str(s.warmup), "--device", "cpu", "--no-compile"]
    # rows are padded to the context: the training length (the scorer feeds longer tests in
    # pieces of it, the state carried: full attention keeps its whole cache)
    argv += ["--context", str(s.train_seq_len)]
    for key, value in sets.items():
        argv += ["--set", f"{key}={value}"]
    return argv + list(s.extra or ("--eval-every", "500", "--eval-iters", "2"))


def _last_step(run: Path) -> tuple[int, float | None]:
    step, loss = 0, None
    metrics = run / "metrics.jsonl"
    if metrics.exists():
        for line in metrics.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "loss" in record and "step" in record:
                step, loss = record["step"], record["loss"]
    return step, loss


def train_spec(spec: Path, data: Path, run: Path, s: Settings, minutes: float) -> Trained:
    """Train `spec` into `run` (a fresh folder) for s.steps steps or `minutes`, whichever first."""
    import shutil

    shutil.rmtree(run, ignore_errors=True)
    run.parent.mkdir(parents=True, exist_ok=True)
    log_path = run.parent / f"{run.name}.log"
    start, stopped = time.monotonic(), False
    with open(log_path, "w") as log:
        proc = subprocess.Popen(train_command(spec, data, run, s), stdout=log, stderr=log)
        try:
            proc.wait(timeout=minutes * 60)
        except subprocess.TimeoutExpired:
            stopped = True
            proc.send_signal(signal.SIGTERM)  # finish the step, checkpoint, exit
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    seconds = time.monotonic() - start
    if proc.returncode not in (0, -signal.SIGTERM) and not (run / "ckpt").exists():
        tail = log_path.read_text().strip().splitlines()[-1:] or ["no output"]
        raise BenchError(f"training {spec} failed (exit {proc.returncode}): {tail[0]}")
    step, loss = _last_step(run)
    return Trained(run, step, seconds, stopped, loss)
