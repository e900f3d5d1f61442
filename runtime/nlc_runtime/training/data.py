"""Training data for emitted train.py: read a corpus, tokenize it, split it, sample batches.

Sources (`load_tokens(source)`):
- None: the bundled corpus (package data `nlc_runtime.corpus`: `data/shakespeare.txt.gz` in the
  nlc checkout, inside the package of an installed wheel);
- a folder (every .txt/.md/.gz/.jsonl file under it, sorted) or a glob pattern;
- a text file (UTF-8, optionally .gz), or JSONL with a `text` field per line;
- a `.bin` file of uint16 token ids (nanoGPT's format), read through a memory map;
- a Hugging Face `datasets` folder (save_to_disk) or .arrow/.parquet files, read with pyarrow
  (`nlc_runtime.training.arrow_data`) and tokenized into a token file beside the run.

Text larger than STREAM_BYTES is streamed into a token file beside the run too, tokenized
once with progress (`nlc_runtime.training.token_cache`), never read whole.

Text is tokenized by `ByteTokenizer` (UTF-8 bytes, vocabulary 256) or by `BPETokenizer` (HF
`tokenizers`: byte-level BPE trained on the run's text, or the user's tokenizer.json; saved
with the run), see `nlc_runtime.training.tokenizer`.
Bad data raises `DataError` with a one-line message naming the file; train.py turns it into
exit code 2 without a traceback.
"""

from __future__ import annotations

import glob
import gzip
import os
from pathlib import Path

import torch

from nlc_runtime.errors import DataError

# DataError and make_tokenizer are imported from here by nlc/train/* and the tests
from nlc_runtime.training.arrow_data import dataset_files, is_dataset
from nlc_runtime.training.files import file_kind
from nlc_runtime.training.jsonl import jsonl_text
from nlc_runtime.training.token_cache import Source, stream_tokens
from nlc_runtime.training.tokenizer import BPETokenizer, ByteTokenizer, make_tokenizer  # noqa: F401

TEXT_SUFFIXES = (".txt", ".md", ".gz", ".jsonl", ".text")
# Text sources larger than this are streamed into a token file (when train.py gives a cache
# folder) instead of read whole: a run's memory then holds a memory map, not the text.
STREAM_BYTES = 256 << 20


def bundled_corpus() -> Path:
    """Where the corpus shipped with nlc lives (NLC_DATA overrides it): package data, found
    with importlib.resources (a wheel and an editable checkout alike; not zip-safe, so a file
    on disk)."""
    env = os.environ.get("NLC_DATA")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("nlc_runtime.corpus"))) / "shakespeare.txt.gz"


def _read_text(path: Path) -> str:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}: not UTF-8 text (byte {err.start}: {raw[err.start : err.start + 1]!r}); "
            "convert it, or pass pre-tokenized ids as a .bin file"
        ) from None


def _read_jsonl(path: Path, field: str = "text") -> str:
    docs = []
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if line.strip():
            docs.append(jsonl_text(path, number, line, field))
    return "\n\n".join(docs)


def regular_file(path: str | Path, what: str = "--data") -> Path:
    """`path`, a regular file (links followed): a device, FIFO or socket is refused before it
    is opened (opening a FIFO blocks until a writer comes, /dev/zero never ends)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    kind = file_kind(mode)
    if kind is not None:
        raise DataError(f"{path}: is {kind}, not a regular file ({what} reads files and folders)")
    return Path(path)


def _files(source: str) -> list[Path]:
    path = Path(source)
    if path.is_dir():
        # is_file: regular files only (links followed), so a FIFO in the folder is passed over
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)
        if not files:
            raise DataError(f"{source}: folder has no text files ({', '.join(TEXT_SUFFIXES)})")
        return files
    if path.exists():
        return [regular_file(path)]
    if glob.has_magic(source):
        files = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not files:
            raise DataError(f"{source}: no file matches this pattern")
        return files
    raise DataError(f"{source}: no such file or folder")


def _read_bin(path: Path) -> torch.Tensor:
    """nanoGPT's format: raw little-endian uint16 token ids; memory-mapped, not copied."""
    size = path.stat().st_size
    if size % 2:
        raise DataError(f"{path}: size {size} is odd; expected uint16 token ids")
    if size == 0:
        raise DataError(f"{path}: empty file")
    return torch.from_file(str(path), shared=False, size=size // 2, dtype=torch.uint16)


def load_tokens(
    source: str | None, tokenizer=None, vocab_size: int = 256, cache: str | Path | None = None
) -> torch.Tensor:
    """All tokens of a source as one 1-D tensor (int64, or uint16 / int32 memory-mapped from a
    .bin file or a token file in `cache`). A `datasets` folder, and text above STREAM_BYTES
    when a `cache` folder is given (train.py: RUN/tokens), are tokenized a piece at a time into
    a token file there, once (`nlc_runtime.training.token_cache`); smaller text is read whole."""
    tokenizer = tokenizer or ByteTokenizer()
    if tokenizer.vocab_size > vocab_size:
        raise DataError(
            f"tokenizer vocabulary {tokenizer.vocab_size} exceeds the model's {vocab_size}"
        )
    if is_dataset(source):
        return stream_tokens(
            Source(dataset_files(source), source, True), tokenizer, vocab_size, cache
        )
    files = [bundled_corpus()] if source is None else _files(source)
    if source is None and not files[0].exists():
        raise DataError(f"{files[0]}: bundled corpus not found; pass --data")
    if len(files) == 1 and files[0].suffix == ".bin":
        tokens = _read_bin(files[0])
        # uint16 has few kernels: check the ids a slice at a time in int32
        step = 1 << 24
        top = max(int(tokens[i : i + step].int().max()) for i in range(0, len(tokens), step))
        if top >= vocab_size:
            raise DataError(f"{files[0]}: token id {top} >= vocabulary size {vocab_size}")
        return tokens
    if cache is not None and sum(f.stat().st_size for f in files) > STREAM_BYTES:
        label = source or "bundled corpus"
        return stream_tokens(Source(files, label, False), tokenizer, vocab_size, cache)
    texts = [_read_jsonl(f) if f.suffix == ".jsonl" else _read_text(f) for f in files]
    text = "\n\n".join(t for t in texts if t)
    if not text.strip():
        raise DataError(f"{source or files[0]}: no text (empty file)")
    if hasattr(tokenizer, "fit"):
        tokenizer.fit(text)
    if isinstance(tokenizer, ByteTokenizer):  # no Python list of millions of ints
        return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()
    return torch.tensor(tokenizer.encode(text), dtype=torch.long)


def load_documents(
    source: str | None, tokenizer=None, vocab_size: int = 256
) -> tuple[torch.Tensor, list[int]] | None:
    """The documents of a source that has several -- the records of JSONL files, or the files
    of a folder or glob -- as one 1-D tensor of tokens (each document followed by a blank
    line, as `load_tokens` joins them) and where each starts; None for a source that is one
    text (a single text file, the bundled corpus), a .bin file or a datasets folder: stream
    training cuts those into streams of one length instead."""
    if source is None or is_dataset(source):
        return None
    files = _files(source)
    if len(files) == 1 and files[0].suffix != ".jsonl":
        return None
    if any(f.suffix == ".bin" for f in files):
        return None
    docs = []
    for f in files:
        if f.suffix == ".jsonl":
            text = _read_text(f)
            docs += [
                jsonl_text(f, number, line)
                for number, line in enumerate(text.splitlines(), 1)
                if line.strip()
            ]
        else:
            docs.append(_read_text(f))
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise DataError(f"{source}: no text (no document holds any)")
    tokenizer = tokenizer or ByteTokenizer()
    if hasattr(tokenizer, "fit"):
        tokenizer.fit("\n\n".join(docs))
    pieces, starts, at = [], [], 0
    for d in docs:
        ids = tokenizer.encode(d + "\n\n")
        starts.append(at)
        pieces.append(torch.tensor(ids, dtype=torch.long))
        at += len(ids)
    tokens = torch.cat(pieces)
    if int(tokens.max()) >= vocab_size:
        raise DataError(f"{source}: token id {int(tokens.max())} >= vocabulary size {vocab_size}")
    return tokens, starts


def split_documents(
    tokens: torch.Tensor, starts: list[int], context: int, val_fraction: float, name: str
) -> tuple[tuple[torch.Tensor, list[int]], tuple[torch.Tensor, list[int]]]:
    """Train / validation split at a document boundary: the last documents holding about
    `val_fraction` of the tokens are held out (at least one document each side)."""
    if len(starts) < 2:
        raise DataError(f"{name}: one document cannot be split into train and validation")
    target = int(len(tokens) * (1.0 - val_fraction))
    cut = min(range(1, len(starts)), key=lambda i: abs(starts[i] - target))
    at = starts[cut]
    for part, size in (("train", at), ("validation", len(tokens) - at)):
        if size < 2:
            raise DataError(f"{name}: the {part} documents hold {size} tokens")
    return (tokens[:at], starts[:cut]), (tokens[at:], [s - at for s in starts[cut:]])


def split_tokens(
    tokens: torch.Tensor, context: int, val_fraction: float = 0.1, name: str = "data"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train / validation split: the last `val_fraction` of the tokens is held out. Each part
    must hold at least one sequence of context + 1 tokens (inputs and next-token targets)."""
    n = len(tokens)
    cut = int(n * (1.0 - val_fraction))
    need = context + 1
    if n - cut < need or cut < need:
        raise DataError(
            f"{name}: {n} tokens is too short: the train and validation splits "
            f"({cut} and {n - cut} tokens) each need one context of {need} tokens "
            f"(at least {int(need / min(val_fraction, 1 - val_fraction)) + 1} tokens in all)"
        )
    return tokens[:cut], tokens[cut:]


def sample_batch(
    data: torch.Tensor,
    batch_size: int,
    context: int,
    generator: torch.Generator,
    rank: int = 0,
    world: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of context + 1 tokens, inputs and next-token targets.

    Every process draws the same `batch_size * world` start offsets from its generator and
    keeps its own slice, so N processes with batch B see exactly the sequences that one
    process with batch N * B sees (the DDP equality test relies on it)."""
    starts = torch.randint(len(data) - context, (batch_size * world,), generator=generator)
    starts = starts[rank * batch_size : (rank + 1) * batch_size]
    x = torch.stack([data[i : i + context].long() for i in starts.tolist()])
    y = torch.stack([data[i + 1 : i + 1 + context].long() for i in starts.tolist()])
    return x, y
