"""Tokenizers of a training run: `byte` (UTF-8 bytes, vocabulary 256, nothing to install or
save), `bpe` (byte-level BPE trained on the run's text) and a tokenizer file the user already
has (`--tokenizer PATH/tokenizer.json`: an HF `tokenizers` file, e.g. GPT-2's or Llama's saved
locally). The last two are HF `tokenizers` objects kept as RUN/tokenizer.json, so a resumed run,
`nlc generate`, `nlc eval` and `nlc export` use exactly the tokenizer the weights learned.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from nlc_runtime.errors import DataError

INSTALL = "pip install 'nlc[train]'"


class ByteTokenizer:
    """UTF-8 bytes as tokens: no files, vocabulary 256, every string round-trips."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


def _tokenizers(what: str):
    try:
        import tokenizers
    except ImportError:
        raise DataError(f"{what} needs the `tokenizers` package ({INSTALL})") from None
    return tokenizers


class BPETokenizer:
    """An HF `tokenizers` tokenizer kept as RUN/tokenizer.json (`path`). On first use it is
    trained on the run's text (byte-level BPE, `fit`), or copied from `source`, a tokenizer file
    of the user's; afterwards the run's own copy is loaded (a run keeps the tokenizer it
    started with)."""

    def __init__(self, path: str | Path, vocab_size: int, source: str | Path | None = None):
        self.path, self.vocab_size, self.tok = Path(path), vocab_size, None
        self.source = Path(source) if source else None
        if self.source is not None:
            self._adopt()
        elif self.path.exists():
            self._load()

    def _adopt(self) -> None:
        """Copy the user's file into the run (once), then load the run's copy."""
        if not self.source.is_file():
            raise DataError(f"{self.source}: no such tokenizer file")
        if self.path.exists():
            if self.path.read_bytes() != self.source.read_bytes():
                raise DataError(
                    f"{self.path}: differs from --tokenizer {self.source}; a run keeps the "
                    "tokenizer it started with (start a new run to change it)"
                )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            shutil.copyfile(self.source, tmp)
            os.replace(tmp, self.path)  # atomic: a reader never sees half a tokenizer
        self._load()

    def _load(self) -> None:
        what = f"--tokenizer {self.source}" if self.source else "--tokenizer bpe"
        Tokenizer = _tokenizers(what).Tokenizer
        try:
            self.tok = Tokenizer.from_file(str(self.path))
        except Exception as err:
            shown = self.source or self.path
            raise DataError(f"{shown}: not a tokenizers file (tokenizer.json): {err}") from None
        size = self.tok.get_vocab_size()
        if size > self.vocab_size:
            raise DataError(
                f"{self.source or self.path}: {size} tokens > model vocabulary "
                f"{self.vocab_size} (model.vocab_size in the spec)"
            )

    def fit(self, texts) -> None:
        """Train on `texts` (a string, or an iterable of strings read once: a stream) unless
        a tokenizer was loaded."""
        if self.tok is not None:
            return
        tk = _tokenizers("--tokenizer bpe")
        if self.vocab_size <= 256:
            raise DataError(
                f"BPE needs a model vocabulary above the 256 bytes (model.vocab_size is "
                f"{self.vocab_size}); raise it in the spec"
            )
        if isinstance(texts, str):
            texts = [texts[i : i + 65536] for i in range(0, len(texts), 65536)]
        tok = tk.Tokenizer(tk.models.BPE())
        tok.pre_tokenizer = tk.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = tk.decoders.ByteLevel()
        trainer = tk.trainers.BpeTrainer(
            vocab_size=self.vocab_size,
            initial_alphabet=tk.pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tok.train_from_iterator(texts, trainer)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tok.save(str(tmp))
        os.replace(tmp, self.path)  # atomic: a reader never sees half a tokenizer
        self.tok = tok

    def encode(self, text: str) -> list[int]:
        # no special tokens: the corpus is one stream, and a file's post-processor (Llama's
        # <s>) would put one at the start of every piece it is read in
        return self.tok.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self.tok.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids) -> str:
        return self.tok.decode([int(i) for i in ids])


def is_tokenizer_file(kind: str) -> bool:
    """`--tokenizer` names a file (anything but the built-in `byte` and `bpe`)."""
    return kind not in ("byte", "bpe")


def make_tokenizer(kind: str, run: str | Path, vocab_size: int):
    """`byte` (default), `bpe` (trained, kept in RUN/tokenizer.json) or a tokenizer.json file
    (copied to RUN/tokenizer.json)."""
    if kind == "bpe":
        return BPETokenizer(Path(run) / "tokenizer.json", vocab_size)
    if is_tokenizer_file(kind):
        return BPETokenizer(Path(run) / "tokenizer.json", vocab_size, source=kind)
    return ByteTokenizer()
