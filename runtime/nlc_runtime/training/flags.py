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


FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_TINY = 1.1754943508222875e-38
"""Training computes in float32 (bfloat16 under CUDA autocast: the same exponent range), and
flushes subnormal numbers to zero (`nlc_runtime.exec.state.flush_subnormals`): a setting beyond
FLOAT32_MAX cannot be converted (torch refuses it), a nonzero one below FLOAT32_TINY is zero."""

MAX_STEPS = 1 << 40
"""Steps, warm-up steps and intervals counted in steps: far beyond any run."""
MAX_BATCH = 1 << 16
"""Sequences per process per micro-step, and micro-steps per optimizer step."""
MAX_STREAM = 1 << 30
"""Tokens per stream (train.stream_length, --stream-length)."""
MAX_WINDOWS = 1024
"""Windows per call under --stream (train.bptt_windows, --bptt-windows)."""
MAX_CONTEXT = 1 << 20
"""Tokens per sequence (model.context, --context)."""
MAX_SEED = (1 << 63) - 1
"""torch seeds a generator with 0 .. 2**64 - 1; train.py's validation batches use SEED + 1."""


def in_float32(value: float) -> bool:
    """`value` is finite and a number training's float32 holds as it is: 0, or a magnitude
    from FLOAT32_TINY to FLOAT32_MAX."""
    return math.isfinite(value) and (value == 0 or FLOAT32_TINY <= abs(value) <= FLOAT32_MAX)


FLOAT32_SPAN = f"{FLOAT32_TINY:.2g} to {FLOAT32_MAX:.2g}"  # for messages


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


def steps(text: str) -> int:
    """A positive number of steps (or an interval in steps), at most MAX_STEPS."""
    return _number(int, text, lambda v: 0 < v <= MAX_STEPS, f"an integer from 1 to {MAX_STEPS:,}")


def step_count(text: str) -> int:
    """A number of steps that may be 0 (warm-up), at most MAX_STEPS."""
    return _number(int, text, lambda v: 0 <= v <= MAX_STEPS, f"an integer from 0 to {MAX_STEPS:,}")


def batch(text: str) -> int:
    """Sequences per micro-step, or micro-steps per step: 1 to MAX_BATCH."""
    return _number(int, text, lambda v: 0 < v <= MAX_BATCH, f"an integer from 1 to {MAX_BATCH:,}")


def stream_length(text: str) -> int:
    """Tokens per stream: 1 to MAX_STREAM (the spec's train.stream_length bound)."""
    return _number(int, text, lambda v: 0 < v <= MAX_STREAM, f"an integer from 1 to {MAX_STREAM:,}")


def windows(text: str) -> int:
    """Windows per call under --stream: 1 to MAX_WINDOWS (the spec's train.bptt_windows)."""
    return _number(
        int, text, lambda v: 0 < v <= MAX_WINDOWS, f"an integer from 1 to {MAX_WINDOWS:,}"
    )


def context(text: str) -> int:
    """Tokens per sequence: 1 to MAX_CONTEXT (the spec's model.context bound)."""
    return _number(
        int, text, lambda v: 0 < v <= MAX_CONTEXT, f"an integer from 1 to {MAX_CONTEXT:,}"
    )


def seed(text: str) -> int:
    return _number(int, text, lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED:,}")


def positive_float(text: str) -> float:
    return _number(
        float,
        text,
        lambda v: v > 0 and in_float32(v),
        f"a number > 0 that float32 holds ({FLOAT32_SPAN})",
    )


def nonnegative_float(text: str) -> float:
    return _number(
        float,
        text,
        lambda v: v >= 0 and in_float32(v),
        f"0 or a number that float32 holds ({FLOAT32_SPAN})",
    )


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
    ("--stream-length", {"type": stream_length, "help": "cut the text into streams of N tokens "
     "(default: the documents of a JSONL file or folder, else 16384)"}, "STREAM_LENGTH"),
    ("--bptt-windows", {"type": windows, "help": "under --stream: windows per call, the "
     "graph kept across them (truncated backpropagation over K windows)"}, "BPTT_WINDOWS"),
    ("--loss-on", {"choices": ["answers", "all"], "help": "a task file: the loss on the answer "
     "tokens (default) or on every token"}, None),
    ("--steps", {"type": steps, "help": "optimizer steps in all"}, "STEPS"),
    ("--stop-after", {"type": steps, "help": "stop after N steps (checkpoint)"}, None),
    ("--batch-size", {"type": batch, "help": "sequences per process per micro-step"},
     "BATCH_SIZE"),
    ("--accumulate", {"type": batch, "help": "micro-steps per optimizer step"},
     "ACCUMULATE"),
    ("--context", {"type": context, "help": "tokens per sequence (default: the spec's)"},
     None),
    ("--lr", {"type": positive_float, "help": "peak learning rate"}, "LR"),
    ("--warmup", {"type": step_count, "help": "warm-up steps"}, "WARMUP"),
    ("--grad-clip", {"type": nonnegative_float, "help": "gradient norm clip (0: none)"},
     "GRAD_CLIP"),
    ("--eval-every", {"type": steps, "help": "steps between evaluations"}, "EVAL_EVERY"),
    ("--eval-iters", {"type": batch, "help": "validation batches per evaluation"}, 4),
    ("--ckpt-every", {"type": steps, "help": "default: at every evaluation"}, None),
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
    ("--seed", {"type": seed, "help": "random seed"}, "SEED"),
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
