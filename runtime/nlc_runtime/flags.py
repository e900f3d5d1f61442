"""The training options, one table: the emitted train.py's parser and `nlc train` are both
built from it, so they cannot drift. Each value is checked as it is parsed (argparse: one
line and exit 2, before a run folder is written): counts are positive, rates finite, the
validation fraction inside (0, 1), the device one torch knows.
"""

from __future__ import annotations

import argparse
import math


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `PROG: error: MESSAGE (PROG --help: the options)` and
    exit 2, instead of the usage block first (a diagnostic is one line, as everywhere in nlc).
    Subcommand parsers inherit the class."""

    def error(self, message: str):
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help: the options)\n")


def _number(kind, text: str, ok, what: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
    return value


def positive_int(text: str) -> int:
    return _number(int, text, lambda v: v > 0, "a positive integer")


def count(text: str) -> int:
    return _number(int, text, lambda v: v >= 0, "an integer >= 0")


def positive_float(text: str) -> float:
    return _number(float, text, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")


def nonnegative_float(text: str) -> float:
    return _number(float, text, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")


def fraction(text: str) -> float:
    return _number(float, text, lambda v: 0 < v < 1, "a fraction strictly between 0 and 1")


def device(text: str) -> str:
    """A device torch can name (cpu, cuda, cuda:1, mps ...); whether it is present is the
    training script's to say."""
    import torch

    try:
        torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device (cpu, cuda, cuda:1 ...)"
        ) from None
    return text


def present_device(text: str) -> str:
    """`device`, and one this machine has (sampling and evaluation run here and now)."""
    import torch

    device(text)
    kind = torch.device(text).type
    if kind == "cuda" and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has no CUDA device")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise argparse.ArgumentTypeError(f"{text!r}: this machine has no MPS device")
    return text


def tokenizer(text: str) -> str:
    """`byte`, `bpe`, or an HF `tokenizers` file (a tokenizer.json, or a folder holding one:
    what `save_pretrained` writes), made absolute so that a resumed run finds it again."""
    from pathlib import Path

    if text in ("byte", "bpe"):
        return text
    path = Path(text)
    if path.is_dir() and (path / "tokenizer.json").is_file():
        path = path / "tokenizer.json"
    if not path.is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not byte, bpe or a tokenizer.json file (no such file)"
        )
    return str(path.resolve())


def wandb_project(text: str) -> str:
    """A W&B project name; the `wandb` package must be installed (checked here, so a missing
    one is one line before anything is written)."""
    import importlib.util

    if not text.strip():
        raise argparse.ArgumentTypeError("give a W&B project name")
    if importlib.util.find_spec("wandb") is None:
        raise argparse.ArgumentTypeError(
            "needs the `wandb` package (pip install 'nlc[wandb]'); logging to W&B is optional"
        )
    return text


COMPILE_MODES = ["auto", "step", "model", "chunks"]
SCHEDULES = ["fused", "plain", "wavefront"]

# (flag, argparse keywords, default of the emitted train.py: a value, or the name of one of its
# spec constants). `nlc train` adds the same flags with no defaults (None: "not given").
TRAIN_FLAGS: list[tuple[str, dict, object]] = [
    ("--data", {"help": "text file, folder, glob, .jsonl, uint16 .bin, or a datasets folder "
     "(save_to_disk) or .parquet/.arrow files"}, None),
    ("--tokenizer", {
        "type": tokenizer,
        "metavar": "{byte,bpe,FILE}",
        "help": "byte (UTF-8 bytes), bpe (trained on the data) or an HF tokenizers file "
        "(PATH/tokenizer.json, e.g. a GPT-2 or Llama tokenizer saved locally)",
    }, "byte"),
    ("--val-fraction", {"type": fraction, "help": "held-out tail of the data"}, 0.1),
    ("--stream", {"action": argparse.BooleanOptionalAction,
                  "help": "each batch row reads consecutive windows of one stream (a document, "
                  "or --stream-length tokens of the text), the in-context state carried from "
                  "window to window and detached between them; reset where a stream ends"},
     "STREAM"),
    ("--stream-length", {"type": positive_int, "help": "cut the text into streams of N tokens "
     "(default: the documents of a JSONL file or folder, else 16384)"}, "STREAM_LENGTH"),
    ("--bptt-windows", {"type": positive_int, "help": "under --stream: windows per call, the "
     "graph kept across them (truncated backpropagation over K windows)"}, "BPTT_WINDOWS"),
    ("--loss-on", {"choices": ["answers", "all"], "help": "a task file: the loss on the answer "
     "tokens (default) or on every token"}, None),
    ("--steps", {"type": positive_int, "help": "optimizer steps in all"}, "STEPS"),
    ("--stop-after", {"type": positive_int, "help": "stop after N steps (checkpoint)"}, None),
    ("--batch-size", {"type": positive_int, "help": "sequences per process per micro-step"},
     "BATCH_SIZE"),
    ("--accumulate", {"type": positive_int, "help": "micro-steps per optimizer step"},
     "ACCUMULATE"),
    ("--context", {"type": positive_int, "help": "tokens per sequence (default: the spec's)"},
     None),
    ("--lr", {"type": positive_float, "help": "peak learning rate"}, "LR"),
    ("--warmup", {"type": count, "help": "warm-up steps"}, "WARMUP"),
    ("--grad-clip", {"type": nonnegative_float, "help": "gradient norm clip (0: none)"},
     "GRAD_CLIP"),
    ("--eval-every", {"type": positive_int, "help": "steps between evaluations"}, "EVAL_EVERY"),
    ("--eval-iters", {"type": positive_int, "help": "validation batches per evaluation"}, 4),
    ("--ckpt-every", {"type": positive_int, "help": "default: at every evaluation"}, None),
    ("--device", {"type": device, "help": "cpu, cuda, cuda:1 ... (default: cuda if present)"},
     "DEVICE"),
    ("--dtype", {"choices": ["float32", "float64"]}, "float32"),
    ("--compile-mode", {
        "choices": COMPILE_MODES,
        "help": "step: the plain loop nest with its per-segment step compiled once per "
        "repeated block and replayed for every segment and layer; chunks: the memories' "
        "chunk kernels (and a wavefront's waves) compiled, the loops eager; model: the whole "
        "forward; auto: step on CUDA, chunks on CPU",
    }, "auto"),
    ("--schedule", {
        "choices": SCHEDULES,
        "help": "the loop nest: fused (each component through its own boundaries), plain (the "
        "reference nest), wavefront (fused, repeated blocks overlapped and batched per wave); "
        "the same numbers. --compile-mode step runs the plain nest",
    }, "fused"),
    ("--parallel", {
        "choices": ["ddp", "fsdp"],
        "help": "under torchrun: ddp (whole model per process) or fsdp (FSDP2, sharded weights)",
    }, "ddp"),
    ("--seed", {"type": int, "help": "random seed"}, "SEED"),
    ("--wandb", {"type": wandb_project, "metavar": "PROJECT",
                 "help": "also log metrics to Weights & Biases (needs wandb; off by default)"},
     None),
]  # fmt: skip


def add_training_flags(parser: argparse.ArgumentParser, constants: dict | None) -> None:
    """The table's flags on `parser`; defaults from `constants` (the emitted script's spec
    constants by name), or None throughout (`nlc train`: an option not given stays None)."""
    for flag, keywords, default in TRAIN_FLAGS:
        if constants is None:
            value = None
        else:
            value = (
                constants[default] if isinstance(default, str) and default.isupper() else default
            )
        parser.add_argument(flag, default=value, **keywords)
