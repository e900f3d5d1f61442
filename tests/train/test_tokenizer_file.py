"""`--tokenizer PATH/tokenizer.json`: a tokenizer the user already has (an HF `tokenizers`
file, built here with the library: nothing downloaded) is copied into the run, trains it,
round-trips text, and is what `nlc generate` decodes with; bad files are one line, exit 2."""

from __future__ import annotations

import json
from contextlib import nullcontext

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec

TEXT = "the quick brown fox jumps over the lazy dog. Über naïve café — 東京. " * 300


def _tokenizer_file(path, vocab_size=300):
    """A byte-level BPE with a post-processor that adds <s> (as Llama's does), saved as a
    tokenizer.json, the format of a tokenizer saved locally."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([TEXT], trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    tok.save(str(path))
    return tok


def test_tokenizer_file_round_trips_text(tmp_path):
    from nlc_runtime.training.data import load_tokens, make_tokenizer

    source = tmp_path / "tokenizer.json"
    reference = _tokenizer_file(source)
    tok = make_tokenizer(str(source), tmp_path / "run", 320)
    ids = tok.encode(TEXT[:200])
    assert ids == reference.encode(TEXT[:200], add_special_tokens=False).ids
    assert reference.token_to_id("<s>") not in ids  # one stream: no <s> per piece read
    assert len(ids) < len(TEXT[:200].encode()) / 2  # merges, not bytes
    assert tok.decode(ids) == TEXT[:200]
    assert (tmp_path / "run" / "tokenizer.json").read_bytes() == source.read_bytes()
    data = tmp_path / "text.txt"
    data.write_text(TEXT)
    tokens = load_tokens(str(data), tok, 320)
    assert tok.decode(tokens.tolist()) == TEXT


def test_train_with_a_tokenizer_file_then_generate(tmp_path, capsys):
    source = tmp_path / "tok" / "tokenizer.json"
    source.parent.mkdir()
    _tokenizer_file(source)
    spec = write_spec(tmp_path, TINY_TRANSFORMER.replace("vocab_size: 256", "vocab_size: 320"))
    data = tmp_path / "text.txt"
    data.write_text(TEXT)
    run = tmp_path / "run"
    argv = ["train", str(spec), "--out", str(run), "--steps", "2", "--data", str(data), *FAST]
    # a folder holding tokenizer.json (what save_pretrained writes) names it too
    assert main([*argv, "--tokenizer", str(source.parent)]) == 0
    assert (run / "tokenizer.json").read_bytes() == source.read_bytes()
    assert json.loads((run / "options.json").read_text())["--tokenizer"] == str(source.resolve())
    assert json.loads((run / "summary.json").read_text())["steps"] == 2
    capsys.readouterr()
    assert main(["generate", str(run), "--prompt", "the quick", "--tokens", "4"]) == 0
    assert capsys.readouterr().out.startswith("the quick")


@pytest.mark.parametrize("case", ["missing", "not-a-tokenizer", "too-large", "changed"])
def test_bad_tokenizer_file_is_one_line_and_exit_2(tmp_path, capsys, case):
    spec = write_spec(tmp_path, TINY_TRANSFORMER.replace("vocab_size: 256", "vocab_size: 320"))
    run = tmp_path / "run"
    source = tmp_path / "tokenizer.json"
    if case == "not-a-tokenizer":
        source.write_text('{"hello": 1}')
    elif case == "too-large":  # a model narrower than the tokenizer
        size = _tokenizer_file(source).get_vocab_size()
        spec = write_spec(tmp_path, TINY_TRANSFORMER.replace("256", str(size - 1)))
    elif case == "changed":  # the run holds another tokenizer than the one named now
        run.mkdir()
        _tokenizer_file(run / "tokenizer.json", vocab_size=290)
        _tokenizer_file(source)
    argv = ["train", str(spec), "--out", str(run), "--steps", "1", "--tokenizer", str(source)]
    with pytest.raises(SystemExit) if case == "missing" else nullcontext():
        code = main([*argv, *FAST])
    err = capsys.readouterr().err.strip().splitlines()
    if case == "missing":  # refused while parsing, before anything is written
        assert "is not byte, bpe or a tokenizer.json file" in err[-1] and not run.exists()
        return
    assert code == 2 and len(err) == 1, err
    expected = {
        "not-a-tokenizer": "not a tokenizers file",
        "too-large": "tokens > model vocabulary",
        "changed": "a run keeps the tokenizer it started with",
    }[case]
    assert expected in err[0] and "Traceback" not in err[0]


def test_presets_above_bytes_say_which_tokenizer_they_assume():
    import re

    from tests.conftest import SPECS

    wide = 0
    for path in sorted(SPECS.glob("*.yaml")):
        line = re.search(r"^  vocab_size: (\d+)(.*)$", path.read_text(), re.M)
        if int(line.group(1)) > 256:
            wide += 1
            assert "--tokenizer" in line.group(2), f"{path.name}: say which tokenizer it assumes"
    assert wide >= 5
