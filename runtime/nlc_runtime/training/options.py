"""The emitted train.py's command line: the shared option table (`flags.TRAIN_FLAGS`, which
`nlc train` parses too, so the two cannot drift) with the spec's constants as its defaults,
and the few options only the script has (--out, --resume, --compile, --recompute)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from nlc_runtime.training.flags import Parser, add_training_flags

# the constants of train.py that are defaults of the table's flags (flags.TRAIN_FLAGS names them)
SPEC_CONSTANTS = ("STEPS", "BATCH_SIZE", "ACCUMULATE", "LR", "WARMUP", "GRAD_CLIP", "EVAL_EVERY",
                  "SEED", "STREAM", "STREAM_LENGTH", "BPTT_WINDOWS")  # fmt: skip


def build_parser(constants: dict, description: str | None, out: Path) -> Parser:
    """The parser of a train.py whose spec constants are `constants` (its module globals will
    do), whose docstring is `description` and whose default run folder is `out`."""
    first = (description or "").strip().splitlines()[:1]  # python -OO: no docstrings
    parser = Parser(description=first[0] if first else None)  # one-line errors, exit 2
    defaults = {name: constants[name] for name in SPEC_CONSTANTS}
    defaults["DEVICE"] = "cuda" if torch.cuda.is_available() else "cpu"
    add_training_flags(parser, defaults)
    add = parser.add_argument
    add("--out", default=str(out), help="run folder")
    add("--resume", action="store_true", help="continue from OUT/ckpt")
    add(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the model (default: on for CUDA)",
    )
    add(
        "--recompute",
        action="store_true",
        help="activation checkpointing: recompute each block in backward (less memory)",
    )
    return parser


def parse_args(
    argv: list[str] | None, constants: dict, description: str | None, out: Path, lm_signal: bool
) -> argparse.Namespace:
    """Parse train.py's command line (None: sys.argv); a bad value is one line and exit 2.
    `lm_signal`: the model learns in context from the LM loss (`Model.uses_targets`)."""
    parser = build_parser(constants, description, out)
    args = parser.parse_args(argv)
    if lm_signal and args.parallel == "fsdp":
        # the LM signal's teach is a backward pass inside the forward, and FSDP2's backward
        # hooks reshard the weights the rest of the forward still needs
        parser.error("--parallel fsdp does not support the CMS signal lm yet (use ddp)")
    return args
