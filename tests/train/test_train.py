"""`nlc train` end to end on the bundled corpus: the loss falls, the run folder holds what
the user is promised, an interrupted run resumes exactly, and `nlc generate` samples."""

from __future__ import annotations

import json
import math

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_PERSIST, TINY_TRANSFORMER, metrics, write_spec


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    spec = write_spec(root, TINY_TRANSFORMER)
    run = root / "run"
    assert main(["train", str(spec), "--out", str(run), "--steps", "30", *FAST]) == 0
    return run


def test_loss_decreases_on_the_bundled_corpus(trained):
    train, val = metrics(trained)
    assert sorted(train) == list(range(1, 31))
    assert val[0] > 5.0  # untrained: about ln(256) = 5.55
    assert val[30] < val[0] - 1.0, val
    assert sum(train[s] for s in range(26, 31)) / 5 < train[1] - 1.0


def test_run_folder_has_plot_levels_summary_and_checkpoint(trained, capsys):
    for name in ("loss.png", "levels.svg", "metrics.jsonl", "summary.json", "code/train.py"):
        assert (trained / name).exists(), name
    assert (trained / "loss.png").read_bytes()[:4] == b"\x89PNG"
    assert (trained / "ckpt" / "model.safetensors").exists()
    summary = json.loads((trained / "summary.json").read_text())
    assert summary["steps"] == 30 and summary["tokens"] == 30 * 4 * 32
    assert summary["best_val_perplexity"] == pytest.approx(math.exp(summary["best_val_loss"]))
    assert summary["parameters"] > 0


def test_generate_continues_the_prompt(trained, capsys):
    assert main(["generate", str(trained), "--prompt", "ROMEO:", "--tokens", "12"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ROMEO:") and len(out.encode()) >= len("ROMEO:") + 1


@pytest.mark.parametrize("text", [TINY_TRANSFORMER, TINY_PERSIST], ids=["transformer", "persist"])
def test_resume_gives_the_uninterrupted_trajectory(tmp_path, text):
    """12 steps straight == 6 steps, stop (checkpoint), resume, 6 more: same losses."""
    spec = write_spec(tmp_path, text)
    common = ["--steps", "12", "--eval-every", "4", "--batch-size", "2", *FAST]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train", str(spec), "--out", str(straight), *common]) == 0
    assert main(["train", str(spec), "--out", str(split), *common, "--stop-after", "6"]) == 0
    assert max(metrics(split)[0]) == 6
    assert json.loads((split / "summary.json").read_text())["complete"] is False
    assert main(["train", "--resume", str(split)]) == 0
    assert json.loads((split / "summary.json").read_text())["complete"] is True
    (a_train, a_val), (b_train, b_val) = metrics(straight), metrics(split)
    assert sorted(a_train) == sorted(b_train) == list(range(1, 13))
    for step in a_train:
        assert b_train[step] == pytest.approx(a_train[step], rel=1e-5, abs=1e-6), step
    assert a_val.keys() == b_val.keys()
    for step in a_val:
        assert b_val[step] == pytest.approx(a_val[step], rel=1e-5, abs=1e-6), step


def test_a_second_train_into_a_used_run_folder_asks_for_resume(trained, capsys):
    spec = trained / "code" / "spec.yaml"
    assert main(["train", str(spec), "--out", str(trained), "--steps", "1"]) == 2
    assert "--resume" in capsys.readouterr().err


def test_bpe_tokenizer_is_trained_saved_and_used_by_generate(tmp_path, capsys):
    pytest.importorskip("tokenizers")
    spec = write_spec(tmp_path, TINY_TRANSFORMER.replace("vocab_size: 256", "vocab_size: 320"))
    data = tmp_path / "text.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    run = tmp_path / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "3", "--tokenizer", "bpe"]
    assert main([*argv, "--data", str(data), *FAST]) == 0
    assert (run / "tokenizer.json").exists()
    summary = json.loads((run / "summary.json").read_text())
    assert summary["tokens"] == 3 * 4 * 32
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "the quick", "--tokens", "4"]) == 0
    assert capsys.readouterr().out.startswith("the quick")


def test_bpe_needs_a_vocabulary_above_bytes(tmp_path, capsys):
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    argv = ["train", str(spec), "--out", str(tmp_path / "r"), "--steps", "1", "--tokenizer", "bpe"]
    assert main([*argv, *FAST]) == 2
    assert "vocabulary above the 256 bytes" in capsys.readouterr().err


def test_tensorboard_events(trained):  # the `tensorboard` extra is part of dev
    assert list((trained / "tensorboard").glob("events.out.tfevents.*"))


def test_every_option_of_the_emitted_script_is_reachable_from_nlc_train(trained, capsys):
    import re

    from nlc.cli import build_parser
    from nlc.train.emitted import load_module

    script = load_module(trained / "code", "train")
    with pytest.raises(SystemExit):
        script.main(["--help"])
    emitted = set(re.findall(r"(--[a-z][a-z-]+)", capsys.readouterr().out))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    ours = set(re.findall(r"(--[a-z][a-z-]+)", capsys.readouterr().out))
    assert emitted - {"--help"} <= ours, emitted - ours
