"""Subcommands of `nlc` for training, sampling, export, evaluation and comparison (`train`,
`generate`, `export`, `eval`, `compare`).

`add_commands(sub)` registers them on the main parser; torch is imported only inside the
command functions, so `nlc --help` and `nlc check` stay fast.
"""

from __future__ import annotations

import argparse


def _cmd_train(args) -> int:
    from nlc.train.run import train_command

    return train_command(args)


def _cmd_generate(args) -> int:
    from nlc.train.generate import generate_command

    return generate_command(args)


def _cmd_eval(args) -> int:
    from nlc.train.evaluate import eval_command

    return eval_command(args)


def _cmd_export(args) -> int:
    from nlc.train.export import export_command

    return export_command(args)


def _cmd_compare(args) -> int:
    from nlc.train.compare import compare_command

    return compare_command(args)


def add_commands(sub) -> None:
    """Register the training subcommands on an argparse subparsers object."""
    from nlc_runtime.training import flags

    p = sub.add_parser(
        "train",
        help="compile a spec and train it (bundled corpus by default)",
        description="Compile SPEC into RUN/code and train it; metrics, checkpoints, the loss "
        "plot and levels.svg go to RUN.",
    )
    p.add_argument("spec", nargs="?", help="the model spec (YAML); not needed with --resume")
    p.add_argument("-o", "--out", default=None, help="run folder (default: runs/SPEC_NAME)")
    p.add_argument("--resume", metavar="RUN", default=None, help="continue the run in RUN")
    p.add_argument("--nproc", type=int, default=1, help="processes (torchrun + DDP); 1: none")
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="torch.compile the model (default: on for CUDA)",
    )
    p.add_argument(
        "--recompute",
        action="store_true",
        default=None,
        help="activation checkpointing: recompute each block in backward (less memory)",
    )
    from nlc_runtime.training.flags import add_training_flags

    from nlc.presets import add_set_option

    add_training_flags(p, None)  # the emitted train.py's own table: checked before any write
    add_set_option(p)
    p.set_defaults(fn=_cmd_train)

    from nlc import limits

    p = sub.add_parser("generate", help="sample text from a trained run")
    p.add_argument("run", help="a run folder written by `nlc train`")
    p.add_argument(
        "--prompt",
        default="\n",
        help=f"text to continue (at most {limits.MAX_PROMPT_CHARS:,} characters)",
    )
    p.add_argument(
        "--tokens",
        type=int,
        default=200,
        help=f"tokens to sample (1 to {limits.MAX_SAMPLE_TOKENS:,})",
    )
    p.add_argument(
        "--temperature",
        type=flags.positive_float,
        default=0.8,
        help="{:g} to {:g} (default 0.8)".format(*limits.TEMPERATURE),
    )
    p.add_argument("--top-k", type=flags.count, default=40, help="0: the whole vocabulary")
    p.add_argument("--seed", type=int, default=0, help="0 to 2**64 - 1 (default 0)")
    p.add_argument("--device", type=flags.present_device, default="cpu")
    p.set_defaults(fn=_cmd_generate)

    p = sub.add_parser(
        "export",
        help="write a trained run as files plain PyTorch loads (weights, config, model.py)",
        description="Write RUN's latest weights as DIR/model.safetensors with config.json, "
        "model.py, sample.py, spec.yaml and the tokenizer: `from model import Model` and "
        "safetensors' load_file give the trained model with only nlc_runtime installed.",
    )
    p.add_argument("run", help="a run folder written by `nlc train`")
    p.add_argument(
        "-o",
        "--out",
        required=True,
        help="folder to write (created if missing; not inside RUN; new, empty or an export)",
    )
    p.add_argument("--force", action="store_true", help="replace an earlier export in DIR")
    p.set_defaults(fn=_cmd_export)

    p = sub.add_parser(
        "eval",
        help="the loss of a trained run over every token of a text (no sampling)",
        description="Score every token of a text with the latest checkpoint of RUN: loss, "
        "perplexity, bits per token and per byte. Windows of the model's context by default; "
        "--stream feeds the text as one sequence and reports the loss by position; --task "
        "scores a recall task. Results are kept in RUN/eval/NAME.json (nlc compare reads them).",
    )
    p.add_argument("run", help="a run folder written by `nlc train`")
    p.add_argument(
        "--data",
        metavar="PATH",
        default=None,
        help="text file, folder, glob, .jsonl, uint16 .bin or a datasets folder "
        "(default: the bundled corpus, see --split)",
    )
    p.add_argument(
        "--split",
        choices=("val", "all"),
        default=None,
        help="val: the held-out tail `nlc train` used (the default for the run's own data), "
        "all: the whole text (the default for --data)",
    )
    p.add_argument(
        "--task",
        metavar="TASK",
        default=None,
        help="score a recall task instead: passkey, mqar or niah (generated with `nlc data "
        "make`'s defaults) or a task file; accuracy by distance (niah: by length and depth), "
        "table and PNG",
    )
    p.add_argument(
        "--n",
        metavar="N",
        default=None,
        help="task: examples per setting of a generated task (niah: per cell; default 20)",
    )
    p.add_argument(
        "--seed", metavar="S", default=None, help="task: seed of a generated task (default 0)"
    )
    p.add_argument(
        "--lengths",
        metavar="M,M",
        default=None,
        help="niah: total lengths as multiples of the run's context (default 1,2,4,8,16)",
    )
    p.add_argument(
        "--depths",
        metavar="D,D",
        default=None,
        help="niah: needle depths in percent of the haystack (default 0,25,50,75,100)",
    )
    p.add_argument(
        "--needle",
        metavar="KIND",
        default=None,
        help="niah: passkey (default; five digits), number (seven digits) or word",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="one sequence, state carried between pieces; loss by position and a plot",
    )
    p.add_argument(
        "--frozen-cms",
        action="store_true",
        help="every CMS level keeps the weights each sequence starts with (its in-context "
        "steps at lr 0): against the same command without it, what the CMS learns in context",
    )
    p.add_argument(
        "--piece",
        type=int,
        metavar="N",
        default=None,
        help=f"stream and task: tokens per call (default: context); at most {limits.MAX_PIECE:,}",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        default=None,
        help=f"windows (or task examples) per call (default 8); at most {limits.MAX_BATCH:,}",
    )
    p.add_argument(
        "--max-tokens",
        type=int,
        metavar="N",
        default=None,
        help=f"score only the first N predicted tokens; at most {limits.MAX_EVAL_TOKENS:,}",
    )
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.add_argument(
        "--png",
        metavar="PATH",
        default=None,
        help="stream: the plot (default: RUN/stream.png); task: default RUN/eval/task-NAME.png",
    )
    p.add_argument(
        "--device", type=flags.present_device, default="cpu", help="cpu (default), cuda, cuda:1"
    )
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.set_defaults(fn=_cmd_eval)

    p = sub.add_parser(
        "compare",
        help="runs side by side: one table and the loss curves against tokens and time",
        description="One table of RUNs (parameters, tokens, training time, tokens/s, best and "
        "final validation loss, the loss at the shortest run's time, the results `nlc eval` "
        "saved in RUN/eval) and one PNG of the loss curves against tokens and against time.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders written by `nlc train`")
    p.add_argument("--png", default="compare.png", help="the plot (default: compare.png)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    p.set_defaults(fn=_cmd_compare)
