"""`nlc data make TASK -o FILE`: write a recall task's examples as a task file (JSONL).

Every task's options are flags of `make` (`--distances` for passkey, `--vocab`, `--seq-len`,
`--pairs`, `--alpha`, `--gaps` for mqar); one the chosen task does not take is refused. Values
are parsed here rather than by argparse, so that a bad one is one line naming the flag and
exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROG = "nlc data make"


def _parse(flag: str, kind: str, text: str):
    if kind == "str":
        return text
    try:
        if kind == "ints":
            values = [int(v) for v in text.split(",") if v.strip()]
            if not values:
                raise ValueError
            return values
        return float(text) if kind == "float" else int(text)
    except ValueError:
        what = {"ints": "comma-separated integers", "float": "a number"}.get(kind, "an integer")
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise ValueError(f"{flag}: expected {what} (got {shown!r})") from None


def _cmd_make(args) -> int:
    from nlc.files import WriteError, check_target
    from nlc.limits import LimitError
    from nlc.tasks import TASKS
    from nlc.tasks.taskfile import TASK_FILE_START, TaskError, write_task_file

    try:
        if args.task not in TASKS:
            raise TaskError(f"unknown task {args.task!r} (tasks: {', '.join(TASKS)})")
        module = TASKS[args.task]
        options = {}
        for name, (kind, _, _) in all_options().items():
            text = getattr(args, name)
            if text is None:
                continue
            flag = "--" + name.replace("_", "-")
            if name not in module.OPTIONS:
                raise TaskError(f"{flag} is not an option of {args.task}")
            options[name] = _parse(flag, kind, text)
        # the target checked before any work; the generator checks the options and their
        # bounds (`nlc.limits`: each size, and the task's in all) before it generates
        check_target(args.out, replaces=TASK_FILE_START)
        examples = module.generate(args.seed, args.n, **options)
        out = write_task_file(examples, Path(args.out))
    except (TaskError, ValueError, LimitError, WriteError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    answers = sum(len(e.answers) for e in examples)
    longest = max(e.length for e in examples)
    unit = "characters" if examples[0].tokens is None else "tokens"
    print(
        f"{out}: {len(examples)} {args.task} examples, {answers} answers, "
        f"up to {longest:,} {unit} (seed {args.seed})"
    )
    return 0


def all_options() -> dict:
    from nlc.tasks import TASKS

    options = {}
    for module in TASKS.values():
        options.update(module.OPTIONS)
    return options


def add_commands(sub) -> None:
    """Register `nlc data make` on the main parser's subcommands."""
    from nlc.limits import MAX_TASK_SIZE, TASK_BOUNDS, bounds_help
    from nlc.tasks import TASKS

    data = sub.add_parser("data", help="make data: recall task files")
    verbs = data.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    p = verbs.add_parser(
        "make",
        help="write a recall task as JSONL (nlc eval --task FILE; nlc train --data FILE)",
        description="Write a recall task's examples, one JSON object per line: the text (what "
        "`nlc train --data` reads) and the answer spans `nlc eval --task` scores. The same "
        f"seed writes the same file. Every size has a bound (in its help); a task holds at "
        f"most {MAX_TASK_SIZE:,} characters (tokens) in all. FILE is a regular file: an "
        "earlier task file is replaced, any other file, a folder or a device is refused.",
    )
    p.add_argument("task", help=f"the task: {', '.join(TASKS)}")
    p.add_argument("-o", "--out", required=True, metavar="FILE", help="the task file to write")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument(
        "--n",
        type=int,
        default=20,
        help=f"examples per distance / gap / niah cell (default 20; {bounds_help('n')})",
    )
    for name, (kind, default, text) in all_options().items():
        shown = ",".join(map(str, default)) if kind == "ints" else default
        owner = [t for t, m in TASKS.items() if name in m.OPTIONS]
        bound = f"; {bounds_help(name)}" if name in TASK_BOUNDS else ""
        p.add_argument(
            "--" + name.replace("_", "-"),
            default=None,
            help=f"{'/'.join(owner)}: {text} (default {shown}{bound})",
        )
    p.set_defaults(fn=_cmd_make)
