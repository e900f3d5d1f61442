"""`nlc bench recall [SPEC...] [--full] [--out DIR] [--minutes M] [--json] [--quick]`: train
each spec on MQAR and report recall by sequence length, pairs and distance (table, JSON, PNG).

With no SPEC the default set runs (full attention, window-32 attention, window-32 attention +
Titans memory, Gated DeltaNet); --full adds titans-mac and hope at the bench's width. Each spec
trains for --minutes (default 5) and is then scored: the default set took 20.4 minutes on 2 CPU
cores, titans-mac and hope 10.3 more (--full: about 31). Bad input is one line on stderr and
exit code 2, before anything is trained."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

PROG = "nlc bench recall"


def _cmd_recall(args) -> int:
    from nlc.files import PNG, WriteError, check_target
    from nlc.recall import data, report, score, settings
    from nlc.recall.train import BenchError, spec_label, spec_path, train_spec

    try:
        s = settings.quick() if args.quick else settings.Settings()
        if args.minutes is not None:
            if not (math.isfinite(args.minutes) and args.minutes > 0):
                raise BenchError(f"--minutes: expected a positive number (got {args.minutes:g})")
            s = replace(s, minutes=args.minutes)
        if args.steps is not None:
            if args.steps <= 0:
                raise BenchError(f"--steps: expected a positive integer (got {args.steps})")
            s = replace(s, steps=args.steps)
        names = list(args.specs) or list(settings.DEFAULT_SPECS)
        if args.full:
            names += [n for n in settings.FULL_SPECS if n not in names]
        specs = [(spec_label(n), spec_path(n)) for n in names]
        labels = [label for label, _ in specs]
        if len(set(labels)) != len(labels):
            raise BenchError(f"a spec named twice: {', '.join(labels)}")
        out = Path(args.out)
        for name in ("recall.json", "recall.png"):  # before hours of training
            check_target(out / name, replaces=b"{" if name.endswith("json") else PNG)
        (out / "data").mkdir(parents=True, exist_ok=True)
    except (BenchError, WriteError) as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{PROG}: error: {args.out}: cannot make: {err.strerror or err}", file=sys.stderr)
        return 2
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    say(f"{len(specs)} specs, up to {s.minutes:g} min of training each, then scored: about "
        f"{len(specs) * (s.minutes + 0.8):.0f} min in all")  # fmt: skip
    start = time.monotonic()
    train_file = data.write_train_file(s, out / "data")
    tests = {c.label: data.write_test_file(s, c, out / "data") for c in s.cells}
    results = []
    for label, path in specs:
        say(f"{label}: training (up to {s.steps} steps or {s.minutes:g} min) ...")
        try:
            trained = train_spec(path, train_file, out / "runs" / label, s, s.minutes)
        except BenchError as err:
            print(f"{PROG}: error: {err}", file=sys.stderr)
            return 1
        scores = score.score_run(trained.run, tests)
        say(f"{label}: {trained.steps} steps in {trained.seconds / 60:.1f} min, "
            f"accuracy {100 * scores['accuracy']:.1f}%")  # fmt: skip
        results.append({"spec": label, "file": str(path), "steps": trained.steps,
                        "train_seconds": round(trained.seconds, 1),
                        "stopped_at_time_cap": trained.stopped_early,
                        "final_loss": trained.final_loss, **scores})  # fmt: skip
    result = {
        "task": "mqar",
        "settings": s.as_dict(),
        "chance": 2 / s.vocab,  # one of the vocab / 2 values
        "results": results,
        "total_seconds": round(time.monotonic() - start, 1),
        "png": str(out / "recall.png"),
        "json": str(out / "recall.json"),
    }
    report.write_plot(result, s.cells, out / "recall.png")
    report.write_json(result, out / "recall.json")
    print(json.dumps(result, indent=2) if args.json else report.render_table(result))
    return 0


def add_commands(sub) -> None:
    """Register `nlc bench recall` on the main parser's subcommands."""
    bench = sub.add_parser("bench", help="benchmarks: recall (MQAR) of a set of specs")
    verbs = bench.add_subparsers(dest="verb", metavar="BENCH")
    verbs.required = True
    p = verbs.add_parser(
        "recall",
        help="train specs on MQAR and report recall by length, pairs and distance",
        description=__doc__.split("\n\n")[1].replace("\n", " "),
    )
    p.add_argument("specs", nargs="*", metavar="SPEC", help="spec files or shipped names")
    p.add_argument("--full", action="store_true", help="add titans-mac and hope")
    p.add_argument("--out", default="runs/recall", metavar="DIR", help="default runs/recall")
    p.add_argument("--minutes", type=float, default=None,
                   help="training time cap per spec (default 5)")  # fmt: skip
    p.add_argument("--steps", type=int, default=None, help="training steps per spec")
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    p.add_argument("--quick", action="store_true", help="2 steps per spec on tiny data (a test)")
    p.set_defaults(fn=_cmd_recall)
