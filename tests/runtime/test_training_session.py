"""The machinery the emitted train.py calls around its loop (nlc_runtime.training: options,
launch, compile_mode, validation, summary, session), each on its own, with a hand-written tiny
model in place of an emitted one. The emitted script end to end: tests/train/*."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import torch
from nlc_runtime.training import compile_mode, distributed, launch, options, summary
from nlc_runtime.training.checkpoint import CheckpointError, read_metadata
from nlc_runtime.training.data import DataError
from nlc_runtime.training.feed import Source
from nlc_runtime.training.session import Session, weights_metadata
from nlc_runtime.training.tokenizer import ByteTokenizer
from nlc_runtime.training.validation import estimate_loss

CONSTANTS = {"STEPS": 7, "BATCH_SIZE": 2, "ACCUMULATE": 1, "LR": 1e-2, "WARMUP": 1,
             "GRAD_CLIP": 1.0, "EVAL_EVERY": 3, "SEED": 5, "STREAM": False,
             "STREAM_LENGTH": None, "BPTT_WINDOWS": 1, "OTHER": "not a flag"}  # fmt: skip
DOC = "Train 'tiny' as a byte-level language model.\n\n    python train.py ...\n"


# --- options ------------------------------------------------------------------------------------
def test_the_spec_constants_are_the_defaults_of_the_flags(tmp_path):
    args = options.parse_args([], CONSTANTS, DOC, tmp_path / "run", lm_signal=False)
    assert (args.steps, args.batch_size, args.lr, args.eval_every, args.seed) == (7, 2, 1e-2, 3, 5)
    assert args.out == str(tmp_path / "run") and not args.resume and args.compile is None
    assert args.device in ("cpu", "cuda") and args.eval_iters == 4
    assert options.build_parser(CONSTANTS, DOC, tmp_path).description == DOC.splitlines()[0]
    assert options.build_parser(CONSTANTS, None, tmp_path).description is None  # python -OO
    given = ["--steps", "2", "--no-compile", "--recompute", "--resume", "--out", "x"]
    args = options.parse_args(given, CONSTANTS, DOC, tmp_path, lm_signal=False)
    assert (args.steps, args.compile, args.recompute, args.resume, args.out) == (
        2,
        False,
        True,
        True,
        "x",
    )


def test_fsdp_is_refused_in_one_line_for_a_model_learning_from_the_lm_loss(tmp_path, capsys):
    assert options.parse_args(["--parallel", "fsdp"], CONSTANTS, DOC, tmp_path, False)
    with pytest.raises(SystemExit) as exit_:
        options.parse_args(["--parallel", "fsdp"], CONSTANTS, DOC, tmp_path, lm_signal=True)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "--parallel fsdp does not support the CMS signal lm" in err


# --- launch -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("error", "code", "said"),
    [
        (DataError("no such file: x"), 2, "error: no such file: x\n"),
        (CheckpointError("torn"), 2, "error: torn\n"),
        (FloatingPointError("training loss is nan at step 3"), 1, "(try a lower --lr)\n"),
        (None, 0, ""),
    ],
)
def test_exit_codes_and_one_line_errors(error, code, said, capsys):
    def main():
        if error is not None:
            raise error

    assert launch.exit_code(main) == code
    err = capsys.readouterr().err
    assert err.endswith(said) and err.count("\n") == (1 if said else 0)


def test_other_errors_keep_their_traceback():
    def main():
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        launch.exit_code(main)


def test_the_process_group_is_left_however_training_ends(monkeypatch):
    calls = []
    monkeypatch.setattr(distributed, "barrier", lambda d: calls.append("barrier"))
    monkeypatch.setattr(distributed, "teardown", lambda d: calls.append("teardown"))
    with launch.processes("cpu") as (dist, device):
        assert (dist.world, dist.main, device) == (1, True, "cpu")  # no torchrun: alone
    assert calls == ["barrier", "teardown"]
    calls.clear()
    with pytest.raises(FloatingPointError), launch.processes("cpu"):
        raise FloatingPointError
    assert calls == ["teardown"]  # no barrier a failed peer could wait on forever


# --- compile_mode -------------------------------------------------------------------------------
def test_auto_compiles_the_step_on_cuda_and_the_chunk_kernels_on_cpus():
    assert compile_mode.resolve("auto", cuda=True) == "step"
    assert compile_mode.resolve("auto", cuda=False) == "chunks"
    assert compile_mode.resolve("model", cuda=False) == "model"


def test_compiling_is_said_and_a_missing_cpu_compiler_means_eager(monkeypatch):
    model = wrapped = torch.nn.Linear(2, 2)
    done = []
    monkeypatch.setattr(compile_mode, "cpu_compiler_missing", lambda: None)
    monkeypatch.setattr(compile_mode, "compile_chunk_kernels", lambda: done.append("chunks"))
    monkeypatch.setattr(compile_mode, "compile_step", lambda m: "step (1 block)")
    monkeypatch.setattr(compile_mode.torch, "compile", lambda m: ("compiled", m))
    assert compile_mode.apply(model, wrapped, None, "auto", cuda=False) == (wrapped, None)
    assert compile_mode.apply(model, wrapped, False, "step", cuda=True) == (wrapped, None)
    step_model, said = compile_mode.apply(model, wrapped, True, "auto", cuda=False)
    assert step_model is wrapped and done == ["chunks"]
    assert said == "torch.compile (chunks): the first step includes compiling"
    assert compile_mode.apply(model, wrapped, None, "auto", cuda=True)[1] == (
        "torch.compile (step (1 block)): the first step includes compiling"
    )
    assert compile_mode.apply(model, wrapped, True, "model", cuda=False)[0] == ("compiled", model)
    monkeypatch.setattr(compile_mode, "cpu_compiler_missing", lambda: "no C++ compiler (g++)")
    assert compile_mode.apply(model, wrapped, True, "chunks", cuda=False) == (
        wrapped,
        "--compile: no C++ compiler (g++); training eagerly",
    )
    assert done == ["chunks"]


# --- a tiny model with the emitted interface ----------------------------------------------------
@dataclass
class TinyConfig:
    vocab_size: int = 256
    context: int = 8
    recompute: bool = False
    schedule: str = "fused"


class TinyModel(torch.nn.Module):
    """`forward(idx, state) -> (logits, state)` as an emitted Model; its state counts calls."""

    uses_targets = False

    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.embed = torch.nn.Embedding(cfg.vocab_size, 8)
        self.head = torch.nn.Linear(8, cfg.vocab_size)

    def forward(self, idx, state=None, targets=None):
        calls = (state or {}).get("calls", torch.zeros(())) + 1
        return self.head(self.embed(idx)), {"calls": calls}


def persistent_state(model, state):
    return state


class PlainSGD:
    """A stand-in optimizer with the interface a session uses (the first torch.optim optimizer
    of a process imports torch._dynamo: 3 s)."""

    def __init__(self, params, lr: float):
        self.param_groups = [{"params": list(params), "lr": lr, "initial_lr": lr}]
        self.steps = 0

    def step(self) -> None:
        for p in self.param_groups[0]["params"]:
            p.data -= self.param_groups[0]["lr"] * p.grad
        self.steps += 1

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.param_groups[0]["params"]:
            p.grad = None

    def state_dict(self) -> dict:
        return {"steps": self.steps}

    def load_state_dict(self, saved: dict) -> None:
        self.steps = saved["steps"]


def make_optimizer(model, lr, device):
    return PlainSGD(model.parameters(), lr)


def _windows(n: int = 4000) -> Source:
    tokens = torch.randint(0, 256, (n,), generator=torch.Generator().manual_seed(0))
    return Source("windows", tokens[: n // 2], tokens[n // 2 :], 8, "random windows")


# --- validation ---------------------------------------------------------------------------------
def test_the_validation_loss_reads_the_same_batches_every_time_and_touches_no_rng():
    args = options.parse_args(["--eval-iters", "3"], CONSTANTS, DOC, Path("run"), False)
    model, source = TinyModel(TinyConfig()), _windows()
    before = torch.get_rng_state()
    values = [
        estimate_loss(
            model,
            source,
            args,
            distributed.Dist(),
            "cpu",
            torch.autocast("cpu", enabled=False),
            persistent_state,
            seed,
        )  # fmt: skip
        for seed in (6, 6, 7)
    ]
    assert torch.equal(torch.get_rng_state(), before) and model.training
    assert values[0] == values[1] != values[2] and 0 < values[0] < 2 * math.log(256)


# --- summary ------------------------------------------------------------------------------------
def test_totals_keep_the_first_and_the_best_validation_loss():
    t = summary.Totals()
    for step, val in [(0, 5.0), (3, 4.0), (6, 4.5)]:
        t.validated(step, val)
    assert (t.first_val, t.best_val, t.best_step) == (5.0, 4.0, 3)
    # the checkpoint's field names, and back
    assert set(asdict(t)) == {"tokens", "train_time", "first_val", "best_val", "best_step"}
    assert summary.Totals.from_checkpoint({**asdict(t), "step": 6}) == t


def test_summary_json_is_written_whole_and_says_whether_the_run_is_complete(tmp_path):
    t = summary.Totals(tokens=640, train_time=2.0, first_val=5.5, best_val=4.0, best_step=5)
    record = summary.summary(t, parameters=1234, steps=5, losses=[4.5, 4.2], total=10)
    assert record["complete"] is False and record["final_train_loss"] == 4.2
    assert record["tokens_per_second"] == 320.0
    assert record["best_val_perplexity"] == pytest.approx(math.exp(4.0))
    assert summary.summary(t, 1234, 10, [], 10)["complete"] is True
    path = summary.write_summary(tmp_path, record)
    assert json.loads(path.read_text()) == record and sorted(
        p.name for p in tmp_path.iterdir()
    ) == ["summary.json"]
    line = summary.closing_line(record, t, tmp_path)
    assert line.startswith("done: 0.00M parameters, 5 steps, 640 tokens in 2s (320 tok/s)")
    assert "val loss 5.5000 -> best 4.0000 (perplexity 54.60, step 5)" in line


def test_a_write_that_fails_leaves_the_previous_summary(tmp_path, monkeypatch):
    summary.write_summary(tmp_path, {"steps": 1})

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(summary.os, "replace", broken)
    with pytest.raises(OSError):
        summary.write_summary(tmp_path, {"steps": 2})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"steps": 1}


# --- session ------------------------------------------------------------------------------------
def test_the_weights_say_what_they_are(tmp_path):
    cfg = TinyConfig()
    about = weights_metadata(cfg, tmp_path / "spec.yaml", ByteTokenizer())
    assert json.loads(about["nlc_config"]) == asdict(cfg) and about["nlc_tokenizer"] == "byte"
    assert "nlc_spec" not in about  # no spec.yaml beside train.py
    (tmp_path / "spec.yaml").write_text("name: tiny\n")
    assert weights_metadata(cfg, tmp_path / "spec.yaml", None) == {
        "nlc_config": about["nlc_config"],
        "nlc_spec": "name: tiny\n",
    }


def _session(tmp_path, *flags: str) -> Session:
    data = tmp_path / "text.txt"
    if not data.exists():
        data.write_text("the quick brown fox jumps over the lazy dog. " * 60)
    argv = ["--data", str(data), "--device", "cpu", "--eval-iters", "1", *flags]
    args = options.parse_args(argv, CONSTANTS, DOC, tmp_path / "run", lm_signal=False)
    return Session(args, distributed.Dist(), "cpu", TinyConfig, TinyModel, persistent_state,
                   make_optimizer, True, val_seed=6, spec_file=tmp_path / "spec.yaml")  # fmt: skip


def _step(run: Session, step: int) -> float:
    x, y, fresh = run.feed.next(0)
    logits, new_state = run.step_model(x, run.carry.start(0, fresh))
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten())
    run.carry.keep(0, new_state)
    loss.backward()
    run.optimizer.step()
    run.optimizer.zero_grad()
    return run.log_step(step, loss.item(), 1e-2, seconds=0.5)


def test_a_session_checkpoints_and_a_resumed_one_continues_from_it(tmp_path, capsys):
    run = _session(tmp_path, "--stop-after", "2")
    assert run.start == 0 and run.ckpt_every == 3 and run.tokens_per_step == 2 * 8
    run.evaluate(0)
    with run:
        losses = [_step(run, 1), _step(run, 2)]
        assert not run.stop_requested(1) and run.stop_requested(2)  # --stop-after 2
        run.checkpoint(2)
    run.finish(losses)
    out = capsys.readouterr().out
    assert "training 0.00M parameters on cpu (1 process): steps 0..7" in out
    assert "step 0: val loss" in out and "done: " in out
    record = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert record["steps"] == 2 and record["complete"] is False and record["tokens"] == 32
    meta = read_metadata(tmp_path / "run" / "ckpt" / "model.safetensors")
    assert {"nlc_config", "nlc_tokenizer"} <= set(meta)

    resumed = _session(tmp_path, "--resume")
    assert resumed.start == 2 and resumed.totals == run.totals
    assert resumed.carry.states[0]["calls"] == 2  # the persisted state, carried on
    for a, b in zip(resumed.model.parameters(), run.model.parameters(), strict=True):
        assert torch.equal(a, b)
    assert resumed.optimizer.steps == 2
    assert torch.equal(resumed.feed.state_dict()["rng"], run.feed.state_dict()["rng"])


def test_a_signal_inside_the_session_is_a_stop_request_and_leaving_restores_handlers(tmp_path):
    import signal

    before = signal.getsignal(signal.SIGINT)
    run = _session(tmp_path)
    with run:
        assert signal.getsignal(signal.SIGINT) != before and not run.stop_requested(1)
        run.stop_flag.handle(signal.SIGINT, None)  # what Ctrl-C calls
        assert run.stop_requested(1)
    assert signal.getsignal(signal.SIGINT) == before


def test_a_loss_that_is_not_finite_stops_the_run(tmp_path):
    run = _session(tmp_path)
    with pytest.raises(FloatingPointError, match="training loss is nan at step 4"):
        run.log_step(4, float("nan"), 1e-2, 0.1)
