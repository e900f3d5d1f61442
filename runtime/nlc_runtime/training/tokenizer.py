"""Tokenizers of a training run: `byte` (UTF-8 bytes, vocabulary 256, nothing to install or
save), `bpe` (byte-level BPE trained on the run's text) and a tokenizer file the user already
has (`--tokenizer PATH/tokenizer.json`: an HF `tokenizers` file, e.g. GPT-2's or Llama's saved
locally). The last two are HF `tokenizers` objects kept as RUN/tokenizer.json, so a resumed run,
`nlc generate`, `nlc eval` and `nlc export` use exactly the tokenizer the weights learned.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from nlc_runtime.errors import DataError
from nlc_runtime.training.files import file_sha256

INSTALL = "pip install 'nlc[train]'"


class ByteTokenizer:
    """UTF-8 bytes as tokens: no files, vocabulary 256, every string round-trips."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids).decode("utf-8", errors="replace")


_HELD = None  # the file fd 2 goes to while a `tokenizers` call runs (one, reused)


@contextlib.contextmanager
def _rust_stderr():
    """Hold what the Rust library writes to fd 2 while the body runs, and pass it on after,
    unless the body sets `held[0] = False`: a Rust panic prints its own lines (and under
    RUST_BACKTRACE a backtrace) before Python sees the exception, and the one line nlc prints
    instead should stand alone."""
    global _HELD
    try:
        if _HELD is None:
            _HELD = tempfile.TemporaryFile()
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no fd 2 to hold (a closed or replaced stderr)
        yield [True]
        return
    os.dup2(_HELD.fileno(), 2)
    held = [True]
    try:
        yield held
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        _HELD.seek(0)
        text = _HELD.read()
        _HELD.seek(0)
        _HELD.truncate()
        if held[0] and text:
            os.write(2, text)


def _is_panic(err: BaseException) -> bool:
    """A Rust panic inside `tokenizers` (pyo3's PanicException derives from BaseException,
    so `except Exception` misses it): e.g. a pre-tokenizer regex whose backtracking exceeds
    Oniguruma's retry limit on some text."""
    return type(err).__name__ == "PanicException"


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

    def _call(self, method, *args, **kwargs):
        """`method(*args)` of the `tokenizers` library; a Rust panic (a regex of the file that
        fails on this text) is one DataError naming the tokenizer file."""
        with _rust_stderr() as held:
            try:
                return method(*args, **kwargs)
            except BaseException as err:
                if not _is_panic(err):
                    raise
                held[0] = False
                message = " ".join(str(err).split()) or "panic"
                raise DataError(
                    f"{self.source or self.path}: the tokenizer failed on the text: {message} "
                    "(a pre-tokenizer regex that backtracks without bound?)"
                ) from None

    def _load(self) -> None:
        what = f"--tokenizer {self.source}" if self.source else "--tokenizer bpe"
        Tokenizer = _tokenizers(what).Tokenizer
        shown = self.source or self.path
        try:
            self.tok = self._call(Tokenizer.from_file, str(self.path))
        except DataError:
            raise
        except Exception as err:
            message = " ".join(str(err).split())
            raise DataError(f"{shown}: not a tokenizers file (tokenizer.json): {message}") from None
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
        return self._call(self.tok.encode, text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        encoded = self._call(self.tok.encode_batch, texts, add_special_tokens=False)
        return [e.ids for e in encoded]

    def decode(self, ids) -> str:
        return self._call(self.tok.decode, [int(i) for i in ids])


def is_tokenizer_file(kind: str) -> bool:
    """`--tokenizer` names a file (anything but the built-in `byte` and `bpe`)."""
    return kind not in ("byte", "bpe")


BYTE = "byte"


def tokenizer_record(tokenizer) -> str | None:
    """What a checkpoint records of the tokenizer its weights learned (train.py keeps it in the
    weights' header as `nlc_tokenizer`): `byte`, or `sha256:HEX` of RUN/tokenizer.json; None
    before a BPE tokenizer is trained."""
    if isinstance(tokenizer, ByteTokenizer):
        return BYTE
    path = getattr(tokenizer, "path", None)
    if path is not None and Path(path).is_file():
        return "sha256:" + file_sha256(path)
    return None


def check_recorded(kind: str, run: str | Path, recorded: str | None, weights) -> None:
    """Refuse to use RUN's tokenizer (`kind` as given) for weights that learned another one:
    `recorded` is what their checkpoint `weights` says (`tokenizer_record`; None: a checkpoint
    from before the record, not checked). A missing RUN/tokenizer.json, another file in its
    place or another kind of tokenizer is a DataError naming the file and the checkpoint."""
    if recorded is None:
        return
    path = Path(run) / "tokenizer.json"
    if recorded == BYTE:
        if kind != BYTE:
            raise DataError(
                f"{weights}: trained with the byte tokenizer, not --tokenizer {kind} "
                "(a run keeps the tokenizer it started with)"
            )
        return
    expected = recorded.removeprefix("sha256:")
    if not path.is_file() and is_tokenizer_file(kind) and Path(kind).is_file():
        path = Path(kind)  # the run's copy is made from --tokenizer FILE again: that one
    if not path.is_file():
        raise DataError(
            f"{path}: missing; the checkpoint {weights} was trained with the tokenizer of "
            f"SHA-256 {expected[:16]}: restore that file (or start a new run)"
        )
    if kind == BYTE:
        raise DataError(
            f"{weights}: trained with the tokenizer {path}, not the byte tokenizer "
            "(a run keeps the tokenizer it started with)"
        )
    try:
        actual = file_sha256(path)
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from None
    if actual != expected:
        raise DataError(
            f"{path}: not the tokenizer the checkpoint {weights} was trained with (SHA-256 "
            f"{actual[:16]}, not {expected[:16]}): restore that file (or start a new run)"
        )


def make_tokenizer(
    kind: str, run: str | Path, vocab_size: int, recorded: str | None = None, weights=None
):
    """`byte` (default), `bpe` (trained, kept in RUN/tokenizer.json) or a tokenizer.json file
    (copied to RUN/tokenizer.json). With `recorded` (a checkpoint's `nlc_tokenizer`, read from
    the header of `weights`), the run's tokenizer must be that one (`check_recorded`): checked
    before a missing BPE file would be trained again."""
    check_recorded(kind, run, recorded, weights)
    if kind == "bpe":
        return BPETokenizer(Path(run) / "tokenizer.json", vocab_size)
    if is_tokenizer_file(kind):
        return BPETokenizer(Path(run) / "tokenizer.json", vocab_size, source=kind)
    return ByteTokenizer()
