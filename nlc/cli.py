"""The `nlc` command line. Bad input prints `FILE:LINE: field.path: message` and exits 2.

The front half (check, levels, dump-ir, schema) never imports torch, so it stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from nlc import __version__
from nlc.errors import SpecError


def _cmd_check(args) -> int:
    from pathlib import Path

    from nlc.codegen.emit import render
    from nlc.pipeline import run_front
    from nlc.report import check_json, check_summary

    result = run_front(args.spec, check=True, overrides=args.set)
    # what the code generator refuses, check refuses too, with the same message (the emitted
    # text is dropped: nothing is written)
    render(result, Path(args.spec).name)
    if args.json:
        print(json.dumps(check_json(result), indent=2))
    else:
        print(check_summary(result))
    return 0


def _cmd_levels(args) -> int:
    from nlc.pipeline import run_front
    from nlc.report import levels_json, levels_table

    result = run_front(args.spec, overrides=args.set)
    if args.json:
        print(json.dumps(levels_json(result), indent=2))
    else:
        graph = result.collapsed if args.collapsed else result.full
        title = "collapsed levels" if args.collapsed else "levels"
        print(f"{graph.name}: {title} (1 = fastest)")
        print(levels_table(graph))
    return 0


def _cmd_dump_ir(args) -> int:
    from nlc.ir.printer import print_graph
    from nlc.pipeline import run_until

    sys.stdout.write(print_graph(run_until(args.spec, args.after, check=True, overrides=args.set)))
    return 0


def _cmd_plan(args) -> int:
    from nlc.passes.plan_schedule import plan_schedule
    from nlc.pipeline import run_front
    from nlc.plan_text import render_plan

    result = run_front(args.spec, overrides=args.set)
    plan = plan_schedule(result.collapsed)
    if args.json:  # with the emitted loop nest (over the full graph's components)
        from nlc.codegen.context import program_plan

        print(json.dumps(program_plan(result.full, plan).to_json(), indent=2))
    else:
        print(render_plan(plan))
    return 0


def _output_folder(out: str) -> str | None:
    """Why `out` cannot be the folder compile writes into, or None."""
    from pathlib import Path

    if not out.strip():
        return "-o: give a folder to write into"
    path = Path(out)
    for p in [path, *path.parents]:
        if p.exists() and not p.is_dir():
            return f"{p}: exists and is not a folder (-o names the folder to write into)"
    return None


def _cmd_compile(args) -> int:
    from nlc.codegen.emit import compile_spec

    problem = _output_folder(args.out)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    for path in compile_spec(args.spec, args.out, args.set):
        print(path)
    return 0


def _cmd_schema(args) -> int:
    if args.path:  # for an editor's settings: the file shipped in the package
        from nlc.resources import schema_file

        print(schema_file())
        return 0
    from nlc.spec.schema_file import schema_text

    sys.stdout.write(schema_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from nlc_runtime.training.flags import Parser

    from nlc.pipeline import PASS_NAMES

    parser = Parser(
        prog="nlc",
        description="Declarative graph compiler for multi-timescale (Nested Learning) models.",
    )
    parser.add_argument("--version", action="version", version=f"nlc {__version__}")
    from nlc.presets import add_set_option

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("check", help="validate a spec and print a one-screen summary")
    p.add_argument("spec", help="the model spec (YAML)")
    p.add_argument("--json", action="store_true", help="the counts and levels as JSON")
    add_set_option(p)
    p.set_defaults(fn=_cmd_check)

    p = sub.add_parser("levels", help="print the levels (frequency classes) of a spec")
    p.add_argument("spec")
    p.add_argument("--json", action="store_true", help="levels, order and collapsed levels as JSON")
    p.add_argument("--collapsed", action="store_true", help="show the levels after collapse")
    add_set_option(p)
    p.set_defaults(fn=_cmd_levels)

    p = sub.add_parser("dump-ir", help="print the IR as deterministic text")
    p.add_argument("spec")
    p.add_argument(
        "--after", choices=PASS_NAMES, default="assign_levels", help="stop after this pass"
    )
    add_set_option(p)
    p.set_defaults(fn=_cmd_dump_ir)

    p = sub.add_parser("plan", help="print the nested update loops (the schedule)")
    p.add_argument("spec")
    p.add_argument("--json", action="store_true", help="the plan as JSON")
    add_set_option(p)
    p.set_defaults(fn=_cmd_plan)

    p = sub.add_parser("compile", help="emit model.py, train.py and spec.yaml into a folder")
    p.add_argument("spec")
    p.add_argument("-o", "--out", required=True, help="output folder (created if missing)")
    add_set_option(p)
    p.set_defaults(fn=_cmd_compile)

    p = sub.add_parser("schema", help="print the JSON Schema of the spec language")
    p.add_argument(
        "--path",
        action="store_true",
        help="print where the installed schema file is (for an editor's YAML settings)",
    )
    p.set_defaults(fn=_cmd_schema)

    from nlc.recall.cli import add_commands as add_bench_commands
    from nlc.tasks.cli import add_commands as add_task_commands
    from nlc.train.cli import add_commands as add_training_commands
    from nlc.verify.cli import add_commands as add_verification_commands
    from nlc.viz.cli import add_commands as add_drawing_commands

    add_drawing_commands(sub)
    add_training_commands(sub)
    add_task_commands(sub)
    add_verification_commands(sub)
    add_bench_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from nlc.presets import resolve

    args = build_parser().parse_args(argv)
    if isinstance(getattr(args, "spec", None), str):  # a preset name: `nlc levels hope`
        args.spec = resolve(args.spec)
    try:
        return args.fn(args)
    except SpecError as err:
        for diag in err.diagnostics:  # each on one line, whatever text the input put in it
            text = str(diag)
            print("".join(c if c.isprintable() else ascii(c)[1:-1] for c in text), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nlc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in nlc, not bad input: say so plainly
        if os.environ.get("NLC_DEBUG"):
            traceback.print_exc()
        print(
            f"nlc: internal error: {type(exc).__name__}: {exc} (set NLC_DEBUG=1 for details)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
