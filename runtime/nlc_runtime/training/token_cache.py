"""Data larger than memory: tokenized once, a piece at a time, into a flat file of token ids
beside the run (RUN/tokens/<key>.bin, uint16 or int32), then read through a memory map.

`stream_tokens` is used for a `datasets` folder (always) and for text/JSONL sources above
`data.STREAM_BYTES` (`load_tokens` decides). The key hashes the source files (path, size,
modification time) and the tokenizer, so a resumed run and every DDP rank reuse the file, and
changed data is tokenized again. A finished file is named by `<key>.json` beside it, written
last: a process killed while tokenizing leaves no file that looks complete. Progress goes to
stderr every few seconds. The pieces are the same text, in the same order, as reading the
source whole (documents and files separated by a blank line; empty JSONL records dropped), so
byte-level tokens are equal.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from nlc_runtime.errors import DataError
from nlc_runtime.training.jsonl import jsonl_text
from nlc_runtime.training.tokenizer import ByteTokenizer

PIECE = 1 << 20  # characters of text per piece encoded
SEPARATOR = "\n\n"  # between documents and between files, as when read whole


def _lines(path: Path, counter: list[int]) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file (.gz too), decoded incrementally (a line longer
    than a piece comes in pieces); a bad byte is reported with its line. `counter[1]` is set to
    the bytes of the file read so far (of a .gz, compressed bytes: progress of the file)."""
    try:
        raw = open(path, "rb")
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    with raw:
        stream = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        decoder = codecs.getincrementaldecoder("utf-8")()
        number = 0
        try:
            for number, line in enumerate(iter(lambda: stream.readline(PIECE), b""), 1):
                counter[1] = raw.tell()
                yield number, decoder.decode(line)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:
            raise DataError(
                f"{path}:{number}: not UTF-8 text (byte {err.start} of the line); convert it, "
                "or pass pre-tokenized ids as a .bin file"
            ) from None
        except (OSError, EOFError) as err:
            raise DataError(f"{path}: cannot read: {err}") from None


def _documents(path: Path, counter: list[int], field: str = "text") -> Iterator[str]:
    """A text file as one document in pieces (cut after a line), or a JSONL file's records."""
    if path.suffix != ".jsonl":
        buffer, size = [], 0
        for _, line in _lines(path, counter):
            buffer.append(line)
            size += len(line)
            if size >= PIECE:
                yield "".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield "".join(buffer)
        return
    for number, line in _lines(path, counter):
        if line.strip():
            yield jsonl_text(path, number, line, field)


class Source:
    """The text of some files as a stream of pieces, read again for each pass (a BPE
    tokenizer trains on a first pass), with the bytes read so far for progress."""

    def __init__(self, files: list[Path], label: str, dataset: bool):
        self.files, self.label, self.dataset = files, label, dataset
        self.counter = [0, 0]  # bytes of the files done, of the current file
        self.total = sum(f.stat().st_size for f in files)

    def key(self) -> list:
        return [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in self.files]

    def pieces(self) -> Iterator[str]:
        """Text pieces; a separator before every document but the first (as `"\\n\\n".join`)."""
        self.counter[:] = [0, 0]
        first = True
        if self.dataset:
            from nlc_runtime.training.arrow_data import iter_documents

            current = None
            for path, docs in iter_documents(self.files):
                if path != current:  # progress counts whole files of a dataset
                    self.counter[0] += current.stat().st_size if current else 0
                    current = path
                for doc in docs:
                    yield doc if first else SEPARATOR + doc
                    first = False
            return
        for path in self.files:
            joined = False  # the pieces of one text document are joined without separators
            for doc in _documents(path, self.counter):
                if not doc:
                    continue
                if path.suffix == ".jsonl" or not joined:
                    doc = doc if first else SEPARATOR + doc
                yield doc
                first, joined = False, path.suffix != ".jsonl"
            self.counter[:] = [self.counter[0] + path.stat().st_size, 0]


class _Progress:
    def __init__(self, source: Source, every: float = 5.0):
        self.source, self.every, self.start = source, every, time.monotonic()
        self.last = self.start

    def __call__(self, tokens: int, done: bool = False) -> None:
        now = time.monotonic()
        if not done and now - self.last < self.every:
            return
        self.last = now
        read, total = sum(self.source.counter), max(self.source.total, 1)
        share = "done" if done else f"{min(read / total, 0.99):.0%}"
        print(
            f"tokenizing {self.source.label}: {share}, {read / 2**20:,.0f} of "
            f"{total / 2**20:,.0f} MiB read, {tokens:,} tokens, {now - self.start:.0f}s",
            file=sys.stderr,
            flush=True,
        )


def _tokenizer_id(tokenizer) -> str:
    tok = getattr(tokenizer, "tok", None)
    if tok is not None:  # an HF tokenizer: its whole definition
        return hashlib.sha256(tok.to_str().encode()).hexdigest()
    return f"{type(tokenizer).__name__}:{tokenizer.vocab_size}"


def _arrays(tokenizer, pieces: list[str], dtype) -> Iterator[np.ndarray]:
    if isinstance(tokenizer, ByteTokenizer):  # no Python list of ints per byte
        for piece in pieces:
            yield np.frombuffer(piece.encode("utf-8"), dtype=np.uint8).astype(dtype)
        return
    for ids in tokenizer.encode_batch(pieces):  # `tokenizers` encodes a batch in parallel
        yield np.asarray(ids, dtype=dtype)


def stream_tokens(source: Source, tokenizer, vocab_size: int, cache: Path | None):
    """All tokens of `source` as a 1-D tensor: memory-mapped from the cache folder (written
    now unless a finished file for this source and tokenizer is there), or, without a cache
    folder, gathered in memory a piece at a time."""
    if hasattr(tokenizer, "fit"):  # BPE trains on a first pass over the stream
        tokenizer.fit(source.pieces())
    dtype = np.uint16 if vocab_size <= 1 << 16 else np.int32
    key = hashlib.sha256(
        json.dumps([source.key(), _tokenizer_id(tokenizer), np.dtype(dtype).name]).encode()
    ).hexdigest()[:16]
    if cache is not None:
        data, meta = Path(cache) / f"{key}.bin", Path(cache) / f"{key}.json"
        if meta.is_file() and data.is_file():
            count = json.loads(meta.read_text())["tokens"]
            if data.stat().st_size == count * np.dtype(dtype).itemsize:
                return _mapped(data, count, dtype)
        data.parent.mkdir(parents=True, exist_ok=True)
    progress = _Progress(source)
    parts, count, batch = [], 0, []
    out = open(data.with_suffix(".tmp"), "wb") if cache is not None else None

    def flush() -> None:
        nonlocal count
        for array in _arrays(tokenizer, batch, dtype):
            count += len(array)
            if out is not None:
                out.write(array.tobytes())
            else:
                parts.append(array)
        batch.clear()
        progress(count)

    try:
        size = 0
        for piece in source.pieces():
            batch.append(piece)
            size += len(piece)
            if size >= 8 * PIECE:
                flush()
                size = 0
        flush()
    finally:
        if out is not None:
            out.close()
    if count == 0:
        raise DataError(f"{source.label}: no text (empty)")
    progress(count, done=True)
    if out is None:
        return torch.from_numpy(np.concatenate(parts).astype(np.int64))
    os.replace(data.with_suffix(".tmp"), data)
    meta.write_text(json.dumps({"source": source.label, "tokens": count}) + "\n")
    return _mapped(data, count, dtype)


def _mapped(path: Path, count: int, dtype) -> torch.Tensor:
    kind = torch.uint16 if dtype == np.uint16 else torch.int32
    return torch.from_file(str(path), shared=False, size=count, dtype=kind)
