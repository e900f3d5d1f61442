"""`--data` with data users already have: a Hugging Face `datasets` folder (save_to_disk, a
DatasetDict, parquet files; built here with the `datasets` library, offline) and text/JSONL
too large to read whole, streamed into a token file beside the run, once, with progress."""

from __future__ import annotations

import json

import pytest

from nlc.cli import main
from tests.train.helpers import FAST, TINY_TRANSFORMER, write_spec

DOCS = [
    f"Document {i}: the quick brown fox jumps over the lazy dog, {i * 7} times." for i in range(400)
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _expected(docs) -> list[int]:
    return list("\n\n".join(docs).encode("utf-8"))


def _train(tmp_path, data, *extra, run="run"):
    spec = write_spec(tmp_path, TINY_TRANSFORMER)
    out = tmp_path / run
    argv = ["train", str(spec), "--out", str(out), "--steps", "2", "--data", str(data)]
    return main([*argv, *FAST, *extra]), out


def test_a_save_to_disk_folder_trains_and_is_tokenized_once(tmp_path, capsys):
    datasets = pytest.importorskip("datasets")
    folder = tmp_path / "ds"
    datasets.Dataset.from_dict({"text": DOCS, "id": list(range(len(DOCS)))}).save_to_disk(folder)
    code, run = _train(tmp_path, folder)
    assert code == 0
    assert json.loads((run / "summary.json").read_text())["steps"] == 2
    (cached,) = (run / "tokens").glob("*.bin")
    assert "tokenizing" in capsys.readouterr().err
    from nlc_runtime.training.data import ByteTokenizer, load_tokens

    tokens = load_tokens(str(folder), ByteTokenizer(), 256, cache=run / "tokens")
    assert tokens.tolist() == _expected(DOCS)
    assert len(list((run / "tokens").glob("*.bin"))) == 1  # the same file, reused


def test_dataset_dict_reads_train_and_parquet_reads_the_same(tmp_path):
    datasets = pytest.importorskip("datasets")
    from nlc_runtime.training.data import ByteTokenizer, load_tokens

    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict({"text": DOCS}),
            "test": datasets.Dataset.from_dict({"text": ["held out"] * 3}),
        }
    )
    splits.save_to_disk(tmp_path / "dict")
    parquet = tmp_path / "pq" / "train-00000-of-00001.parquet"
    parquet.parent.mkdir()
    splits["train"].to_parquet(str(parquet))
    from_dict = load_tokens(str(tmp_path / "dict"), ByteTokenizer(), 256, cache=tmp_path / "c")
    from_parquet = load_tokens(str(parquet.parent), ByteTokenizer(), 256)  # no cache: memory
    assert from_dict.tolist() == from_parquet.tolist() == _expected(DOCS)
    code, _ = _train(tmp_path, parquet)
    assert code == 0


def test_large_jsonl_streams_into_a_token_file(tmp_path, monkeypatch, capsys):
    """Above STREAM_BYTES the file is never read whole (the whole-file readers would fail),
    the tokens equal reading it whole, and a resumed run reuses the token file."""
    import nlc_runtime.training.data as data

    path = tmp_path / "big.jsonl"
    docs = [f"{d} " * 40 for d in DOCS] * 3  # about 3 MB, many pieces
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    expected = data.load_tokens(str(path), data.ByteTokenizer(), 256).tolist()
    assert expected == _expected(docs)

    def whole(*_):
        raise AssertionError("read whole")

    monkeypatch.setattr(data, "STREAM_BYTES", 1 << 20)
    monkeypatch.setattr(data, "_read_jsonl", whole)
    monkeypatch.setattr(data, "_read_text", whole)
    code, run = _train(tmp_path, path, "--stop-after", "1")
    assert code == 0
    err = capsys.readouterr().err
    assert "tokenizing" in err and "done" in err
    (cached,) = (run / "tokens").glob("*.bin")
    assert cached.stat().st_size == 2 * len(expected)  # uint16 ids
    tokens = data.load_tokens(str(path), data.ByteTokenizer(), 256, cache=run / "tokens")
    assert tokens.dtype.itemsize == 2 and tokens.tolist() == expected
    stamp = cached.stat().st_mtime_ns
    assert main(["train", "--resume", str(run)]) == 0
    assert "tokenizing" not in capsys.readouterr().err
    assert cached.stat().st_mtime_ns == stamp
    assert json.loads((run / "summary.json").read_text())["steps"] == 2


def test_streamed_bpe_round_trips(tmp_path, monkeypatch):
    pytest.importorskip("tokenizers")
    import nlc_runtime.training.data as data
    import nlc_runtime.training.token_cache as token_cache

    path = tmp_path / "big.txt"
    text = "\n".join(DOCS * 10) + "\n"
    path.write_text(text)
    monkeypatch.setattr(data, "STREAM_BYTES", 1 << 10)
    monkeypatch.setattr(token_cache, "PIECE", 4096)
    tok = data.make_tokenizer("bpe", tmp_path / "run", 320)
    tokens = data.load_tokens(str(path), tok, 320, cache=tmp_path / "run" / "tokens")
    assert (tmp_path / "run" / "tokenizer.json").exists()
    assert len(tokens) < len(text) / 2 and tok.decode(tokens.tolist()) == text


@pytest.mark.parametrize("case", ["no-text-column", "no-pyarrow", "bad-jsonl"])
def test_bad_data_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, case):
    import sys

    import nlc_runtime.training.data as data

    if case == "bad-jsonl":
        monkeypatch.setattr(data, "STREAM_BYTES", 0)
        source = tmp_path / "bad.jsonl"
        source.write_text('{"text": "fine"}\n{"text": 3}\n')
        expected = "bad.jsonl:2: expected an object with a string 'text' field"
    else:
        datasets = pytest.importorskip("datasets")
        source = tmp_path / "ds"
        datasets.Dataset.from_dict({"body": DOCS}).save_to_disk(source)
        expected = "no 'text' column (columns: body)"
        if case == "no-pyarrow":
            monkeypatch.setitem(sys.modules, "pyarrow", None)
            expected = "needs pyarrow (pip install 'nlc[datasets]')"
    code, _ = _train(tmp_path, source)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and expected in err[-1] and "Traceback" not in "".join(err), err
