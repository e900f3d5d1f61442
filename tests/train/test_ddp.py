"""Several processes: the emitted train.py under torchrun (DDP, gloo on CPU). Two processes
with batch B follow the same loss trajectory as one process with batch 2B — also across a
checkpoint and `--resume`, with memories that persist across sequences (each rank keeps its
own)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nlc.cli import main
from tests.conftest import ROOT
from tests.train.helpers import FAST, TINY_PERSIST, TINY_TRANSFORMER, metrics, write_spec
from tests.train.test_optimizer_rules import ADAMW_LINE


def torchrun_train(*argv: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nlc", "train", *argv, "--nproc", "2"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def assert_same_trajectory(one, two):
    (a_train, a_val), (b_train, b_val) = metrics(one), metrics(two)
    assert sorted(a_train) == sorted(b_train) == [1, 2, 3, 4]
    for step in a_train:
        assert b_train[step] == pytest.approx(a_train[step], rel=1e-4), step
    assert a_val.keys() == b_val.keys()
    for step in a_val:
        assert b_val[step] == pytest.approx(a_val[step], rel=1e-4), step


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["transformer", "lm-signal"])
def test_two_gloo_processes_equal_one_process_with_twice_the_batch(tmp_path, kind):
    """Also with the LM signal, whose teach is an autograd.grad inside the forward: DDP's
    gradient hooks see only the training loss's backward."""
    from tests.train.test_eval import TINY_LM_SIGNAL

    spec = write_spec(tmp_path, TINY_TRANSFORMER if kind == "transformer" else TINY_LM_SIGNAL)
    common = ["--steps", "4", "--eval-every", "2", *FAST]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", str(spec), "--out", str(one), "--batch-size", "4", *common]) == 0
    proc = torchrun_train(str(spec), "--out", str(two), "--batch-size", "2", *common)
    assert "2 processes, DDP" in proc.stdout
    assert_same_trajectory(one, two)


@pytest.mark.slow
def test_ddp_resume_with_persisted_memories_equals_one_process(tmp_path):
    spec = write_spec(tmp_path, TINY_PERSIST)
    common = ["--steps", "4", "--eval-every", "2", *FAST]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", str(spec), "--out", str(one), "--batch-size", "2", *common]) == 0
    torchrun_train(str(spec), "--out", str(two), "--batch-size", "1", *common, "--stop-after", "2")
    assert (two / "ckpt" / "memory.rank1.pt").exists()
    torchrun_train("--resume", str(two))
    assert_same_trajectory(one, two)


TINY_MEMORY = TINY_PERSIST.replace("          persist: true\n", "")  # carried by --stream


@pytest.mark.slow
def test_ddp_stream_training_equals_one_process_also_across_resume(tmp_path):
    """--stream over documents (rows restart at different windows): each rank walks its own
    rows of the same streams and carries their state, saved per rank; two processes with
    batch 1 follow one process with batch 2 through a stop and a resume."""
    spec = write_spec(tmp_path, TINY_MEMORY)
    docs = tmp_path / "docs.jsonl"
    text = (ROOT / "data" / "README.md").read_text().split()
    docs.write_text(
        "".join(
            f'{{"text": "{" ".join(text[i : i + 20 + i % 37])}"}}\n' for i in range(0, 3000, 30)
        )
    )
    common = ["--steps", "4", "--eval-every", "2", "--stream", "--data", str(docs), *FAST]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", str(spec), "--out", str(one), "--batch-size", "2", *common]) == 0
    torchrun_train(str(spec), "--out", str(two), "--batch-size", "1", *common, "--stop-after", "2")
    assert (two / "ckpt" / "memory.rank1.pt").exists()
    torchrun_train("--resume", str(two))
    assert_same_trajectory(one, two)


@pytest.mark.slow
def test_fsdp2_sharded_weights_equal_one_process_also_across_resume(tmp_path):
    """FSDP2 (`--parallel fsdp`): each rank holds half of every block's weights; the loss
    trajectory is the one-process one, and a checkpoint gathered from the shards resumes it."""
    spec = write_spec(tmp_path, TINY_PERSIST)
    common = ["--steps", "4", "--eval-every", "2", *FAST]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", str(spec), "--out", str(one), "--batch-size", "2", *common]) == 0
    fsdp = ["--parallel", "fsdp", "--batch-size", "1", *common]
    proc = torchrun_train(str(spec), "--out", str(two), *fsdp, "--stop-after", "2")
    assert "2 processes, FSDP2, weights sharded" in proc.stdout
    torchrun_train("--resume", str(two))
    assert_same_trajectory(one, two)
    # the checkpoint holds whole tensors, loadable by a single process
    from safetensors.torch import load_file

    whole = load_file(one / "ckpt" / "model.safetensors")
    gathered = load_file(two / "ckpt" / "model.safetensors")
    assert whole.keys() == gathered.keys()
    assert all(whole[k].shape == gathered[k].shape for k in whole)


@pytest.mark.slow
def test_bad_data_under_torchrun_is_one_clear_line(tmp_path):
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    (tmp_path / "short.txt").write_text("x")
    cmd = [sys.executable, "-m", "nlc", "train", str(spec), "--out", str(tmp_path / "r")]
    cmd += ["--nproc", "2", "--data", str(tmp_path / "short.txt")]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "too short" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_fsdp2_refuses_the_lm_signal_in_one_line(tmp_path):
    """The LM signal's teach is a backward pass inside the forward; FSDP2's backward hooks
    would reshard weights the forward still needs: refused before any worker starts."""
    from tests.train.test_eval import TINY_LM_SIGNAL

    spec = write_spec(tmp_path, TINY_LM_SIGNAL)
    cmd = [sys.executable, "-m", "nlc", "train", str(spec), "--out", str(tmp_path / "r")]
    cmd += ["--nproc", "2", "--parallel", "fsdp"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "signal lm" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_fsdp2_with_a_memory_form_optimizer_equals_one_process_across_resume(tmp_path):
    """M3 (Newton–Schulz on whole matrices, gathered from the shards; its momenta sharded back)
    with a period-3 group: FSDP2 at batch 1 x 2 processes, stopped at step 3 (between the
    group's updates) and resumed, follows the one-process batch-2 trajectory."""
    rule = '{kind: m3, lr: 1.0e-2, slow_period: 2, groups: [{match: "layers.*.mlp", period: 3}]}'
    spec = write_spec(tmp_path, TINY_TRANSFORMER.replace(ADAMW_LINE, f"optimizer: {rule}"))
    common = ["--steps", "4", "--eval-every", "2", *FAST]
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["train", str(spec), "--out", str(one), "--batch-size", "2", *common]) == 0
    fsdp = ["--parallel", "fsdp", "--batch-size", "1", *common]
    proc = torchrun_train(str(spec), "--out", str(two), *fsdp, "--stop-after", "3")
    assert "FSDP2, weights sharded" in proc.stdout
    torchrun_train("--resume", str(two))
    assert_same_trajectory(one, two)
