"""Runs others can load: the checkpoint carries the spec and the Config in its safetensors
header; `nlc export RUN -o DIR` writes files that plain PyTorch loads with only nlc_runtime
(nlc is made unimportable in the loading process) and that give the run's logits; the emitted
sample.py samples from an export folder and from a run's code folder."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_PERSIST, TINY_TRANSFORMER, write_spec

LOAD = """
import sys
sys.modules["nlc"] = None  # plain PyTorch + nlc_runtime: importing nlc would fail here
import json, torch
from safetensors.torch import load_file
from model import Config, Model
model = Model(Config(**json.load(open("config.json"))))
model.load_state_dict(load_file("model.safetensors"))  # strict: every weight is there
model.eval()
with torch.no_grad():
    logits, _ = model(torch.load("idx.pt"))
torch.save(logits, "logits.pt")
"""


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize("text", [TINY_TRANSFORMER, TINY_PERSIST], ids=["transformer", "memory"])
def test_export_loads_in_plain_pytorch_with_the_same_logits(tmp_path, text, capsys):
    import torch
    from nlc_runtime.training.checkpoint import read_metadata

    from nlc.train.runfolder import load_run

    spec = write_spec(tmp_path, text)
    run, out = tmp_path / "run", tmp_path / "export"
    assert main(["train", str(spec), "--out", str(run), "--steps", "2", *FAST]) == 0
    loaded = load_run(run)
    header = read_metadata(run / "ckpt" / "model.safetensors")
    assert header["nlc_spec"] == (run / "code" / "spec.yaml").read_text()
    assert json.loads(header["nlc_config"]) == dataclasses.asdict(loaded.config)

    assert main(["export", str(run), "-o", str(out)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [".nlc-export.json", "config.json", "model.py", "model.safetensors",
                     "sample.py", "spec.yaml"]  # fmt: skip
    assert json.loads((out / "config.json").read_text()) == dataclasses.asdict(loaded.config)
    idx = torch.randint(0, 256, (2, 40), generator=torch.Generator().manual_seed(0))
    torch.save(idx, out / "idx.pt")
    with torch.no_grad():
        expected, _ = loaded.model(idx)
    _run([sys.executable, "-c", LOAD], out)
    got = torch.load(out / "logits.pt")
    assert got.shape == expected.shape == (2, 40, 256)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert not torch.equal(expected[0, 0], expected[0, 1])  # the logits depend on the tokens

    sample = [sys.executable, "sample.py", "--prompt", "ROMEO:", "--tokens", "5"]
    assert _run(sample, out).startswith("ROMEO:")  # the export folder
    assert _run(sample, run / "code").startswith("ROMEO:")  # RUN/code: the run's checkpoint


def test_export_carries_the_tokenizer(tmp_path):
    pytest.importorskip("tokenizers")
    spec = write_spec(tmp_path, TINY_TRANSFORMER.replace("vocab_size: 256", "vocab_size: 320"))
    data = tmp_path / "text.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    run, out = tmp_path / "run", tmp_path / "export"
    argv = ["train", str(spec), "--out", str(run), "--steps", "1", "--tokenizer", "bpe"]
    assert main([*argv, "--data", str(data), *FAST]) == 0
    assert main(["export", str(run), "-o", str(out)]) == 0
    assert (out / "tokenizer.json").read_bytes() == (run / "tokenizer.json").read_bytes()


@pytest.mark.parametrize("case", ["no-run", "out-is-a-file"])
def test_bad_export_is_one_line_and_exit_2(tmp_path, capsys, case):
    target = tmp_path / "x"
    if case == "out-is-a-file":
        spec = write_spec(tmp_path, TINY_TRANSFORMER)
        run = tmp_path / "run"
        assert main(["train", str(spec), "--out", str(run), "--steps", "1", *FAST]) == 0
        target.write_text("")
    else:
        run = tmp_path / "nowhere"
    capsys.readouterr()
    assert main(["export", str(run), "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nlc export: error:"), err
