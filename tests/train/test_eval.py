"""`nlc eval RUN`: window mode is the plain mean cross-entropy over every token, stream mode is
one sequence fed in pieces (== one call over the whole text), the output is deterministic, and
bad input is one line and exit code 2."""

from __future__ import annotations

import json
import math

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec

# Attention and an LM-signal CMS: the model learns in context from the targets it is given
# (`uses_targets`), so eval must hand them over, and streaming must carry what it learned.
TINY_LM_SIGNAL = """\
nlc: 1
name: tiny-lm-signal
model: {vocab_size: 256, d_model: 32, n_heads: 2, context: 32, n_layers: 1}
components:
  - {name: embed, kind: embedding}
  - name: layers
    components:
      - {name: norm1, kind: norm}
      - {name: attn, kind: attention}
      - {name: res1, kind: add, inputs: [in, attn]}
      - name: cms
        kind: cms
        variant: sequential
        signal: lm
        levels:
          - {period: 8, hidden: 32, lr: 1.0e-3}
          - {period: outer, hidden: 32}
  - {name: norm_f, kind: norm}
  - {name: head, kind: lm_head, tie: embed}
optimizer: {kind: adamw, lr: 3.0e-3}
train: {batch_size: 2, steps: 20, warmup: 2, eval_every: 5}
"""

SPECS = {"transformer": TINY_TRANSFORMER, "lm-signal": TINY_LM_SIGNAL}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny runs trained for 2 steps, each on first use (a test of one kind trains one run)."""
    root = tmp_path_factory.mktemp("eval")
    trained = {}

    def get(kind: str):
        if kind not in trained:
            spec = write_spec(root, SPECS[kind], f"{kind}.yaml")
            run = root / kind
            argv = ["train", str(spec), "--out", str(run), "--steps", "2", *FAST]
            assert main([*argv, "--eval-every", "100", "--batch-size", "2"]) == 0
            trained[kind] = run
        return trained[kind]

    return get


def eval_json(capsys, *argv: str) -> dict:
    capsys.readouterr()
    assert main(["eval", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def load_model(run):
    """The run's model in float64, loaded as `nlc eval` is documented to load it."""
    import torch
    from nlc_runtime.training.checkpoint import load_checkpoint

    from nlc.train.emitted import load_module

    module = load_module(run / "code", "model")
    model = module.Model(module.Config())
    load_checkpoint(run / "ckpt", model)
    return model.to(torch.float64).eval(), module.Config().context


def val_split():
    """The held-out 10% of the bundled corpus that `nlc train` validates on (byte tokens)."""
    from nlc_runtime.training.data import load_tokens, split_tokens

    return split_tokens(load_tokens(None), 32, 0.1)[1]


def summed_loss(model, x, y, state=None) -> float:
    """Summed cross-entropy of one call, targets given to a model that learns from them."""
    import torch
    import torch.nn.functional as F

    extra = {"targets": y[None]} if model.uses_targets else {}
    with torch.no_grad():
        logits, _ = model(x[None], state, **extra)
    return F.cross_entropy(logits[0].double(), y, reduction="sum").item()


@pytest.mark.parametrize("kind", SPECS)
def test_windows_are_the_mean_cross_entropy_over_every_token(runs, kind, capsys):
    run = runs(kind)
    n = 300  # 9 full windows of 32 and a short one of 12; batches of 4 do not divide 9
    report = eval_json(
        capsys, str(run), "--max-tokens", str(n), "--dtype", "float64", "--batch-size", "4"
    )
    model, ctx = load_model(run)
    tokens = val_split()[: n + 1].long()
    # each window is its own sequence: inputs w[:-1], targets w[1:], consecutive windows
    # sharing one token
    windows = [tokens[s : s + ctx + 1] for s in range(0, n, ctx)]
    assert len(windows[-1]) == n % ctx + 1  # the last window is shorter
    total = sum(summed_loss(model, w[:-1], w[1:]) for w in windows)
    assert report["mode"] == "windows" and report["tokens"] == n and report["context"] == ctx
    assert report["data"] == "bundled corpus (val split)"
    assert report["loss"] == pytest.approx(total / n, rel=1e-9)
    assert report["perplexity"] == pytest.approx(math.exp(total / n), rel=1e-9)
    # byte tokens: a token is a byte
    assert report["bits_per_byte"] == pytest.approx(report["bits_per_token"], rel=1e-12)
    assert report["bits_per_token"] == pytest.approx(total / n / math.log(2), rel=1e-9)


@pytest.mark.parametrize("kind", SPECS)
def test_stream_equals_one_call_over_the_whole_text(runs, kind, capsys, tmp_path):
    run = runs(kind)
    n, png = 300, tmp_path / "plots" / "stream.png"
    argv = [str(run), "--stream", "--piece", "37", "--max-tokens", str(n), "--dtype", "float64"]
    report = eval_json(capsys, *argv, "--png", str(png))
    model, _ = load_model(run)
    tokens = val_split()[: n + 1].long()
    # one sequence: 300 tokens in one call, past the context of 32 (attention slides its
    # window, the CMS keeps learning), against pieces of 37 with the state carried
    whole = summed_loss(model, tokens[:-1], tokens[1:])
    assert report["mode"] == "stream" and report["piece"] == 37 and report["tokens"] == n
    assert report["loss"] * n == pytest.approx(whole, rel=1e-9)
    spans = [(b["start"], b["end"]) for b in report["buckets"]]
    assert spans == [(0, 256), (256, 1024)]
    assert sum(b["tokens"] for b in report["buckets"]) == n
    weighted = sum(b["tokens"] * b["loss"] for b in report["buckets"]) / n
    assert weighted == pytest.approx(report["loss"], rel=1e-12)
    assert report["png"] == str(png)
    assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stream_table_and_default_plot_in_the_run_folder(runs, capsys):
    run = runs("transformer")
    capsys.readouterr()
    assert main(["eval", str(run), "--stream", "--max-tokens", "1100"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "tokens: 1,100" in out[0] and "mode: stream in pieces of 32" in out[0]
    assert out[1].startswith("loss ") and "bits/byte" in out[1]
    assert [line.split()[:2] for line in out[3:6]] == [
        ["0-256", "256"],
        ["256-1K", "768"],
        ["1K-4K", "76"],
    ]
    assert out[-2] == f"plot: {run / 'stream.png'}"
    assert out[-1] == f"saved: {run / 'eval' / 'stream-val-first1100.json'}"
    assert (run / "stream.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("mode", [[], ["--stream", "--piece", "50"]], ids=["windows", "stream"])
def test_two_evaluations_print_the_same_json(runs, mode, capsys, tmp_path):
    run = runs("transformer")
    argv = ["eval", str(run), "--json", "--max-tokens", "400", *mode]
    if mode:
        argv += ["--png", str(tmp_path / "s.png")]
    outs = []
    for _ in range(2):
        capsys.readouterr()
        assert main(argv) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1]


def test_data_file_is_read_whole(runs, capsys, tmp_path):
    data = tmp_path / "text.txt"
    data.write_text("to be or not to be, that is the question. " * 10)
    report = eval_json(capsys, str(runs("transformer")), "--data", str(data))
    assert report["data"] == str(data) and report["tokens"] == len(data.read_bytes()) - 1
    assert report["batch_size"] == 8


def test_default_split_is_the_one_the_run_was_trained_with(runs, capsys, tmp_path):
    """RUN/options.json records `--val-fraction`: the default split follows it, so eval never
    scores text the model trained on; `--split all` reads the corpus from its first token."""
    import shutil

    from nlc_runtime.training.data import load_tokens

    run = tmp_path / "run"
    shutil.copytree(runs("transformer"), run)
    # not the default 0.1, and a small tail: every token of it is scored
    (run / "options.json").write_text(json.dumps({"--val-fraction": 0.02}))
    report = eval_json(capsys, str(run), "--max-tokens", "100000000")
    n = len(load_tokens(None))
    assert report["tokens"] == n - int(n * (1.0 - 0.02)) - 1
    report = eval_json(capsys, str(run), "--split", "all", "--max-tokens", "50")
    assert report["data"] == "bundled corpus (all)" and report["tokens"] == 50


def test_bpe_bits_per_byte_count_the_decoded_text(tmp_path, capsys):
    pytest.importorskip("tokenizers")
    spec = write_spec(tmp_path, TINY_TRANSFORMER.replace("vocab_size: 256", "vocab_size: 320"))
    data = tmp_path / "text.txt"
    data.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    run = tmp_path / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "1", "--tokenizer", "bpe"]
    assert main([*argv, "--data", str(data), "--eval-every", "100", *FAST]) == 0
    report = eval_json(capsys, str(run), "--data", str(data), "--max-tokens", "200")
    from nlc_runtime.training.data import load_tokens, make_tokenizer

    tok = make_tokenizer("bpe", run, 320)
    targets = load_tokens(str(data), tok, 320)[1:201]
    nbytes = len(tok.decode(targets.tolist()).encode("utf-8"))
    assert nbytes > 200  # BPE tokens hold several bytes
    nats = report["loss"] * report["tokens"]
    assert report["bits_per_byte"] == pytest.approx(nats / math.log(2) / nbytes, rel=1e-9)


@pytest.mark.parametrize(
    "case",
    ["no-model", "missing-run", "piece-0", "max-tokens-negative", "no-data", "piece-no-stream"],
)
def test_bad_input_is_one_line_and_exit_2(runs, case, capsys, tmp_path):
    run = str(runs("transformer"))
    argv = {
        "no-model": [str(tmp_path)],
        "missing-run": [str(tmp_path / "nowhere")],
        "piece-0": [run, "--stream", "--piece", "0"],
        "max-tokens-negative": [run, "--max-tokens", "-3"],
        "no-data": [run, "--data", str(tmp_path / "missing.txt")],
        "piece-no-stream": [run, "--piece", "8"],
    }[case]
    capsys.readouterr()
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nlc eval: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_frozen_cms_is_the_same_weights_without_the_in_context_steps(runs, capsys):
    """`--frozen-cms`: the stream scored by the trained model with every CMS level's in-context
    lr at 0 (== one call of that model), kept under its own name; the live stream differs."""
    run = runs("lm-signal")
    n = 200
    argv = [str(run), "--stream", "--max-tokens", str(n), "--dtype", "float64"]
    frozen = eval_json(capsys, *argv, "--frozen-cms")
    live = eval_json(capsys, *argv)
    model, _ = load_model(run)
    for block in model.modules():
        if hasattr(block, "freeze_steps"):
            block.freeze_steps()
    tokens = val_split()[: n + 1].long()
    assert frozen["frozen_cms"] is True and "frozen_cms" not in live
    assert frozen["loss"] * n == pytest.approx(
        summed_loss(model, tokens[:-1], tokens[1:]), rel=1e-9
    )
    assert frozen["loss"] != pytest.approx(live["loss"], rel=1e-9)
    assert (run / "eval" / f"stream-val-first{n}-frozen-cms.json").is_file()


def test_frozen_cms_without_a_cms_is_one_line_and_exit_2(runs, capsys):
    capsys.readouterr()
    assert main(["eval", str(runs("transformer")), "--frozen-cms", "--max-tokens", "64"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--frozen-cms: the model has no CMS" in err, err
