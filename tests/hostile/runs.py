"""Ways to spoil a copy of a run folder, as a user's tools, editors and disks do: `spoil(kind,
run)` changes the copy in place. The commands that read a run must refuse a spoiled one in one
line, or read what is still sound, and never change it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

# a tokenizers file the library loads: a one-rule BPE that knows only a few letters
LETTERS_TOKENIZER = {
    "version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
    "normalizer": None, "pre_tokenizer": None, "post_processor": None, "decoder": None,
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
              "ignore_merges": False, "vocab": {"a": 0, "b": 1, "c": 2, "ab": 3}, "merges": [["a", "b"]]},
}  # fmt: skip


def _regex_tokenizer(pattern: str) -> dict:
    return {**LETTERS_TOKENIZER, "pre_tokenizer": {
        "type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False}}  # fmt: skip


def _outside(run: Path) -> Path:
    """A folder beside the case's folder (outside it), for links to point out of the run."""
    out = run.parent.parent / f"outside-{run.parent.name}-run"
    out.mkdir(exist_ok=True)
    return out


def _metrics(run: Path, text: bytes) -> None:
    (run / "metrics.jsonl").write_bytes(text)


SPOILERS = {
    "none": lambda run: None,
    "spec-edited": lambda run: (run / "code" / "spec.yaml").write_text(
        (run / "code" / "spec.yaml").read_text().replace("d_model: 32", "d_model: 48")),
    "tokenizer-garbage": lambda run: (run / "tokenizer.json").write_bytes(b"\x00\xffnot json"),
    "tokenizer-other": lambda run: (run / "tokenizer.json").write_text(json.dumps(LETTERS_TOKENIZER)),
    "tokenizer-bad-regex": lambda run: (run / "tokenizer.json").write_text(
        json.dumps(_regex_tokenizer("(?<=a+)b"))),
    "tokenizer-huge-regex": lambda run: (run / "tokenizer.json").write_text(
        json.dumps(_regex_tokenizer("(a{1000}){1000}"))),
    "ckpt-truncated": lambda run: (run / "ckpt" / "model.safetensors").write_bytes(
        (run / "ckpt" / "model.safetensors").read_bytes()[:100]),
    "ckpt-missing": lambda run: shutil.rmtree(run / "ckpt"),
    "code-link-out": lambda run: _link_out(run, "code/model.py"),
    "ckpt-link-out": lambda run: _link_out(run, "ckpt/model.safetensors"),
    "eval-link-out": lambda run: _link_out(run, "eval"),
    "metrics-utf8": lambda run: _metrics(run, b'{"step": 1, "loss": 1.0}\n\xff\xfe\n'),
    "metrics-strings": lambda run: _metrics(run, b'{"step": "one", "loss": "low", "tokens": "x"}\n'),
    "metrics-1e400": lambda run: _metrics(run, b'{"step": 1e400, "loss": 1e400, "tokens": 1e400}\n'),
    "metrics-list": lambda run: _metrics(run, b"[1, 2]\n{}\nnull\n"),
    "metrics-folder": lambda run: ((run / "metrics.jsonl").unlink(), (run / "metrics.jsonl").mkdir()),
    "summary-bad": lambda run: (run / "summary.json").write_text("{not json"),
    "summary-list": lambda run: (run / "summary.json").write_text("[1, 2, 3]"),
    "summary-strings": lambda run: (run / "summary.json").write_text(
        '{"parameters": "many", "steps": -5, "tokens": 1e400, "best_val_loss": "x"}'),
    "eval-bad": lambda run: (run / "eval" / "x.json").write_text("{"),
    "eval-shape": lambda run: (run / "eval" / "y.json").write_text('{"loss": "x", "tokens": [1]}'),
    "options-bad": lambda run: (run / "options.json").write_text('{"--context": "many"}'),
}  # fmt: skip


def _link_out(run: Path, rel: str) -> None:
    """Move RUN/REL out of the case's folder and leave a link to it in its place."""
    target = _outside(run) / Path(rel).name
    shutil.move(str(run / rel), target)
    (run / rel).symlink_to(target)


def spoil(kind: str, run: Path) -> None:
    SPOILERS[kind](run)
