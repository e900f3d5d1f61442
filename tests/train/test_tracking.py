"""Tracking: TensorBoard events when installed (the `tensorboard` extra, in dev), one line
saying so when not; Weights & Biases only with --wandb PROJECT, never required. wandb itself
is not installed for the tests: a stand-in module records what nlc calls (init, log, finish)."""

from __future__ import annotations

import json
import sys

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec

FAKE_WANDB = """
import json, os
LOG = os.environ["FAKE_WANDB_LOG"]

def _write(kind, **data):
    with open(LOG, "a") as f:
        f.write(json.dumps({"call": kind, **data}) + "\\n")

class util:
    @staticmethod
    def generate_id():
        return "abc123"

class _Run:
    def log(self, data, step=None):
        _write("log", data=data, step=step)
    def finish(self):
        _write("finish")

def init(**kwargs):
    _write("init", **{k: v for k, v in kwargs.items() if k != "config"}, config=kwargs.get("config"))
    return _Run()
"""


def _train(tmp_path, *extra):
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    run = tmp_path / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "2", "--eval-every", "2"]
    return main([*argv, *FAST, *extra]), run


def test_tensorboard_events_are_written(tmp_path, capsys):
    import tensorboard  # noqa: F401  (the `tensorboard` extra is part of dev)

    code, run = _train(tmp_path)
    assert code == 0
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert "TensorBoard" not in capsys.readouterr().err


def test_without_tensorboard_one_line_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    code, run = _train(tmp_path)
    assert code == 0 and not (run / "tensorboard").exists()
    err = capsys.readouterr().err
    assert err.count("TensorBoard events off (pip install 'nlc[tensorboard]')") == 1


def test_wandb_logs_every_record_when_asked(tmp_path, monkeypatch):
    stub = tmp_path / "stub"
    stub.mkdir()
    (stub / "wandb.py").write_text(FAKE_WANDB)
    log = tmp_path / "wandb.jsonl"
    monkeypatch.setenv("FAKE_WANDB_LOG", str(log))
    monkeypatch.syspath_prepend(str(stub))
    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    code, run = _train(tmp_path, "--wandb", "my-project")
    assert code == 0
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert calls[0]["call"] == "init" and calls[0]["project"] == "my-project"
    assert calls[0]["id"] == "abc123" and calls[0]["config"]["steps"] == 2
    logged = {(c["step"], k) for c in calls if c["call"] == "log" for k in c["data"]}
    assert {(1, "loss"), (2, "loss"), (0, "val_loss"), (2, "val_loss")} <= logged
    assert calls[-1]["call"] == "finish"
    assert (run / "wandb_id").read_text().strip() == "abc123"  # a resumed run continues it


def test_no_wandb_unless_asked(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # importing it would fail
    code, run = _train(tmp_path)
    assert code == 0 and not (run / "wandb_id").exists()


def test_wandb_flag_without_the_package_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)
    with pytest.raises(SystemExit) as exit_:
        _train(tmp_path, "--wandb", "proj")
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--wandb: needs the `wandb` package (pip install 'nlc[wandb]')" in err[-1]
    assert not (tmp_path / "run").exists()
