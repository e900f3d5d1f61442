"""Where `nlc eval` keeps what it measured: RUN/eval/NAME.json, one file per kind of
evaluation, rewritten when it is run again; `nlc compare` reads them back.

NAME says what was scored: `val` (windows over the run's validation split), `all`, or the
stem of a `--data` file; `stream-` in front for `--stream`; `-first N` after it for
`--max-tokens N`; `task-passkey` / `task-STEM` for a task (its PNG beside it).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

FOLDER = "eval"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "data"


def result_name(args) -> str:
    """The file name (without .json) for an evaluation given these `nlc eval` options."""
    if getattr(args, "task", None):
        from nlc.tasks import TASKS

        return "task-" + _slug(args.task if args.task in TASKS else Path(args.task).stem)
    if args.data is not None:
        source = _slug(Path(args.data).stem)
        source += "-val" if args.split == "val" else ""
    else:
        source = args.split or "val"
    name = ("stream-" if args.stream else "") + source
    if args.max_tokens is not None:
        name += f"-first{args.max_tokens}"
    return name


def save_result(run: Path, name: str, report: dict) -> Path | None:
    """Write RUN/eval/NAME.json atomically; a read-only run folder only loses the copy (the
    result is printed anyway), so a failure is a warning, not an error."""
    out = run / FOLDER / f"{name}.json"
    try:
        out.parent.mkdir(exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, out)
    except OSError:
        return None
    return out


def read_results(run: Path) -> dict[str, dict]:
    """NAME -> report of every readable RUN/eval/*.json, sorted by name."""
    found = {}
    for path in sorted((run / FOLDER).glob("*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(report, dict):
            found[path.stem] = report
    return found
